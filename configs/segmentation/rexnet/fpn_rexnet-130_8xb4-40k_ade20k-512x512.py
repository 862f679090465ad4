# OURS (not in the ReXNet paper): ReXNet-1.3 + Semantic FPN on ADE20K 512x512, 40k, with RapidNet's Semantic FPN
# recipe, so that ReXNet sits next to RepNeXt-M3 in size (widths with released ImageNet weights only).
_base_ = [
    '../_base_/models/fpn.py', '../_base_/datasets/ade20k_align.py',
    '../_base_/schedules/adamw_poly_40k.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='rexnet_130',  # timm's features start at stride 2; out_strides picks 4..32
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/rexnetv1_1.3.pth')),
    neck=dict(in_channels=[50, 79, 167, 240]))
train_dataloader = dict(batch_size=4)  # 8 GPUs x 4 images
