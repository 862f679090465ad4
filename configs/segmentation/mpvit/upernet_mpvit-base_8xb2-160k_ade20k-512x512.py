# MPViT-B + UperNet on ADE20K, 160k (official upernet_mpvit_base_160k_ade20k.py). README: 50.3 mIoU (50.26).
_base_ = './upernet_mpvit-small_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='mpvit_base',
        model_kwargs=dict(drop_path_rate=0.4),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mpvit_base.pth')),
    decode_head=dict(in_channels=[224, 368, 480, 480]),
    auxiliary_head=dict(in_channels=480))
