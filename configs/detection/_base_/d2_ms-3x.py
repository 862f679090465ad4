# detectron2's "MS 3x" recipe of MPViT's configs, as variables only (no config keys), so that a 3x row can take
# them next to its 1x row without duplicate keys:
#   _base_ = ['./<1x row>.py', '../_base_/d2_ms-3x.py']
#   train_dataloader = dict(dataset=dict(pipeline={{_base_.d2_ms_crop_instance_pipeline}}))
#   train_cfg = dict(max_iters={{_base_.d2_3x_iters}})
#   param_scheduler = {{_base_.d2_3x_param_scheduler}}
#
# Augmentation ("AUG.DETR", MPViT's detectron2/mpvit/dataset_mapper.py): flip; then with p=0.5 a shortest-edge
# resize to one of 480..800 (step 32, long edge <= 1333), otherwise a resize to 400/500/600 (no long-edge cap),
# an absolute-range crop of 384..600 px and the 480..800 resize.
d2_ms_scales = [(1333, short) for short in range(480, 801, 32)]
d2_ms_crop = dict(
    type='RandomChoice',
    transforms=[
        [dict(type='RandomChoiceResize', scales=d2_ms_scales, keep_ratio=True)],
        [
            dict(type='RandomChoiceResize', scales=[(100000, 400), (100000, 500), (100000, 600)], keep_ratio=True),
            dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600), allow_negative_crop=True),
            dict(type='RandomChoiceResize', scales=d2_ms_scales, keep_ratio=True),
        ],
    ])
d2_ms_crop_bbox_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    d2_ms_crop,
    dict(type='PackDetInputs'),
]
d2_ms_crop_instance_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    d2_ms_crop,
    dict(type='PackDetInputs'),
]
# Schedule: 270k iterations, lr x0.1 at 210k and 250k; everything else as schedules/d2_adamw_1x.py.
d2_3x_iters = 270000
d2_3x_param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=270000, by_epoch=False, milestones=[210000, 250000], gamma=0.1),
]
