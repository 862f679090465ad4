# A CPU-sized Semantic FPN on the synthetic ADE20K-layout set of tools/make_synthetic.py (background + 3 shapes,
# 128x128): the smoke / overfit config of tests/test_segmentation.py.
#   python tools/make_synthetic.py --tasks seg && python segmentation/train.py <this file>
# Data root: $SYNTHETIC_DATA (default data/synthetic). Label 0 is unused and label 1 is background, so
# reduce_zero_label maps the classes to 0..3 exactly as ADE20K's 1..150 map to 0..149.
_base_ = ['../_base_/models/fpn.py', '../_base_/schedules/iter_loops.py', '../_base_/default_runtime.py']
data_root = '{{$SYNTHETIC_DATA:data/synthetic}}/ade/ADEChallengeData2016'
metainfo = dict(classes=('background', 'circle', 'square', 'triangle'),
                palette=[[120, 120, 120], [220, 20, 60], [0, 128, 0], [0, 0, 142]])
model = dict(
    data_preprocessor=dict(size=(128, 128)),
    backbone=dict(model_name='fasternet_t0', norm_cfg=dict(type='BN', requires_grad=True)),
    neck=dict(in_channels=[40, 80, 160, 320], out_channels=64),
    decode_head=dict(in_channels=[64, 64, 64, 64], channels=64, num_classes=4,
                     norm_cfg=dict(type='BN', requires_grad=True)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.jpg',
               seg_map_suffix='.png', reduce_zero_label=True)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**dataset, data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**dataset, data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
img_ratios = [0.75, 1.0, 1.25]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations', reduce_zero_label=True)],
        [dict(type='PackSegInputs')]]),
]

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters, by_epoch=False)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=100))
randomness = dict(seed=0)
