# MPViT-T + Mask R-CNN FPN 1x on COCO (MPViT, CVPR 2022; official detectron2/configs/maskrcnn/
# mask_rcnn_mpvit_tiny_1x.yaml on Base-RCNN-FPN.yaml). README: 42.2 box AP / 39.0 mask AP.
# detectron2 -> mmdet: same heads, RoIAlign (aligned, sampling 0), anchors and proposal counts; the schedule is
# iteration-based as in detectron2 (90k x 16 images).
_base_ = [
    '../_base_/models/mask-rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/d2_adamw_1x.py', '../_base_/iter_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='mpvit_tiny',
        model_kwargs=dict(drop_path_rate=0.1),  # MODEL.MPVIT.DROP_PATH
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mpvit_tiny.pth')),
    neck=dict(in_channels=[96, 176, 216, 216]))
# 8 GPUs x 2 images; detectron2 keeps images without annotations (FILTER_EMPTY_ANNOTATIONS: False).
train_dataloader = dict(batch_size=2, dataset=dict(filter_cfg=dict(filter_empty_gt=False)))
