"""The pinned OpenMMLab stack works on this PyTorch: compiled mmcv ops, and one optimizer step of a stock mmdet
Mask R-CNN and a stock mmseg Semantic FPN (ResNet-18, random init, CPU). Nothing here uses the project's models."""
import pytest
import torch

pytestmark = pytest.mark.usefixtures('single_thread')


def test_mmcv_ops_nms_and_roi_align():
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7]))

    feats = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])  # (batch index, x1, y1, x2, y2)
    out = RoIAlign(output_size=2, spatial_scale=1.0, sampling_ratio=0, aligned=True)(feats, rois)
    assert out.shape == (1, 1, 2, 2)
    # the map is the ramp 8y + x; aligned=True shifts the box by half a pixel, so the 2x2 samples of each bin sit
    # at y, x in {0, 1} (then {2, 3}) and each bin averages to 8 * mean(y) + mean(x); aligned=False gives 9, 11, ...
    assert torch.allclose(out.flatten(), torch.tensor([4.5, 6.5, 20.5, 22.5]))


def _packaged_config(package: str, relative: str):
    """A config shipped inside the installed mmdet / mmseg wheel (``<package>/.mim/configs``)."""
    import importlib
    import os

    from mmengine.config import Config
    root = os.path.dirname(importlib.import_module(package).__file__)
    return Config.fromfile(os.path.join(root, '.mim', 'configs', relative))


def _one_step(model, data) -> tuple:
    from mmengine.optim import OptimWrapper
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = model.train_step(data, optim_wrapper)
    changed = sum(not torch.equal(before[n], p.detach()) for n, p in model.named_parameters())
    return losses, changed


def test_stock_mmdet_mask_rcnn_r18_step():
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = _packaged_config('mmdet', 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
    cfg.model.backbone.update(depth=18, init_cfg=None)
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    data = demo_mm_inputs(batch_size=2, image_shapes=[(3, 128, 128), (3, 96, 128)], num_items=[2, 1],
                          num_classes=80, with_mask=True)
    losses, changed = _one_step(model, data)
    assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert changed > 0

    model.eval()
    with torch.no_grad():
        results = model.test_step(demo_mm_inputs(batch_size=1, image_shapes=[(3, 128, 128)], num_classes=80))
    assert hasattr(results[0], 'pred_instances')


def test_stock_mmseg_semantic_fpn_r18_step():
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    from mmseg.utils import register_all_modules
    register_all_modules()
    cfg = _packaged_config('mmseg', 'sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py')
    cfg.model.pretrained = None
    cfg.model.backbone.update(depth=18, norm_cfg=dict(type='BN', requires_grad=True))
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    cfg.model.data_preprocessor.size = (64, 64)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 64, 64)))
        samples.append(sample)
    data = dict(inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8) for _ in range(2)],
                data_samples=samples)
    losses, changed = _one_step(model, data)
    assert 'decode.loss_ce' in losses and torch.isfinite(losses['decode.loss_ce'])
    assert changed > 0


def test_import_guard_reports_missing_stack(monkeypatch):
    """models.mm refuses to import without mmdet and mmseg rather than registering nothing."""
    import importlib
    import sys
    for name in ('mmdet.registry', 'mmseg.registry', 'models.mm'):
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules makes the import fail
    monkeypatch.delitem(sys.modules, 'models.mm')
    with pytest.raises(ImportError, match='needs mmdet or mmseg'):
        importlib.import_module('models.mm')
