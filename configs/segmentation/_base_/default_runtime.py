# Runtime shared by every segmentation config: mmseg's logging and visualiser, SegTTAModel for --tta, plus the
# import that registers TimmFeatureBackbone. (Self-contained bases: `mmseg::` inheritance makes mmengine parse
# every metafile of the installed mmseg on each load.)
default_scope = 'mmseg'
custom_imports = dict(imports=['models.mm'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
tta_model = dict(type='SegTTAModel')
