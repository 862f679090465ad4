# detectron2's 1x as MPViT ran it (Base-RCNN-FPN.yaml / Base-RetinaNet.yaml): 90k iterations at batch 16,
# lr x0.1 at 60k and 80k, 1000 linear warm-up iterations from factor 0.01, AdamW lr 1e-4 with weight decay 0.05
# on every parameter, gradient clipping of the whole model's L2 norm at 1.0. Evaluation every 10k.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=90000, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=90000, by_epoch=False, milestones=[60000, 80000], gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
