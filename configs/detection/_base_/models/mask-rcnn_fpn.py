# Mask R-CNN + FPN, mmdet's R50 recipe, with the backbone swapped for any registered timm model.
# A paper row sets backbone.model_name / init_cfg / model_kwargs and neck.in_channels.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmFeatureBackbone',
        model_name=None,
        out_strides=(4, 8, 16, 32),
        # The papers' dense backbones train every stage with BN in train mode (the official code converts BN to
        # SyncBN in place and ignores the inherited frozen_stages=1 / norm_eval=True).
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=dict(type='SyncBN', requires_grad=True)))
