# Faster R-CNN + FPN, mmdet's R50 recipe, with the backbone swapped for any registered timm model.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmFeatureBackbone',
        model_name=None,
        out_strides=(4, 8, 16, 32),
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=dict(type='SyncBN', requires_grad=True)))
