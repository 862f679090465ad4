# OURS (not in the FasterNet paper): FasterNet-T1 + Semantic FPN on ADE20K 512x512, 40k, with RapidNet's
# Semantic FPN recipe, so that FasterNet sits next to RepNeXt-M3 / RapidNet in size. Backbone as the official
# FasterNet detection backbone (output norms), ImageNet drop-path rate.
_base_ = [
    '../_base_/models/fpn.py', '../_base_/datasets/ade20k_align.py',
    '../_base_/schedules/adamw_poly_40k.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='fasternet_t1',
        model_kwargs=dict(output_norms=True, drop_path_rate=0.02),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/fasternet_t1-epoch=291-val_acc1=76.2180.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
train_dataloader = dict(batch_size=4)  # 8 GPUs x 4 images
