# OURS (not in the paper): FasterNet-T2 + Semantic FPN on ADE20K, 40k; recipe as FasterNet-T1.
_base_ = './fpn_fasternet-t1_8xb4-40k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='fasternet_t2',
        model_kwargs=dict(output_norms=True, drop_path_rate=0.05),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/fasternet_t2-epoch=289-val_acc1=78.8860.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
