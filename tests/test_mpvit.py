"""MPViT: official checkpoints (with their aliased keys), parameter counts, dense layouts, folding, timm conventions.

Key lists and reference outputs were recorded once from the authors' code (youngwanLEE/MPViT @ e2d86e6, mpvit.py)
on synthetic_state_dict(keys, seed=0) weights and reference_input() (2 x 3 x 64 x 64, eval): full logits and, per
stage output, shape / mean / mean |x| / first values. The synthetic weights give each alias of a shared conv its
own random values, so matching the recording also checks that aliases resolve as the official strict load does.
Synthetic small/base activations grow large (logits up to ~3.5e3), so comparisons are relative to the output scale.
"""
import copy

import pytest
import torch
import torch.nn as nn
import timm
from timm.models import group_parameters
from timm.utils import reparameterize_model

import models  # noqa: F401  (registers the families)
from models import mpvit as mpvit_module
from models._checkpoint import CheckpointError
from official_layout import (official_files, read_key_list, read_reference, reference_input,
                             save_official_checkpoint, synthetic_state_dict)

# Official numbers (authors' code and docstrings): parameters, state_dict keys with aliases, stage output widths.
PARAMS = {'mpvit_tiny': 5_843_736, 'mpvit_xsmall': 10_573_448, 'mpvit_small': 22_892_400, 'mpvit_base': 74_845_976}
KEYS = {'mpvit_tiny': 873, 'mpvit_xsmall': 873, 'mpvit_small': 1263, 'mpvit_base': 1419}
WIDTHS = {'mpvit_tiny': (96, 176, 216, 216), 'mpvit_xsmall': (128, 192, 256, 256),
          'mpvit_small': (128, 216, 288, 288), 'mpvit_base': (224, 368, 480, 480)}
VARIANTS = list(PARAMS)
# One dense layout per variant: (prefix, wrapper, extra non-backbone keys, drop num_batches_tracked, drop aliases)
DENSE_LAYOUTS = {
    'mpvit_tiny': ('backbone.bottom_up.backbone.', 'model', ('backbone.fpn_lateral2.weight',), True, False),
    'mpvit_xsmall': ('backbone.0.backbone.', 'model', ('transformer.level_embed',), False, False),
    'mpvit_small': ('backbone.', 'state_dict', ('decode_head.conv_seg.weight',), False, False),
    'mpvit_base': ('', None, (), False, True),
}
ALIAS_MARKERS = ('.MHCA_layers.', '.crpe.', '.cpe.')


pytestmark = pytest.mark.usefixtures('single_thread')


def _scale(ref: torch.Tensor) -> float:
    return max(1.0, ref.abs().max().item())


def _assert_close_scaled(out: torch.Tensor, ref: torch.Tensor, tol: float = 1e-5):
    """|out - ref| <= tol * max(1, max |ref|): float32 reordering noise grows with the output scale."""
    diff = (out - ref).abs().max().item()
    assert diff <= tol * _scale(ref), f'max abs diff {diff:.3g} at output scale {_scale(ref):.3g}'


@pytest.fixture(scope='module')
def official_file(ckpt_dir):
    """Synthetic weights in the authors' release layout and wrapper: {'model': state_dict} with every alias."""
    return official_files(ckpt_dir, wrapper='model')


@pytest.mark.parametrize('name', VARIANTS)
def test_official_checkpoint_loads_strict_and_matches_reference(name, loaded):
    model = loaded(name)
    with torch.no_grad():
        logits = model(reference_input())
    ref = torch.tensor(read_reference(name)['logits'])
    assert logits.shape == ref.shape == (2, 1000)
    _assert_close_scaled(logits, ref)


@pytest.mark.parametrize('name', VARIANTS)
def test_parameter_count_and_official_key_layout(name, loaded):
    model = loaded(name)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name] == read_reference(name)['num_params']
    state_dict = model.state_dict()
    assert len(state_dict) == KEYS[name]
    recorded = [(key, shape) for key, shape, _ in read_key_list(name)]
    assert [(k, tuple(v.shape)) for k, v in state_dict.items()] == recorded  # same names, order and shapes
    # the aliases are the same tensors, not copies
    encoder = model.mhca_stages[0].mhca_blks[0]
    block = encoder.MHCA_layers[0]
    assert block.cpe is encoder.cpe and block.crpe is encoder.crpe and block.factoratt_crpe.crpe is encoder.crpe


