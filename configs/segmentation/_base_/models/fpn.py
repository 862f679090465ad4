# Semantic FPN (FPN 256 ch, 4 levels + FPNHead 128 ch, dropout 0.1, SyncBN) for ADE20K's 150 classes, the
# backbone being any registered timm model. A paper row sets backbone.model_name / init_cfg and neck.in_channels.
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(512, 512)),  # training crops are padded to 512x512
    backbone=dict(
        type='TimmFeatureBackbone',
        model_name=None,
        out_strides=(4, 8, 16, 32),
        # The papers' dense backbones train every stage with BN in train mode (the official code converts BN to
        # SyncBN in place and ignores frozen_stages / norm_eval).
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=norm_cfg),
    neck=dict(type='FPN', in_channels=None, out_channels=256, num_outs=4),
    decode_head=dict(
        type='FPNHead',
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32],
        channels=128,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
