# Runtime for iteration-based schedules (the detectron2 recipes of MPViT): checkpoints and logs by iteration.
_base_ = './default_runtime.py'
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
