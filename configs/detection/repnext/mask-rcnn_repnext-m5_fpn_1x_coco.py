# RepNeXt-M5 + Mask R-CNN FPN 1x on COCO; recipe as M3. README: 44.7 box AP / 40.7 mask AP.
_base_ = './mask-rcnn_repnext-m3_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='repnext_m5',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/repnext_m5_distill_300e.pth')),
    neck=dict(in_channels=[80, 160, 320, 640]))
