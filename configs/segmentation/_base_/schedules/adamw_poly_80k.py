# Semantic FPN as RepNeXt ran it: AdamW lr 1e-4, weight decay 0.05, poly decay (power 0.9) to 1e-6 over 80k
# iterations (the official file is named "40k" but sets gpu_multiples=1, so max_iters = 80000 // 1; its training
# logs end at iteration 80000); checkpoint and mIoU every 8k.
_base_ = ['./iter_loops.py']
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=1e-6, begin=0, end=80000, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
