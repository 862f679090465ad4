# RepNeXt-M4 + Semantic FPN on ADE20K, 80k; recipe as M3. README: 43.3 mIoU (log: 43.26).
_base_ = './fpn_repnext-m3_4xb4-80k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='repnext_m4',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/repnext_m4_distill_300e.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
