# ReXNet-0.9 + Mask R-CNN FPN on COCO; recipe as ReXNet-1.0. README: 38.7 box AP / 35.2 mask AP.
# No ImageNet weights were released for width 0.9: train from your own rexnet_090 checkpoint (init_cfg).
_base_ = './mask-rcnn_rexnet-100_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='rexnet_090',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/rexnet_090.pth')),
    neck=dict(in_channels=[36, 56, 117, 168]))
