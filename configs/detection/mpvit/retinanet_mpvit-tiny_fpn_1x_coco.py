# MPViT-T + RetinaNet FPN 1x on COCO (official detectron2/configs/retinanet/retinanet_mpvit_tiny_1x.yaml on
# Base-RetinaNet.yaml). README: 41.8 box AP.
_base_ = [
    '../_base_/models/retinanet_fpn.py', '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/d2_adamw_1x.py', '../_base_/iter_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='mpvit_tiny',
        model_kwargs=dict(drop_path_rate=0.1),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mpvit_tiny.pth')),
    # detectron2's LastLevelP6P7: P6 from C5, P7 from ReLU(P6)
    neck=dict(in_channels=[96, 176, 216, 216], relu_before_extra_convs=True))
train_dataloader = dict(batch_size=2, dataset=dict(filter_cfg=dict(filter_empty_gt=False)))
