# ReXNet-2.2 + Mask R-CNN FPN on COCO; recipe as ReXNet-1.0. README: 42.0 box AP / 37.8 mask AP.
# No ImageNet weights were released for width 2.2: train from your own rexnet_220 checkpoint (init_cfg).
_base_ = './mask-rcnn_rexnet-100_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='rexnet_220',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/rexnet_220.pth')),
    neck=dict(in_channels=[85, 134, 283, 406]))
