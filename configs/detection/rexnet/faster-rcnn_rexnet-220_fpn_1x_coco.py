# ReXNet-2.2 + Faster R-CNN FPN on COCO; recipe as ReXNet-1.0. README: 41.5 box AP. No released ImageNet weights.
_base_ = './faster-rcnn_rexnet-100_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='rexnet_220',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/rexnet_220.pth')),
    neck=dict(in_channels=[85, 134, 283, 406]))
