# RapidNet-B + Mask R-CNN FPN 1x on COCO (official mask_rcnn_rapidnet_b_fpn_1x_coco.py); recipe as RapidNet-M.
_base_ = './mask-rcnn_rapidnet-m_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        model_name='rapidnet_b',
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/RapidNet_B.pth')),
    neck=dict(in_channels=[64, 128, 224, 416]))
