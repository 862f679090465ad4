# RapidNet-M + Semantic FPN on ADE20K 512x512, 40k iterations (RapidNet, WACV 2025; official segmentation/configs/
# sem_fpn/fpn_rapidnet_m_ade20k_40k.py, mmseg 0.x).
_base_ = [
    '../_base_/models/fpn.py', '../_base_/datasets/ade20k_align.py',
    '../_base_/schedules/adamw_poly_40k.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='rapidnet_m',
        model_kwargs=dict(drop_path_rate=0.1),  # the official dense backbone keeps stochastic depth 0.1
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/RapidNet_M.pth')),
    neck=dict(in_channels=[32, 64, 160, 320]))
train_dataloader = dict(batch_size=4)  # 8 GPUs x 4 images
