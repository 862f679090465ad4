# MPViT-XS + RetinaNet FPN 1x on COCO (official detectron2/configs/retinanet/retinanet_mpvit_xs_1x.yaml).
# README: 43.8 box AP. Recipe as MPViT-T; drop path 0.1.
_base_ = './retinanet_mpvit-tiny_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='mpvit_xsmall',
        model_kwargs=dict(drop_path_rate=0.1),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mpvit_xsmall.pth')),
    neck=dict(in_channels=[128, 192, 256, 256]))
