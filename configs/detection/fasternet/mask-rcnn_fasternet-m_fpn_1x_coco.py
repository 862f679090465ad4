# FasterNet-M + Mask R-CNN FPN 1x on COCO; recipe as S with lr 1e-4, drop path 0.2. README: 43.0 / 39.1.
_base_ = './mask-rcnn_fasternet-s_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='fasternet_m',
        model_kwargs=dict(output_norms=True, drop_path_rate=0.2),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/fasternet_m-epoch=291-val_acc1=82.9620.pth')),
    neck=dict(in_channels=[144, 288, 576, 1152]))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
