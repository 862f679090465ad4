# FasterNet-S + Mask R-CNN FPN 1x on COCO (FasterNet, CVPR 2023; official detection/configs/fasternet/
# mask_rcnn_fasternet_s_fpn_1x_coco.py, mmdet 2.25). README: 39.9 box AP / 36.9 mask AP.
_base_ = [
    '../_base_/models/mask-rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/adamw_1x.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='fasternet_s',
        # the official detection backbone: a BatchNorm on every output, stochastic depth 0.15 (0.1 on ImageNet),
        # plain per-GPU BatchNorm (no SyncBN)
        model_kwargs=dict(output_norms=True, drop_path_rate=0.15),
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/fasternet_s-epoch=299-val_acc1=81.2840.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
# AdamW lr 2e-4 (S) / 1e-4 (M, L), weight decay 1e-4, warm-up ratio 1e-3; 8 GPUs x 2 images.
optim_wrapper = dict(optimizer=dict(lr=2e-4, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
train_dataloader = dict(batch_size=2)
