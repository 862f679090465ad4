# OURS (no official config or result): MPViT-T + UperNet on ADE20K, 160k; recipe as MPViT-S with the
# detectron2 drop-path rate of T (0.1).
_base_ = './upernet_mpvit-small_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='mpvit_tiny',
        model_kwargs=dict(drop_path_rate=0.1),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mpvit_tiny.pth')),
    decode_head=dict(in_channels=[96, 176, 216, 216]),
    auxiliary_head=dict(in_channels=216))
