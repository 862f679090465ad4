# ReXNet-1.0 + Mask R-CNN FPN on COCO (ReXNet, CVPR 2021; README "COCO instance segmentation": 38.9 box AP /
# 35.4 mask AP at 1200x800). No detection code or recipe was released (clovaai/rexnet#22): the image scale is the
# README's, the rest is mmdet's standard 1x (SGD lr 0.02, 8 GPUs x 2 images) with our backbone defaults.
_base_ = [
    '../_base_/models/mask-rcnn_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/sgd_1x.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='rexnet_100',  # timm's features start at stride 2; out_strides picks 4..32
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/rexnetv1_1.0.pth')),
    neck=dict(in_channels=[38, 61, 128, 185]))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(1200, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1200, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
