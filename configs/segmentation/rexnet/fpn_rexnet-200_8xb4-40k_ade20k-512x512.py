# OURS (not in the paper): ReXNet-2.0 + Semantic FPN on ADE20K, 40k; recipe as ReXNet-1.3.
_base_ = './fpn_rexnet-130_8xb4-40k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='rexnet_200',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/rexnetv1_2.0.pth')),
    neck=dict(in_channels=[77, 122, 257, 370]))
