# MPViT-B + Mask R-CNN FPN 1x on COCO (official detectron2/configs/maskrcnn/mask_rcnn_mpvit_base_1x.yaml).
# README: 48.2 / 43.5 box AP / mask AP. Recipe as MPViT-T; drop path 0.4.
_base_ = './mask-rcnn_mpvit-tiny_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='mpvit_base',
        model_kwargs=dict(drop_path_rate=0.4),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/mpvit_base.pth')),
    neck=dict(in_channels=[224, 368, 480, 480]))
