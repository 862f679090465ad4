# ReXNet-1.0 + Faster R-CNN FPN on COCO (README "COCO Object detection": 38.5 box AP at 1200x800). No recipe was
# released: the README's image scale, mmdet's standard 1x (SGD lr 0.02, 8 GPUs x 2 images), our backbone defaults.
_base_ = [
    '../_base_/models/faster-rcnn_fpn.py', '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/sgd_1x.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        model_name='rexnet_100',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/rexnetv1_1.0.pth')),
    neck=dict(in_channels=[38, 61, 128, 185]))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1200, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1200, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
