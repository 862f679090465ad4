# ReXNet-0.9 + Faster R-CNN FPN on COCO; recipe as ReXNet-1.0. README: 38.0 box AP. No released ImageNet weights.
_base_ = './faster-rcnn_rexnet-100_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='rexnet_090',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/rexnet_090.pth')),
    neck=dict(in_channels=[36, 56, 117, 168]))
