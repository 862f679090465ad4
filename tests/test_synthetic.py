"""The synthetic datasets are deterministic and readable by the real loaders (torchvision, mmdet, mmseg)."""
import hashlib
import json
import os

import numpy as np
import pytest

from tools.make_synthetic import CLASSES, DET_CATEGORIES, generate

SMALL = dict(cls_size=32, train_per_class=3, val_per_class=2, det_size=64, det_train=6, det_val=4, seg_size=64,
             seg_train=6, seg_val=4, quiet=True)


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('synthetic'))
    return out, generate(out, **SMALL)


def _digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name == 'stamp.json':
                continue
            with open(os.path.join(dirpath, name), 'rb') as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs(synthetic, tmp_path):
    out, summary = synthetic
    again = generate(str(tmp_path / 'again'), **SMALL)
    generate(str(tmp_path / 'other'), seed=1, **SMALL)
    assert _digest(out) == _digest(str(tmp_path / 'again'))
    assert _digest(out) != _digest(str(tmp_path / 'other'))
    assert again['counts'] == summary['counts']


def test_imagefolder_reads_classification(synthetic):
    from torchvision.datasets import ImageFolder
    out, summary = synthetic
    train = ImageFolder(os.path.join(out, 'imagenet', 'train'))
    val = ImageFolder(os.path.join(out, 'imagenet', 'val'))
    assert train.classes == sorted(CLASSES) and val.classes == sorted(CLASSES)
    assert len(train) == 3 * len(CLASSES) and len(val) == 2 * len(CLASSES)
    image, label = train[len(train) - 1]
    assert image.size == (32, 32) and label == len(CLASSES) - 1
    assert all(path.endswith('.JPEG') for path, _ in train.samples)


@pytest.mark.mm_stack
def test_coco_annotations_consistent_with_pycocotools(synthetic):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    out, _ = synthetic
    coco = COCO(os.path.join(out, 'coco', 'annotations', 'instances_train2017.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(DET_CATEGORIES)
    assert len(coco.getImgIds()) == 6 and len(coco.getAnnIds()) >= 6
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs(ann['image_id'])[0]
        m = coco.annToMask(ann)
        ys, xs = np.nonzero(m)
        x, y, w, h = ann['bbox']
        # the rasterised polygon lies inside its box and fills a sensible part of it
        assert xs.min() >= np.floor(x) - 1 and xs.max() <= np.ceil(x + w) + 1
        assert ys.min() >= np.floor(y) - 1 and ys.max() <= np.ceil(y + h) + 1
        assert 0.3 * w * h < m.sum() <= 1.05 * w * h + 2 * (w + h)
        assert abs(int(mask_utils.area(mask_utils.encode(np.asfortranarray(m)))) - ann['area']) < 0.15 * ann[
            'area'] + 2 * (w + h)
        assert img['width'] == img['height'] == 64


@pytest.mark.mm_stack
def test_mmdet_coco_dataset_loads(synthetic):
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules
    register_all_modules()
    out, _ = synthetic
    ds = CocoDataset(
        data_root=os.path.join(out, 'coco'), ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'), metainfo=dict(classes=DET_CATEGORIES),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                  dict(type='PackDetInputs')])
    assert len(ds) == 4
    sample = ds[0]
    inst = sample['data_samples'].gt_instances
    assert sample['inputs'].shape == (3, 64, 64)
    assert len(inst.bboxes) == len(inst.masks) >= 1
    assert set(inst.labels.tolist()) <= {0, 1, 2}


@pytest.mark.mm_stack
def test_mmseg_ade20k_dataset_loads(synthetic):
    from mmseg.datasets import ADE20KDataset
    from mmseg.utils import register_all_modules
    register_all_modules()
    out, _ = synthetic
    ds = ADE20KDataset(
        data_root=os.path.join(out, 'ade', 'ADEChallengeData2016'),
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        reduce_zero_label=True,
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')])
    assert len(ds) == 4
    sample = ds[0]
    labels = set(np.unique(sample['data_samples'].gt_sem_seg.data.numpy()).tolist())
    assert sample['inputs'].shape == (3, 64, 64)
    assert 0 in labels and labels <= {0, 1, 2, 3}  # background 1 -> 0, shapes 2..4 -> 1..3, nothing ignored


def test_stamp_skips_identical_request(synthetic):
    out, summary = synthetic
    with open(os.path.join(out, 'stamp.json')) as f:
        assert json.load(f)['request'] == summary['request']
    assert generate(out, **SMALL)['counts'] == summary['counts']
