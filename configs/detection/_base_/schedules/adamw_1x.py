# 1x (12 epochs, lr x0.1 after epochs 8 and 11) with AdamW: the schedule of the RapidNet, RepNeXt and FasterNet
# Mask R-CNN configs (mmdet 2.x). Their warm-up is 500 linear iterations from ratio 1e-6 (FasterNet: 1e-3).
_base_ = './sgd_1x.py'
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
