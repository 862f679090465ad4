# MPViT-T + Mask R-CNN FPN, multi-scale + crop 3x (official mask_rcnn_mpvit_tiny_ms_3x.yaml). README: 44.8 / 41.0.
_base_ = ['./mask-rcnn_mpvit-tiny_fpn_1x_coco.py', '../_base_/d2_ms-3x.py']
train_dataloader = dict(dataset=dict(pipeline={{_base_.d2_ms_crop_instance_pipeline}}))
train_cfg = dict(max_iters={{_base_.d2_3x_iters}})
param_scheduler = {{_base_.d2_3x_param_scheduler}}