@pytest.mark.parametrize('name', VARIANTS)
def test_fold_equivalence(name, loaded):
    model = loaded(name)
    inputs = (reference_input(), torch.randn(3, 3, 96, 80))  # also batch > 1 and a non-square input
    with torch.no_grad():
        refs = [model(x) for x in inputs]
    deploy = reparameterize_model(model, inplace=True)  # in place: no 300 MB copy of mpvit_base
    loaded.pop(name)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)) for m in deploy.modules())
    stage = deploy.mhca_stages[2]
    assert isinstance(stage, mpvit_module.MHCAStageDeploy)
    assert stage.blocks[0].crpe is stage.blocks[-1].crpe and stage.blocks[0].cpe is stage.blocks[-1].cpe
    paths_chs = 3 * mpvit_module.MODEL_CFGS[name]['embed_dims'][2]  # 3 paths batched as channels
    assert stage.blocks[0].crpe.kernel_size == (7, 7) and stage.blocks[0].crpe.groups == paths_chs
    assert len(stage.blocks) == mpvit_module.MODEL_CFGS[name]['num_layers'][2]
    for x, ref in zip(inputs, refs):
        with torch.no_grad():
            out = deploy(x)
        _assert_close_scaled(out, ref, tol=1e-5)


def test_deploy_batch1_fast_paths(monkeypatch):
    """Batch 1 at 224x224 takes the per-path attention, per-window crpe, in-place MLP and (7x7 stage, 49 tokens)
    packed-weight projection fast paths; they equal the training form."""
    model = timm.create_model('mpvit_tiny').eval()
    x = torch.randn(1, 3, 224, 224)
    calls = []
    for method in ('_q_crpe', '_factor_attention_', '_packed_mlp_'):
        original = getattr(mpvit_module.MultiPathBlock, method)
        monkeypatch.setattr(mpvit_module.MultiPathBlock, method,
                            lambda self, *args, _f=original, _m=method: calls.append(_m) or _f(self, *args))
    with torch.no_grad():
        ref = model(x)
        out = reparameterize_model(model)(x)
    assert set(calls) == {'_q_crpe', '_factor_attention_', '_packed_mlp_'}
    _assert_close_scaled(out, ref, tol=1e-5)


def test_deploy_paths_side_by_side_any_thread_count(monkeypatch):
    """Per-path GEMMs run side by side (one per thread) or one after another depending on the thread count; every
    split gives the training form's output."""
    model = timm.create_model('mpvit_tiny').eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
    deploy = reparameterize_model(model)
    splits = []
    original = mpvit_module._side_by_side_paths
    monkeypatch.setattr(mpvit_module, '_side_by_side_paths', lambda *args: splits.append(original(*args)) or splits[-1])
    threads = torch.get_num_threads()
    try:
        for num_threads in (1, 2, 3):
            torch.set_num_threads(num_threads)
            with torch.no_grad():
                _assert_close_scaled(deploy(x), ref, tol=1e-5)
    finally:
        torch.set_num_threads(threads)
    assert 0 in splits and 2 in splits and 3 in splits  # none, a pair plus one path, all three paths


def _dense_checkpoint(name, path):
    """The variant's synthetic weights in one dense-task layout (see DENSE_LAYOUTS), without the classifier."""
    prefix, wrapper, extras, frozen_bn, dedup = DENSE_LAYOUTS[name]
    backbone = {}
    for key, value in synthetic_state_dict(read_key_list(name), seed=0).items():
        if key.startswith('cls_head.') or (frozen_bn and key.endswith('num_batches_tracked')):
            continue
        backbone[prefix + key] = value
    if dedup:  # keep one name per shared tensor: the last one, which is what the official strict load keeps
        model = timm.create_model(name, num_classes=0)
        names = {}
        for key, value in model.state_dict(keep_vars=True).items():
            names.setdefault(id(value), []).append(key)
        for group in names.values():
            for key in group[:-1]:
                del backbone[prefix + key]
    backbone.update({key: torch.zeros(3) for key in extras})
    save_official_checkpoint(str(path), backbone, wrapper=wrapper, extra={'meta': {'iter': 1}} if wrapper else None)
    return len(backbone)


@pytest.mark.parametrize('name', VARIANTS)
def test_features_only_from_dense_checkpoint(name, tmp_path):
    path = tmp_path / f'{name}_dense.pth'
    num_keys = _dense_checkpoint(name, path)
    if DENSE_LAYOUTS[name][4]:
        assert num_keys < KEYS[name] - 2  # aliases really were dropped
    model = timm.create_model(name, features_only=True, out_indices=(0, 1, 2, 3), pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(path))).eval()
    assert model.feature_info.channels() == list(WIDTHS[name])
    assert model.feature_info.reduction() == [4, 8, 16, 32]
    with torch.no_grad():
        feats = model(reference_input())
    assert len(feats) == 4
    for feat, ref, stride in zip(feats, read_reference(name)['stages'], (4, 8, 16, 32)):
        assert list(feat.shape) == ref['shape'] == [2, feat.shape[1], 64 // stride, 64 // stride]
        scale = max(1.0, ref['abs_mean'])
        assert abs(feat.abs().mean().item() - ref['abs_mean']) <= 1e-5 * scale
        assert abs(feat.mean().item() - ref['mean']) <= 1e-5 * scale
        first = feat.flatten()[:8] if feat.is_contiguous() else feat.contiguous().flatten()[:8]
        torch.testing.assert_close(first, torch.tensor(ref['first']), atol=1e-4 * scale, rtol=0)


def test_classifier_and_unpooled_build(loaded):
    """reset_classifier itself: test_models_common.test_reset_classifier."""
    model = loaded('mpvit_tiny')
    assert model.get_classifier() is model.cls_head.cls
    assert model.num_features == model.head_hidden_size == 216
    fresh = timm.create_model('mpvit_tiny', num_classes=0, global_pool='')
    assert fresh.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 216, 2, 2)


