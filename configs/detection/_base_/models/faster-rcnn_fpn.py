# Faster R-CNN + FPN: the Mask R-CNN base without its mask branch (mmdet's R50-FPN settings otherwise).
_base_ = './mask-rcnn_fpn.py'
model = dict(
    type='FasterRCNN',
    data_preprocessor=dict(pad_mask=False),
    roi_head=dict(mask_roi_extractor=None, mask_head=None))
