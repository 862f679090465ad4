# Semantic FPN 40k as RapidNet ran it (PVT / PoolFormer recipe, "8 GPUs instead of 4: lr x2, iterations / 2"):
# AdamW lr 2e-4, weight decay 1e-4, poly decay (power 0.9) to 0 over 40k iterations, no warm-up;
# checkpoint and mIoU every 4k.
_base_ = ['./iter_loops.py']
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=4000)
