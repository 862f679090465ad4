# detectron2's 1x as MPViT ran it (Base-RCNN-FPN.yaml / Base-RetinaNet.yaml): 90k iterations at batch 16,
# lr x0.1 at 60k and 80k, 1000 linear warm-up iterations from factor 0.01, AdamW lr 1e-4 with weight decay 0.05
# on every parameter, gradient clipping of the whole model's L2 norm at 1.0.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=90000, val_interval=10000)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=90000, by_epoch=False, milestones=[60000, 80000], gamma=0.1),
]
