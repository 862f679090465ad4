"""Detection on MMDetection 3.3 (CPU, tiny): TimmFeatureBackbone, every configs/detection/ row, detection/train.py
and test.py through dense/runner.py, strict loading of ours / mmdet 2.x / detectron2 checkpoints."""
import math
import os

import pytest
import torch

pytest.importorskip('mmcv.ops', reason='mmcv with compiled ops is required (tests/test_mm_stack.py)')

from dense_helpers import (build_on_meta, family_available, key_list_exists, load_config,  # noqa: E402
                           official_backbone, paper_configs, train_losses, unique_name)
from models._checkpoint import CheckpointError, load_file  # noqa: E402

pytestmark = pytest.mark.usefixtures('single_thread')

# the synthetic run behind the fixtures synthetic_data / trained_tiny (dense_helpers)
TASK = 'detection'
SYNTHETIC_CONFIG = 'configs/detection/synthetic/mask-rcnn_fasternet-t0_fpn_synthetic.py'
SYNTHETIC_COUNTS = dict(det_train=8, det_val=4)
TRAIN_OPTIONS = ('param_scheduler.0.start_factor=1.0',)


# ----------------------------------------------------------------------------------------------------- wrapper
@pytest.mark.parametrize('name, strides', [('fasternet_t0', (4, 8, 16, 32)), ('rexnet_100', (4, 8, 16, 32))])
def test_backbone_levels_by_stride(name, strides):
    import models.mm  # noqa: F401
    from mmdet.registry import MODELS
    backbone = MODELS.build(dict(type='TimmFeatureBackbone', model_name=name))
    outs = backbone(torch.randn(2, 3, 64, 64))  # train mode: ReXNet's SE BatchNorm needs batch > 1
    assert backbone.out_strides == list(strides)
    assert [o.shape[1] for o in outs] == backbone.out_channels
    assert [64 // o.shape[-1] for o in outs] == list(strides)  # ReXNet's stride-2 level is skipped
    assert all(k.startswith('model.') for k in backbone.state_dict())  # timm's own paths under model.


def test_frozen_stages_and_norm_eval():
    from mmdet.registry import MODELS

    import models.mm  # noqa: F401
    backbone = MODELS.build(dict(type='TimmFeatureBackbone', model_name='fasternet_t0', frozen_stages=1))
    backbone.train()
    frozen = {n for n, p in backbone.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(('model.patch_embed.', 'model.stages.0.')) for n in frozen)
    assert not any(n.startswith('model.stages.1.') for n in frozen)
    norms = {n: m for n, m in backbone.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert not norms['model.patch_embed.norm'].training and norms['model.stages.1.downsample.norm'].training
    # frozen weights get no gradient, the rest does
    backbone(torch.randn(2, 3, 64, 64))[-1].sum().backward()
    grads = {n: p.grad for n, p in backbone.named_parameters()}
    assert all(grads[n] is None for n in frozen) and grads['model.stages.3.blocks.0.mlp.0.weight'] is not None

    backbone = MODELS.build(dict(type='TimmFeatureBackbone', model_name='fasternet_t0', norm_eval=True,
                                 norm_cfg=dict(type='SyncBN', requires_grad=True)))
    backbone.train()
    bns = [m for m in backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and all(isinstance(m, torch.nn.SyncBatchNorm) and not m.training for m in bns)
    assert all(p.requires_grad for p in backbone.parameters())


# (timm name, model kwargs) -> (parameters, state_dict keys) of the authors' dense backbones (research notes:
# rapidnet_{m,b}_feat, RepNeXt detection/repnext.py, FasterNet fork_feat with norm0/2/4/6, MPViT detectron2/mmseg)
OFFICIAL_DENSE_BACKBONES = {
    ('rapidnet_m', ()): (16_113_120, 743), ('rapidnet_b', ()): (28_696_704, 743),
    ('repnext_m3', ()): (7_438_512, 930), ('repnext_m4', ()): (13_052_432, 1632), ('repnext_m5', ()): (21_424_300, 2100),
    ('fasternet_s', ('output_norms',)): (28_593_152, 188), ('fasternet_m', ('output_norms',)): (50_770_224, 268),
    ('fasternet_l', ('output_norms',)): (90_223_872, 268),
    ('mpvit_tiny', ()): (5_626_736, 871), ('mpvit_xsmall', ()): (10_316_448, 871),
    ('mpvit_small', ()): (22_603_400, 1261), ('mpvit_base', ()): (74_364_976, 1417),
}


@pytest.mark.parametrize('name, flags', sorted(OFFICIAL_DENSE_BACKBONES))
def test_backbone_matches_official_dense_backbone(name, flags):
    """Same parameter and key counts as the authors' mmdet / detectron2 backbones (so their files load strictly)."""
    if not family_available(name):
        pytest.skip(f'{name} not registered')
    from dense_helpers import empty_weights

    from models.mm import TimmFeatureBackbone
    with empty_weights():
        backbone = TimmFeatureBackbone(name, model_kwargs={flag: True for flag in flags})
    params = sum(p.numel() for p in backbone.parameters())
    assert (params, len(backbone.state_dict())) == OFFICIAL_DENSE_BACKBONES[(name, flags)]


@pytest.mark.skipif(not key_list_exists('fasternet_t0_official'), reason='FasterNet key list not available')
def test_init_cfg_loads_the_authors_imagenet_file(tmp_path):
    """init_cfg Pretrained reads the authors' classification file through the classification loader (official
    FasterNet layout -> timm layout), or the backbone of a detector file with prefix='backbone.'."""
    from mmdet.registry import MODELS

    import models.mm  # noqa: F401
    official = official_backbone('fasternet_t0_official')
    imagenet = str(tmp_path / 'fasternet_t0-epoch=281-val_acc1=71.9180.pth')
    torch.save(official, imagenet)
    detector_file = str(tmp_path / 'detector.pth')
    body = {k: v for k, v in official.items() if not k.startswith(('avgpool_pre_head.', 'head.'))}
    torch.save({'state_dict': {'backbone.' + k: v for k, v in body.items()}}, detector_file)
    for init_cfg in (dict(type='Pretrained', checkpoint=imagenet),
                     dict(type='Pretrained', checkpoint=detector_file, prefix='backbone.')):
        backbone = MODELS.build(dict(type='TimmFeatureBackbone', model_name='fasternet_t0', init_cfg=init_cfg))
        backbone.init_weights()
        ours = list(backbone.state_dict().values())
        assert len(ours) == len(body)  # the classifier is not part of the backbone
        assert all(any(o.shape == v.shape and torch.equal(o, v) for o in ours) for v in body.values())
    wrong = str(tmp_path / 'rexnet.pth')
    torch.save(official_backbone('rexnet_100_official'), wrong)
    backbone = MODELS.build(dict(type='TimmFeatureBackbone', model_name='fasternet_t0',
                                 init_cfg=dict(type='Pretrained', checkpoint=wrong)))
    with pytest.raises(CheckpointError) as err:
        backbone.init_weights()
    assert '\n' not in str(err.value)


def test_launcher_detected_from_environment(monkeypatch):
    from dense.runner import detect_launcher
    for var in ('WORLD_SIZE', 'RANK', 'SLURM_NTASKS', 'SLURM_PROCID', 'OMPI_COMM_WORLD_SIZE'):
        monkeypatch.delenv(var, raising=False)
    assert detect_launcher(None) == 'none' and detect_launcher('slurm') == 'slurm'
    monkeypatch.setenv('SLURM_NTASKS', '16')
    monkeypatch.setenv('SLURM_PROCID', '3')
    assert detect_launcher(None) == 'slurm'
    monkeypatch.setenv('WORLD_SIZE', '8')  # torchrun inside a SLURM allocation: torchrun wins
    monkeypatch.setenv('RANK', '3')
    assert detect_launcher(None) == 'pytorch'
    for var in ('WORLD_SIZE', 'RANK', 'SLURM_NTASKS', 'SLURM_PROCID'):
        monkeypatch.delenv(var)
    monkeypatch.setenv('OMPI_COMM_WORLD_SIZE', '4')
    assert detect_launcher(None) == 'mpi'


# ----------------------------------------------------------------------------------------------------- configs
def test_every_paper_config_builds():
    """Each row parses, names a registered backbone whose levels match its neck, and builds (meta device)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    configs = paper_configs('detection')
    assert len(configs) == 30
    seen, skipped = {}, []
    for path in configs:
        cfg = load_config(path)
        assert cfg.custom_imports['imports'] == ['models.mm']
        name = cfg.model.backbone.model_name
        if not family_available(name):
            skipped.append(name)
            continue
        key = repr(cfg.model)
        if key not in seen:
            seen[key] = build_on_meta(cfg.model, MODELS)
        model = seen[key]
        assert model.backbone.out_channels == list(cfg.model.neck.in_channels), path
        assert model.backbone.out_strides == [4, 8, 16, 32], path
    assert not skipped, f'backbones not registered yet: {sorted(set(skipped))}'


def test_mpvit_ms3x_rows_use_detectron2_augmentation():
    for path in paper_configs('detection'):
        if 'mpvit' not in path:
            continue
        cfg = load_config(path)
        kinds = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
        assert ('RandomChoice' in kinds) == ('ms-3x' in path), path
        assert cfg.train_cfg.max_iters == (270000 if 'ms-3x' in path else 90000), path
        assert cfg.optim_wrapper.clip_grad == dict(max_norm=1.0, norm_type=2)


# --------------------------------------------------------------------------------------- train / resume / test
def test_train_loss_finite_and_falling(trained_tiny):
    runner, work_dir = trained_tiny
    losses = train_losses(runner)
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    assert os.path.isfile(os.path.join(work_dir, 'iter_3.pth')) and os.path.isfile(os.path.join(work_dir, 'iter_6.pth'))


def test_resume_from_iteration_checkpoint(trained_tiny, tmp_path):
    """--resume CKPT restores iteration, optimizer and scheduler (weights-only load of mmengine's own file)."""
    from dense import runner as dense_runner
    runner, work_dir = trained_tiny
    checkpoint = os.path.join(work_dir, 'iter_3.pth')
    resumed = dense_runner.run_train('detection', [
        SYNTHETIC_CONFIG, '--work-dir', str(tmp_path), '--resume', checkpoint, '--cfg-options',
        'train_cfg.max_iters=5', 'train_cfg.val_begin=100', 'default_hooks.checkpoint.interval=5',
        'default_hooks.logger.interval=1', 'param_scheduler.0.start_factor=1.0',
        f'experiment_name={unique_name("det_resume")}'])
    assert resumed.iter == 5
    losses = train_losses(resumed)
    assert len(losses) == 5  # 3 restored from the message hub + 2 new
    assert losses[:3] == pytest.approx(train_losses(runner)[:3])
    state = load_file(os.path.join(str(tmp_path), 'iter_5.pth'), mmengine_state=True)
    assert state['meta']['iter'] == 5


def test_test_reports_coco_bbox_and_segm(trained_tiny, tmp_path):
    from dense import runner as dense_runner
    _runner, work_dir = trained_tiny
    metrics = dense_runner.run_test('detection', [
        SYNTHETIC_CONFIG, os.path.join(work_dir, 'iter_6.pth'), '--work-dir', str(tmp_path),
        '--cfg-options', f'experiment_name={unique_name("det_test")}'])
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50'):
        assert key in metrics and 0.0 <= metrics[key] <= 1.0


def test_wrong_checkpoint_fails_with_one_line(trained_tiny, tmp_path, capsys):
    from dense import runner as dense_runner
    _runner, work_dir = trained_tiny
    state = load_file(os.path.join(work_dir, 'iter_6.pth'), mmengine_state=True)['state_dict']
    state['roi_head.bbox_head.fc_cls.weight'] = torch.zeros(5, 256)  # a detector for another class count
    path = str(tmp_path / 'other.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(CheckpointError) as err:
        dense_runner.run_test('detection', [SYNTHETIC_CONFIG, path, '--work-dir', str(tmp_path), '--cfg-options',
                                         f'experiment_name={unique_name("det_bad")}'])
    message = str(err.value)
    assert '\n' not in message and 'fc_cls.weight' in message and 'other.pth' in message
    # the script's entry: that line on stderr, exit status 1, no traceback
    capsys.readouterr()
    assert dense_runner.main('detection', 'test', [SYNTHETIC_CONFIG, path, '--work-dir', str(tmp_path), '--cfg-options',
                                                f'experiment_name={unique_name("det_bad")}']) == 1
    err_text = capsys.readouterr().err
    assert 'Traceback' not in err_text and [line for line in err_text.splitlines() if 'error:' in line] == [
        f'error: {message}']


# ------------------------------------------------------------------------------------- the authors' layouts
def _model(path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = load_config(path)
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def _roundtrip(model, foreign: dict, tmp_path, expect: dict):
    """Save ``foreign`` as an mmdet 2.x-style file, load it strictly, compare with ``expect`` (our keys)."""
    from models.mm import load_dense_checkpoint
    path = str(tmp_path / 'authors.pth')
    torch.save({'meta': {'mmdet_version': '2.28.2', 'CLASSES': ('a',) * 80, 'epoch': 12}, 'state_dict': foreign},
               path)
    load_dense_checkpoint(model, path)
    loaded = model.state_dict()
    for key, value in expect.items():
        assert torch.equal(loaded[key], value), key


def _heads(model) -> dict:
    """The model's own neck / head tensors, shifted so that a load that skipped them would be noticed."""
    return {k: v + 0.5 if v.is_floating_point() else v.clone() for k, v in model.state_dict().items()
            if not k.startswith('backbone.')}


@pytest.mark.skipif(not (family_available('rapidnet_m') and key_list_exists('rapidnet_m')),
                    reason='models/rapidnet.py or its key list not available')
def test_authors_mmdet2_checkpoint_rapidnet(tmp_path):
    """RapidNet's released COCO file: backbone.<official key> (classification minus heads) + mmdet heads."""
    model = _model('configs/detection/rapidnet/mask-rcnn_rapidnet-m_fpn_1x_coco.py')
    backbone = official_backbone('rapidnet_m', drop_prefixes=('prediction.', 'head.', 'dist_head.'))
    heads = _heads(model)
    foreign = {'backbone.' + k: v for k, v in backbone.items()} | heads
    _roundtrip(model, foreign, tmp_path, heads | {'backbone.model.' + k: v for k, v in backbone.items()})


@pytest.mark.skipif(not (family_available('fasternet_s') and key_list_exists('fasternet_s_det_official')),
                    reason='models/fasternet.py or its detection key list not available')
def test_authors_mmdet2_checkpoint_fasternet_with_output_norms(tmp_path):
    """FasterNet's released COCO file (official layout: interleaved stages, norm0/2/4/6 on the outputs) loads into
    the detector, and the detector's backbone reproduces the official detection backbone's recorded outputs."""
    from official_layout import read_reference, reference_input
    model = _model('configs/detection/fasternet/mask-rcnn_fasternet-s_fpn_1x_coco.py')
    backbone = official_backbone('fasternet_s_det_official', seed=0)
    heads = _heads(model)
    _roundtrip(model, {'backbone.' + k: v for k, v in backbone.items()} | heads, tmp_path, heads)
    reference = read_reference('fasternet_s_det_official')
    model.eval()
    with torch.no_grad():
        feats = model.backbone(reference_input(**reference['input']))
    for feat, ref in zip(feats, reference['features']):
        rows = feat.double().flatten(1)
        assert list(feat.shape) == ref['shape']
        head = torch.tensor(ref['head'], dtype=torch.float64).view(rows.shape[0], -1)
        scale = head.abs().max()
        assert (rows[:, :head.shape[1]] - head).abs().max() <= 1e-4 * max(1.0, scale), 'backbone output differs'
        torch.testing.assert_close(rows.sum(1), torch.tensor(ref['row_sum'], dtype=torch.float64),
                                   rtol=1e-5, atol=1e-3 * max(1.0, scale))


def _to_detectron2(state_dict: dict, retina: bool, num_levels_start: int) -> dict:
    """Our mmdet keys -> detectron2 keys (the inverse of models.mm's table, written independently)."""
    import re
    out = {}
    for key, value in state_dict.items():
        new = key
        new = re.sub(r'^backbone\.model\.', 'backbone.bottom_up.backbone.', new)
        m = re.match(r'^neck\.lateral_convs\.(\d)\.conv\.(.*)$', new)
        if m:
            new = f'backbone.fpn_lateral{int(m[1]) + num_levels_start}.{m[2]}'
        m = re.match(r'^neck\.fpn_convs\.(\d)\.conv\.(.*)$', new)
        if m:
            i = int(m[1])
            if retina and i >= 3:
                new = f'backbone.top_block.p{i + 3}.{m[2]}'
            else:
                new = f'backbone.fpn_output{i + num_levels_start}.{m[2]}'
        for a, b in (('rpn_head.rpn_conv.', 'proposal_generator.rpn_head.conv.'),
                     ('rpn_head.rpn_cls.', 'proposal_generator.rpn_head.objectness_logits.'),
                     ('rpn_head.rpn_reg.', 'proposal_generator.rpn_head.anchor_deltas.'),
                     ('roi_head.bbox_head.shared_fcs.0.', 'roi_heads.box_head.fc1.'),
                     ('roi_head.bbox_head.shared_fcs.1.', 'roi_heads.box_head.fc2.'),
                     ('roi_head.bbox_head.fc_cls.', 'roi_heads.box_predictor.cls_score.'),
                     ('roi_head.bbox_head.fc_reg.', 'roi_heads.box_predictor.bbox_pred.'),
                     ('roi_head.mask_head.upsample.', 'roi_heads.mask_head.deconv.'),
                     ('roi_head.mask_head.conv_logits.', 'roi_heads.mask_head.predictor.'),
                     ('bbox_head.retina_cls.', 'head.cls_score.'), ('bbox_head.retina_reg.', 'head.bbox_pred.')):
            if new.startswith(a):
                new = b + new[len(a):]
        m = re.match(r'^roi_head\.mask_head\.convs\.(\d)\.conv\.(.*)$', new)
        if m:
            new = f'roi_heads.mask_head.mask_fcn{int(m[1]) + 1}.{m[2]}'
        m = re.match(r'^bbox_head\.(cls|reg)_convs\.(\d)\.conv\.(.*)$', new)
        if m:
            new = f'head.{"cls" if m[1] == "cls" else "bbox"}_subnet.{2 * int(m[2])}.{m[3]}'
        if retina and new.startswith(('head.cls_score.', 'head.bbox_pred.')):
            # mmdet anchor a = ratio * 3 + scale  ->  detectron2 anchor = scale * 3 + ratio
            blocks = value.reshape(9, -1, *value.shape[1:])
            value = blocks[[r * 3 + s for s in range(3) for r in range(3)]].reshape(value.shape)
        out[new] = value
    return out


@pytest.mark.skipif(not family_available('mpvit_tiny'), reason='models/mpvit.py not available')
@pytest.mark.parametrize('path, retina', [
    ('configs/detection/mpvit/mask-rcnn_mpvit-tiny_fpn_1x_coco.py', False),
    ('configs/detection/mpvit/retinanet_mpvit-tiny_fpn_1x_coco.py', True),
])
def test_authors_detectron2_checkpoint_mpvit(path, retina, tmp_path):
    """MPViT's releases are detectron2 files: renamed heads / FPN, and RetinaNet's anchor order differs."""
    from models.mm import load_dense_checkpoint
    model = _model(path)
    expect = {k: v + 0.25 if v.is_floating_point() else v.clone() for k, v in model.state_dict().items()}
    d2 = _to_detectron2(expect, retina, num_levels_start=3 if retina else 2)
    assert not any(k.startswith(('neck.', 'rpn_head.', 'roi_head.', 'bbox_head.')) for k in d2)
    file = str(tmp_path / 'd2.pth')
    torch.save({'model': d2, 'iteration': 90000}, file)
    for value in model.state_dict().values():
        value.zero_()
    load_dense_checkpoint(model, file)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in expect.items())


# ---------------------------------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_overfit_synthetic_bbox_ap(synthetic_data, tmp_path):
    """The synthetic config learns its 8 training images: bbox AP > 0.5 evaluated on those images."""
    from dense import runner as dense_runner
    train_set = os.path.join(synthetic_data, 'coco')
    runner = dense_runner.run_train('detection', [
        SYNTHETIC_CONFIG, '--work-dir', str(tmp_path), '--cfg-options', 'train_cfg.max_iters=400',
        'train_cfg.val_begin=100000', 'param_scheduler.1.milestones=[300]',
        'val_dataloader.dataset.ann_file=annotations/instances_train2017.json',
        'val_dataloader.dataset.data_prefix.img=train2017/',
        f'val_evaluator.ann_file={train_set}/annotations/instances_train2017.json',
        f'experiment_name={unique_name("det_overfit")}'])
    metrics = runner.val()
    print(f"overfit: bbox AP {metrics['coco/bbox_mAP']:.3f}, segm AP {metrics['coco/segm_mAP']:.3f}, "
          f"final loss {train_losses(runner)[-1]:.3f}")
    assert metrics['coco/bbox_mAP'] > 0.5
