# OURS (no official config or result): MPViT-XS + UperNet on ADE20K, 160k; recipe as MPViT-S with the
# detectron2 drop-path rate of XS (0.1).
_base_ = './upernet_mpvit-small_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='mpvit_xsmall',
        model_kwargs=dict(drop_path_rate=0.1),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mpvit_xsmall.pth')),
    decode_head=dict(in_channels=[128, 192, 256, 256]),
    auxiliary_head=dict(in_channels=256))
