# RepNeXt-M5 + Semantic FPN on ADE20K, 80k; recipe as M3. README: 45.0 mIoU (log: 44.96).
_base_ = './fpn_repnext-m3_4xb4-80k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='repnext_m5',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/repnext_m5_distill_300e.pth')),
    neck=dict(in_channels=[80, 160, 320, 640]))
