# MPViT-S + UperNet on ADE20K 512x512, 160k (MPViT, CVPR 2022; official semantic_segmentation/configs/mpvit/
# upernet/upernet_mpvit_small_160k_ade20k.py, mmseg 0.11). README: 48.3 mIoU (48.25 single scale).
_base_ = [
    '../_base_/models/upernet.py', '../_base_/datasets/ade20k.py',
    '../_base_/schedules/adamw_warmup_poly_160k.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='mpvit_small',
        model_kwargs=dict(drop_path_rate=0.2),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mpvit_small.pth')),
    decode_head=dict(in_channels=[128, 216, 288, 288]),
    auxiliary_head=dict(in_channels=288))
train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images
