# OURS (not in the paper): FasterNet-S + Semantic FPN on ADE20K, 40k; recipe as FasterNet-T1.
_base_ = './fpn_fasternet-t1_8xb4-40k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        model_name='fasternet_s',
        model_kwargs=dict(output_norms=True, drop_path_rate=0.1),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/fasternet_s-epoch=299-val_acc1=81.2840.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