def test_new_num_classes_keeps_backbone_weights(official_file, loaded):
    model = timm.create_model('mpvit_tiny', pretrained=True, num_classes=5,
                              pretrained_cfg_overlay=dict(file=official_file('mpvit_tiny'))).eval()
    x = reference_input()
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), loaded('mpvit_tiny').forward_features(x))
    assert model(x).shape == (2, 5)


def test_wrong_variant_file_is_one_line_error(official_file):
    with pytest.raises(CheckpointError) as err:
        timm.create_model('mpvit_tiny', pretrained=True, pretrained_cfg_overlay=dict(file=official_file('mpvit_xsmall')))
    message = str(err.value)
    assert '\n' not in message and 'mpvit_tiny' in message and 'shape mismatches' in message


def test_unrelated_file_is_one_line_error(tmp_path):
    """Corrupt files: test_models_common.test_unreadable_file_is_one_line_error."""
    unrelated = tmp_path / 'other.pth'
    torch.save({'model': {'features.0.weight': torch.zeros(3)}}, unrelated)
    with pytest.raises(CheckpointError) as err:
        timm.create_model('mpvit_tiny', pretrained=True, pretrained_cfg_overlay=dict(file=str(unrelated)))
    assert '\n' not in str(err.value) and 'missing keys' in str(err.value)


def test_timm_model_conventions(loaded):
    """forward_intermediates (NHWC included) and pruning: test_models_common.test_forward_intermediates_and_prune."""
    model = loaded('mpvit_tiny')
    for info in model.feature_info:
        model.get_submodule(info['module'])
    # every parameter lands in exactly one group (shared encoder convs included)
    groups = group_parameters(model, model.group_matcher())
    grouped = [n for names in groups.values() for n in names]
    assert sorted(grouped) == sorted(n for n, _ in model.named_parameters())
    assert len(group_parameters(model, model.group_matcher(coarse=True))) == 6  # stem, 4 stages, head
    assert model.no_weight_decay() == set()
    assert model.eval() is model and model.train(False) is model  # the MMSegmentation copy returned None


def test_grad_checkpointing(loaded):
    model = copy.deepcopy(loaded('mpvit_tiny'))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        ref_inter = model.forward_intermediates(x, intermediates_only=True)
        model.set_grad_checkpointing()
        torch.testing.assert_close(model(x), ref)
        torch.testing.assert_close(model.forward_intermediates(x, intermediates_only=True), ref_inter)
    assert all(enc.grad_checkpointing for stage in model.mhca_stages for enc in stage.mhca_blks)


def test_scripting_and_deploy_scripting():  # ~6 s: it guards the eager-only fast paths from breaking compilation
    model = timm.create_model('mpvit_tiny').eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), ref)
        deployed = torch.jit.script(reparameterize_model(model))
        _assert_close_scaled(deployed(x), ref)


def test_constructor_arguments():
    with pytest.raises(TypeError):
        timm.create_model('mpvit_tiny', img_sizee=224)  # the official builders swallowed typos
    model = timm.create_model('mpvit_small', drop_path_rate=0.3, drop_rate=0.2, in_chans=1)
    rates = [block.drop_path.drop_prob if hasattr(block.drop_path, 'drop_prob') else 0.
             for stage in model.mhca_stages for block in stage.mhca_blks[0].MHCA_layers]
    expected = torch.linspace(0, 0.3, len(rates)).tolist()
    assert rates == pytest.approx(expected)  # linear over the blocks of a path, all stages
    assert model.cls_head.drop.p == 0.2 and model.stem[0].conv.in_channels == 1
    assert model.pretrained_cfg['crop_pct'] == 0.875 and model.pretrained_cfg['classifier'] == 'cls_head.cls'
    assert set(timm.list_models('mpvit_*')) >= set(VARIANTS)
    assert mpvit_module.MODEL_CFGS.keys() == set(VARIANTS)
