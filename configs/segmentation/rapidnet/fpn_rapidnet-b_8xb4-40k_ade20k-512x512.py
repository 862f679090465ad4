# RapidNet-B + Semantic FPN on ADE20K, 40k (official fpn_rapidnet_b_ade20k_40k.py); recipe as RapidNet-M.
_base_ = './fpn_rapidnet-m_8xb4-40k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='rapidnet_b',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/RapidNet_B.pth')),
    neck=dict(in_channels=[64, 128, 224, 416]))
