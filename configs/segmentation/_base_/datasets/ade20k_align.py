# ADE20K 512x512 as the RapidNet / RepNeXt (PoolFormer-derived) configs test it: a keep-ratio resize to
# (2048, 512), then AlignResize, i.e. a resize (not a pad) of each side up to a multiple of 32 -- mmseg 1.x's
# ResizeToMultiple. Training is mmseg's standard ADE20K pipeline.
_base_ = './ade20k.py'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
