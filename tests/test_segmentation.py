"""Segmentation on MMSegmentation 1.2 (CPU, tiny): every configs/segmentation/ row, segmentation/train.py and
test.py through dense/runner.py (IoUMetric, multi-scale + flip TTA), strict loading of mmseg 0.x files."""
import math
import os

import pytest
import torch

pytest.importorskip('mmcv.ops', reason='mmcv with compiled ops is required (tests/test_mm_stack.py)')

from dense_helpers import (build_on_meta, family_available, key_list_exists, load_config,  # noqa: E402
                           official_backbone, paper_configs, train_losses, unique_name)

pytestmark = pytest.mark.usefixtures('single_thread')

# the synthetic run behind the fixtures synthetic_data / trained_tiny (dense_helpers)
TASK = 'segmentation'
SYNTHETIC_CONFIG = 'configs/segmentation/synthetic/fpn_fasternet-t0_synthetic.py'
SYNTHETIC_COUNTS = dict(seg_train=8, seg_val=4)
TRAIN_OPTIONS = ()


def test_every_paper_config_builds():
    """Each row parses, names a registered backbone whose levels match its head, and builds (meta device)."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules()
    configs = paper_configs('segmentation')
    assert len(configs) == 15
    skipped = []
    for path in configs:
        cfg = load_config(path)
        assert cfg.custom_imports['imports'] == ['models.mm']
        assert cfg.model.decode_head.num_classes == 150 and cfg.model.get('pretrained') is None
        name = cfg.model.backbone.model_name
        if not family_available(name):
            skipped.append(name)
            continue
        model = build_on_meta(cfg.model, MODELS)
        expected = cfg.model.neck.in_channels if 'neck' in cfg.model else cfg.model.decode_head.in_channels
        assert model.backbone.out_channels == list(expected), path
        if 'auxiliary_head' in cfg.model:
            assert cfg.model.auxiliary_head.in_channels == model.backbone.out_channels[2], path
    assert not skipped, f'backbones not registered yet: {sorted(set(skipped))}'


def test_recipes_follow_the_papers():
    rows = {os.path.basename(p): load_config(p) for p in paper_configs('segmentation')}
    repnext = rows['fpn_repnext-m3_4xb4-80k_ade20k-512x512.py']
    assert repnext.train_cfg.max_iters == 80000  # the official "40k" file runs 80k (gpu_multiples=1, logs)
    assert repnext.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-4, weight_decay=0.05)
    rapidnet = rows['fpn_rapidnet-m_8xb4-40k_ade20k-512x512.py']
    assert rapidnet.train_cfg.max_iters == 40000 and rapidnet.optim_wrapper.optimizer.lr == 2e-4
    mpvit = rows['upernet_mpvit-small_8xb2-160k_ade20k-512x512.py']
    assert [s['type'] for s in mpvit.param_scheduler] == ['LinearLR', 'PolyLR']
    assert mpvit.train_dataloader.batch_size == 2 and mpvit.train_cfg.max_iters == 160000
    # AlignResize (resize to a multiple of 32) at test time for the PoolFormer-derived configs only
    for name, cfg in rows.items():
        kinds = [t['type'] for t in cfg.test_dataloader.dataset.pipeline]
        assert ('ResizeToMultiple' in kinds) == name.startswith('fpn_'), name


def test_train_loss_finite_and_falling(trained_tiny):
    runner, work_dir = trained_tiny
    losses = train_losses(runner)
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    assert os.path.isfile(os.path.join(work_dir, 'iter_6.pth'))


def test_resume_from_iteration_checkpoint(trained_tiny, tmp_path):
    from dense import runner as dense_runner
    runner, work_dir = trained_tiny
    resumed = dense_runner.run_train('segmentation', [
        SYNTHETIC_CONFIG, '--work-dir', str(tmp_path), '--resume', os.path.join(work_dir, 'iter_3.pth'),
        '--cfg-options', 'train_cfg.max_iters=4', 'train_cfg.val_begin=100',
        'default_hooks.checkpoint.interval=4', f'experiment_name={unique_name("seg_resume")}'])
    assert resumed.iter == 4
    assert train_losses(resumed)[:3] == pytest.approx(train_losses(runner)[:3])
    # the poly schedule continued from iteration 3, not from 0
    assert resumed.optim_wrapper.get_lr()['lr'][0] < runner.cfg.optim_wrapper.optimizer.lr * (1 - 3 / 300) ** 0.9


@pytest.mark.parametrize('tta', [False, True])
def test_test_reports_miou(trained_tiny, tmp_path, tta):
    from dense import runner as dense_runner
    _runner, work_dir = trained_tiny
    args = [SYNTHETIC_CONFIG, os.path.join(work_dir, 'iter_6.pth'), '--work-dir', str(tmp_path),
            '--cfg-options', f'experiment_name={unique_name("seg_test")}'] + (['--tta'] if tta else [])
    metrics = dense_runner.run_test('segmentation', args)
    assert {'mIoU', 'aAcc', 'mAcc'} <= set(metrics)
    assert 0.0 <= metrics['mIoU'] <= 100.0


MMSEG0_RELEASES = [  # (config, official key list, classifier prefixes absent from the dense backbone)
    ('configs/segmentation/repnext/fpn_repnext-m3_4xb4-80k_ade20k-512x512.py', 'repnext_m3', ('head.',)),
    ('configs/segmentation/rapidnet/fpn_rapidnet-m_8xb4-40k_ade20k-512x512.py', 'rapidnet_m', ('prediction.', 'head.', 'dist_head.')),
    ('configs/segmentation/mpvit/upernet_mpvit-tiny_8xb2-160k_ade20k-512x512.py', 'mpvit_tiny', ('cls_head.',)),
]


@pytest.mark.parametrize('config, key_list, head', MMSEG0_RELEASES, ids=[r[1] for r in MMSEG0_RELEASES])
def test_authors_mmseg0_checkpoint(config, key_list, head, tmp_path):
    """The authors' released ADE20K files (mmseg 0.x): backbone.<official key> (classification keys minus the
    classifier) + the mmseg heads, loaded strictly into our config."""
    if not (family_available(key_list) and key_list_exists(key_list)):
        pytest.skip(f'{key_list} or its key list not available')
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from models.mm import load_dense_checkpoint
    register_all_modules()
    model = MODELS.build(load_config(config).model)
    backbone = official_backbone(key_list, drop_prefixes=head)
    aliases = {}  # MPViT's official modules are reachable under two names: a real file stores equal tensors
    for key, tensor in model.backbone.model.state_dict(keep_vars=True).items():
        aliases.setdefault(tensor.data_ptr(), []).append(key)
    for first, *others in aliases.values():
        backbone.update({k: backbone[first] for k in others if k in backbone})
    heads = {k: v + 0.5 if v.is_floating_point() else v.clone() for k, v in model.state_dict().items()
             if not k.startswith('backbone.')}
    path = str(tmp_path / f'{key_list}_ade20k.pth')
    torch.save({'meta': {'mmseg_version': '0.30.0', 'iter': 80000},
                'state_dict': {'backbone.' + k: v for k, v in backbone.items()} | heads}, path)
    load_dense_checkpoint(model, path)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in heads.items())
    assert all(torch.equal(loaded['backbone.model.' + k], v) for k, v in backbone.items())


@pytest.mark.slow
def test_overfit_synthetic_miou(synthetic_data, tmp_path):
    """The synthetic config learns its 8 training images: mIoU > 50 (mmseg reports percent) on those images."""
    from dense import runner as dense_runner
    runner = dense_runner.run_train('segmentation', [
        SYNTHETIC_CONFIG, '--work-dir', str(tmp_path), '--cfg-options', 'train_cfg.max_iters=300',
        'train_cfg.val_begin=100000',
        'val_dataloader.dataset.data_prefix.img_path=images/training',
        'val_dataloader.dataset.data_prefix.seg_map_path=annotations/training',
        f'experiment_name={unique_name("seg_overfit")}'])
    metrics = runner.val()
    print(f"overfit: mIoU {metrics['mIoU']:.1f}, aAcc {metrics['aAcc']:.1f}, final loss {train_losses(runner)[-1]:.3f}")
    assert metrics['mIoU'] > 50.0
