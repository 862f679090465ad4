# MPViT-S + Mask R-CNN FPN 1x on COCO (official detectron2/configs/maskrcnn/mask_rcnn_mpvit_small_1x.yaml).
# README: 46.4 / 42.4 box AP / mask AP. Recipe as MPViT-T; drop path 0.2.
_base_ = './mask-rcnn_mpvit-tiny_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='mpvit_small',
        model_kwargs=dict(drop_path_rate=0.2),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mpvit_small.pth')),
    neck=dict(in_channels=[128, 216, 288, 288]))
