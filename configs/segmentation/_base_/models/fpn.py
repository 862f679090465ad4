# Semantic FPN (FPN 256 ch, 4 levels + FPNHead 128 ch, dropout 0.1, SyncBN) for ADE20K's 150 classes, with the
# backbone swapped for any registered timm model. A paper row sets backbone.model_name / init_cfg and
# neck.in_channels.
_base_ = 'mmseg::_base_/models/fpn_r50.py'
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(512, 512)),  # pad training crops to 512x512
    backbone=dict(
        _delete_=True,
        type='TimmFeatureBackbone',
        model_name=None,
        out_strides=(4, 8, 16, 32),
        # The papers' dense backbones train every stage with BN in train mode (the official code converts BN to
        # SyncBN in place and ignores frozen_stages / norm_eval).
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    decode_head=dict(num_classes=150))
