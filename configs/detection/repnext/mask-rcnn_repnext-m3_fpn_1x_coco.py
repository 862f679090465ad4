# RepNeXt-M3 + Mask R-CNN FPN 1x on COCO (RepNeXt, arXiv 2406.16004; official detection/configs/
# mask_rcnn_repnext_m3_fpn_1x_coco.py, mmdet 2.28.2). README: 40.8 box AP / 37.8 mask AP.
_base_ = [
    '../_base_/models/mask-rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/adamw_1x.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='repnext_m3',  # no stochastic depth in RepNeXt
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/repnext_m3_distill_300e.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
# AdamW lr 2e-4, weight decay 0.05, warm-up ratio 1e-6 (schedules/adamw_1x.py); 8 GPUs x 2 images (logs).
train_dataloader = dict(batch_size=2)
