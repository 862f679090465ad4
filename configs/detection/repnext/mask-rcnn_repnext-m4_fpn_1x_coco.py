# RepNeXt-M4 + Mask R-CNN FPN 1x on COCO; recipe as M3. README: 42.9 box AP / 39.1 mask AP.
_base_ = './mask-rcnn_repnext-m3_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='repnext_m4',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/repnext_m4_distill_300e.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
