# UperNet (UPerHead 512 ch + FCN auxiliary head on the stride-16 level, weight 0.4, SyncBN) for ADE20K's
# 150 classes, with the backbone swapped for any registered timm model (MPViT's semantic_segmentation recipe).
_base_ = 'mmseg::_base_/models/upernet_r50.py'
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(512, 512)),  # pad training crops to 512x512
    backbone=dict(
        _delete_=True,
        type='TimmFeatureBackbone',
        model_name=None,
        out_strides=(4, 8, 16, 32),
        frozen_stages=-1,
        norm_eval=False,  # MPViT's configs: SyncBN, norm_eval=False
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))
