# FasterNet-L + Mask R-CNN FPN 1x on COCO; recipe as S with lr 1e-4, drop path 0.3. README: 44.0 / 39.9.
_base_ = './mask-rcnn_fasternet-s_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='fasternet_l',
        model_kwargs=dict(output_norms=True, drop_path_rate=0.3),
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/fasternet_l-epoch=299-val_acc1=83.5060.pth')),
    neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
