# RapidNet-M + Mask R-CNN FPN 1x on COCO (RapidNet, WACV 2025; official detection/configs/
# mask_rcnn_rapidnet_m_fpn_1x_coco.py, mmdet 2.28).
_base_ = [
    '../_base_/models/mask-rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/adamw_1x.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='rapidnet_m',
        model_kwargs=dict(drop_path_rate=0.1),  # the official dense backbone keeps stochastic depth 0.1
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/RapidNet_M.pth')),
    neck=dict(in_channels=[32, 64, 160, 320]))
# AdamW lr 2e-4, weight decay 0.05, warm-up ratio 1e-6 (schedules/adamw_1x.py); samples_per_gpu=1 in the
# official data config (the README example trains on 2 GPUs; the paper follows PVT/PoolFormer's 8 GPUs).
train_dataloader = dict(batch_size=1)
auto_scale_lr = dict(base_batch_size=8)
