# OURS (not in the paper): ReXNet-3.0 + Semantic FPN on ADE20K, 40k; recipe as ReXNet-1.3.
_base_ = './fpn_rexnet-130_8xb4-40k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='rexnet_300',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/rexnetv1_3.0.pth')),
    neck=dict(in_channels=[116, 183, 386, 554]))
