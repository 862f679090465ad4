# UperNet 160k as MPViT ran it (Swin / XCiT recipe): AdamW lr 6e-5, betas (0.9, 0.999), weight decay 0.01 on every
# parameter, 1500 linear warm-up iterations from ratio 1e-6, then linear decay (poly, power 1.0) to 0;
# checkpoint and mIoU every 16k.
_base_ = ['./iter_loops.py']
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, begin=1500, end=160000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000, val_interval=16000)
default_hooks = dict(checkpoint=dict(interval=16000))
