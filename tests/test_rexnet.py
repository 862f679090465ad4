"""ReXNet / ReXNet-lite: official checkpoints, parameter counts, folding, features, timm conventions.

Reference logits and key lists were recorded once from the authors' code (clovaai/rexnet @ 61debcc, rexnetv1.py /
rexnetv1_lite.py) on synthetic_state_dict(keys, seed=0) weights and reference_input() (2 x 3 x 64 x 64, eval).
"""
import copy
import warnings

import pytest
import torch
import torch.nn as nn
import timm
from timm.models.rexnet import RexNet
from timm.utils import reparameterize_model

import models  # noqa: F401  (registers the families)
from models import rexnet as rexnet_module
from models._checkpoint import CheckpointError
from official_layout import (load_pretrained, official_files, read_key_list, read_reference, reference_input,
                             save_official_checkpoint, synthetic_state_dict)

# Official parameter counts (authors' code, measured; research table).
PARAMS = {
    'rexnet_090': 4_091_257, 'rexnet_100': 4_796_873, 'rexnet_130': 7_557_091, 'rexnet_150': 9_728_593,
    'rexnet_200': 16_366_620, 'rexnet_220': 19_485_308, 'rexnet_300': 34_708_792,
    'rexnet_lite_100': 4_740_056, 'rexnet_lite_130': 6_747_960, 'rexnet_lite_150': 8_332_296,
    'rexnet_lite_200': 12_966_200,
}
WIDTHS = {'rexnet_090': 0.9, 'rexnet_100': 1.0, 'rexnet_130': 1.3, 'rexnet_150': 1.5, 'rexnet_200': 2.0,
          'rexnet_220': 2.2, 'rexnet_300': 3.0}
VARIANTS = list(PARAMS)
V1_VARIANTS = list(WIDTHS)
IMG = 64


def _official_sd(name):
    return synthetic_state_dict(read_key_list(name + '_official'), seed=0)


def _assert_matches_reference(logits, name):
    ref = read_reference(name + '_official')
    torch.testing.assert_close(logits[:, :32], torch.tensor(ref['logits_head']), atol=1e-4, rtol=0)
    torch.testing.assert_close(logits.sum(1), torch.tensor(ref['logits_sum']), atol=1e-3, rtol=0)
    torch.testing.assert_close(logits.abs().sum(1), torch.tensor(ref['logits_abs_sum']), atol=1e-3, rtol=0)


@pytest.fixture(scope='module')
def official_file(ckpt_dir):
    """Path of the synthetic official checkpoint of a variant (a bare state_dict, as the authors release)."""
    return official_files(ckpt_dir, key_list='{}_official')


# ---------------------------------------------------------------------------------------------------------------
# Per variant
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('name', VARIANTS)
def test_official_checkpoint_loads_strict_and_matches_reference(name, loaded):
    model = loaded(name)
    assert isinstance(model, RexNet)
    assert isinstance(model, rexnet_module.ReXNetLite if 'lite' in name else rexnet_module.ReXNet)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name] == read_reference(name + '_official')['params']
    with torch.no_grad():
        logits = model(reference_input())
    _assert_matches_reference(logits, name)


@pytest.mark.parametrize('name', VARIANTS)
def test_fold_equivalence(name, loaded):
    model = loaded(name)
    x = reference_input()
    folded = reparameterize_model(model)  # deep copy; the loaded model stays unfolded
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        ref, out = model(x), folded(x)
        feats = folded.forward_intermediates(x, indices=rexnet_module.DENSE_OUT_INDICES, intermediates_only=True)
        feats_ref = model.forward_intermediates(x, indices=rexnet_module.DENSE_OUT_INDICES, intermediates_only=True)
    assert (out - ref).abs().max().item() < 1e-4
    for a, b in zip(feats, feats_ref):
        assert (a - b).abs().max().item() < 1e-4
    _assert_matches_reference(out, name)


@pytest.mark.parametrize('name', VARIANTS)
def test_forward_backward(name, loaded):
    model = copy.deepcopy(loaded(name)).train()
    x = torch.randn(2, 3, IMG, IMG)
    out = model(x)
    assert out.shape == (2, 1000)
    out.logsumexp(1).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads['stem.conv.weight'].abs().sum() > 0


@pytest.mark.parametrize('name', VARIANTS)
def test_dense_feature_levels(name, loaded):
    """DENSE_OUT_INDICES (the features_only default) select strides 4, 8, 16, 32 of timm's five levels."""
    model = loaded(name)
    assert [info['reduction'] for info in model.feature_info] == [2, 4, 8, 16, 32]
    levels = [model.feature_info[i] for i in rexnet_module.DENSE_OUT_INDICES]
    with torch.no_grad():
        feats = model.forward_intermediates(reference_input(), indices=rexnet_module.DENSE_OUT_INDICES,
                                            intermediates_only=True)
    assert [f.shape[1] for f in feats] == [info['num_chs'] for info in levels]
    assert [f.shape[-1] for f in feats] == [IMG // r for r in (4, 8, 16, 32)]
    assert all(isinstance(model.get_submodule(info['module']), nn.Module) for info in levels)


@pytest.mark.parametrize('name', VARIANTS)
def test_timm_layout_state_dict_passes_filter(name, loaded):
    """timm's layout (timm's own RexNet class for V1) is what the model holds; the filter passes it unchanged."""
    model = loaded(name)
    state_dict = model.state_dict()
    if name in WIDTHS:
        timm_model = RexNet(width_mult=WIDTHS[name], device='meta')  # timm's own class; meta: no allocation
        assert {k: v.shape for k, v in timm_model.state_dict().items()} == {k: v.shape for k, v in state_dict.items()}
    assert rexnet_module.checkpoint_filter_fn(state_dict, model) is state_dict


@pytest.mark.parametrize('name', ['rexnet_100', 'rexnet_lite_100'])
def test_timm_layout_file_loads(name, loaded, ckpt_dir):
    """A file in timm's layout (a timm RexNet's state_dict for V1, ours for lite) loads strict, same logits."""
    state_dict = loaded(name).state_dict()
    if name in WIDTHS:
        timm_model = RexNet(width_mult=WIDTHS[name])  # timm's own class, untouched by this project
        timm_model.load_state_dict(state_dict, strict=True)
        state_dict = timm_model.state_dict()
    path = save_official_checkpoint(str(ckpt_dir / f'{name}_timm.pth'), state_dict, wrapper='state_dict_ema')
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path)).eval()
    with torch.no_grad():
        _assert_matches_reference(model(reference_input()), name)


# ---------------------------------------------------------------------------------------------------------------
# Loading: errors and options
# ---------------------------------------------------------------------------------------------------------------

def _one_line(err):
    text = str(err.value)
    assert '\n' not in text
    return text


def test_wrong_width_file_is_one_line_error(official_file):
    with pytest.raises(CheckpointError) as err:
        load_pretrained('rexnet_100', official_file('rexnet_130'))
    text = _one_line(err)
    assert 'rexnet_100' in text and 'shape' in text


def test_lite_file_for_v1_model_is_one_line_error(official_file):
    with pytest.raises(CheckpointError) as err:
        load_pretrained('rexnet_100', official_file('rexnet_lite_100'))
    assert 'ReXNet-lite' in _one_line(err)


def test_missing_and_extra_official_keys_are_named(ckpt_dir):
    sd = _official_sd('rexnet_100')
    del sd['features.6.out.5.fc.0.weight']
    sd['features.6.out.9.weight'] = torch.zeros(1)
    path = save_official_checkpoint(str(ckpt_dir / 'broken.pth'), sd)
    with pytest.raises(CheckpointError) as err:
        load_pretrained('rexnet_100', path)
    text = _one_line(err)
    assert 'features.6.out.5.fc.0.weight' in text and 'features.6.out.9.weight' in text


def test_wrapped_official_file_and_new_num_classes(official_file, loaded, ckpt_dir):
    """Training-script wrappers are unwrapped; a different num_classes keeps the trunk and drops the classifier."""
    path = save_official_checkpoint(str(ckpt_dir / 'wrapped.pth'), _official_sd('rexnet_lite_100'), wrapper='model')
    model = load_pretrained('rexnet_lite_100', path, num_classes=10).eval()
    x = reference_input()
    with torch.no_grad():
        assert model(x).shape == (2, 10)
        ref = loaded('rexnet_lite_100')
        torch.testing.assert_close(model.forward_head(model.forward_features(x), pre_logits=True),
                                   ref.forward_head(ref.forward_features(x), pre_logits=True))


def test_official_file_with_in_chans_1(official_file):
    model = load_pretrained('rexnet_100', official_file('rexnet_100'), in_chans=1).eval()
    assert model.stem.conv.weight.shape[1] == 1
    with torch.no_grad():
        assert model(torch.randn(1, 1, IMG, IMG)).shape == (1, 1000)


def test_key_map_is_explicit_per_role():
    model = timm.create_model('rexnet_100', device='meta')
    rows = rexnet_module._official_key_map(model, lite=False)
    assert len(rows) == len({r[0] for r in rows}) == len(model.state_dict())
    mapping = {off: ours for off, ours, _ in rows}
    assert mapping['features.6.out.5.fc.1.running_var'] == 'features.3.se.bn.running_var'
    assert mapping['features.6.out.7.weight'] == 'features.3.conv_pwl.conv.weight'
    assert mapping['features.19.weight'] == 'features.16.conv.weight'
    assert mapping['output.1.weight'] == 'head.fc.weight'
    lite = timm.create_model('rexnet_lite_100', device='meta')
    lite_map = {off: ours for off, ours, _ in rexnet_module._official_key_map(lite, lite=True)}
    assert lite_map['features.4.out.6.weight'] == 'features.1.conv_pwl.conv.weight'
    assert lite_map['output.1.weight'] == 'head.hidden.bn.weight'
    assert lite_map['output.4.weight'] == 'head.fc.weight'


# ---------------------------------------------------------------------------------------------------------------
# timm conventions
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['rexnet_100', 'rexnet_lite_100'])
def test_timm_model_conventions(name, loaded):
    """reset_classifier: test_models_common.test_reset_classifier."""
    model = copy.deepcopy(loaded(name))
    cfg = model.pretrained_cfg
    assert cfg['pool_size'] == tuple(s // 32 for s in cfg['input_size'][1:])  # stride 32 at the cfg input size
    x = reference_input()
    grid = (IMG // 32, IMG // 32)
    with torch.no_grad():
        feats = model.forward_features(x)
        pre = model.forward_head(feats, pre_logits=True)
        assert feats.shape[1:] == (model.num_features, *grid)
        assert pre.shape == (2, model.head_hidden_size)
        assert model.get_classifier() is model.head.fc
        assert model.get_classifier().in_features == model.head_hidden_size
        final, inter = model.forward_intermediates(x)
        torch.testing.assert_close(final, feats)
        assert [t.shape[-1] for t in inter] == [IMG // r for r in (2, 4, 8, 16, 32)]
        model.set_grad_checkpointing(True)
        torch.testing.assert_close(model.forward_intermediates(x)[0], feats)
    for key in ('first_conv', 'classifier'):
        assert cfg[key] + '.weight' in loaded(name).state_dict()
    assert cfg['paper_ids'] == 'arXiv:2007.00992' and cfg['license'] == 'mit'
    assert model.no_weight_decay() == set()
    groups = model.group_matcher()
    assert groups['stem'] == r'^stem' and groups['blocks'] == r'^features\.(\d+)'


@pytest.mark.parametrize('name', ['rexnet_100', 'rexnet_lite_100'])
def test_features_getter_and_pruning(name, loaded, official_file):
    full = loaded(name)
    model = timm.create_model(name, features_only=True, feature_cls='getter', out_indices=(1, 2, 3, 4),
                              pretrained=True, pretrained_cfg_overlay=dict(file=official_file(name))).eval()
    assert model.feature_info.reduction() == [4, 8, 16, 32]
    x = reference_input()
    with torch.no_grad():
        feats = model(x)
        ref = full.forward_intermediates(x, indices=(1, 2, 3, 4), intermediates_only=True)
    for a, b in zip(feats, ref):
        torch.testing.assert_close(a, b)
    pruned = copy.deepcopy(full)
    assert pruned.prune_intermediate_layers((1, 2, 3)) == [1, 2, 3]
    with torch.no_grad():
        out = pruned.forward_intermediates(x, indices=(1, 2, 3), intermediates_only=True)
        assert pruned(x).shape == (2, pruned.feature_info[3]['num_chs'], 4, 4)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b)


def test_drop_path_rate_is_linear_over_blocks():
    model = timm.create_model('rexnet_lite_100', drop_path_rate=0.3, device='meta')
    rates = [getattr(b.drop_path, 'drop_prob', 0.) for b in model.features[:-1]]
    assert rates[-1] == pytest.approx(0.3) and rates[0] == 0.
    assert rates == sorted(rates)


def test_timm_names_are_ours_and_a_superset():
    model = timm.create_model('rexnet_150', device='meta')  # meta: shapes only, no allocation
    assert type(model) is rexnet_module.ReXNet
    original = timm.models.rexnet.rexnet_150(device='meta')  # timm's own entrypoint, still importable
    assert type(original) is RexNet
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in original.state_dict().items()}
    assert model.pretrained_cfg['hf_hub_id'] == original.pretrained_cfg['hf_hub_id'] == 'timm/rexnet_150.nav_in1k'
    assert timm.list_models('rexnet_lite_*') == ['rexnet_lite_100', 'rexnet_lite_130', 'rexnet_lite_150',
                                                 'rexnet_lite_200']


def test_authors_class_names_are_aliases():
    with pytest.warns(UserWarning, match='deprecated'):
        model = timm.create_model('rexnetv1_lite_130', device='meta')
    assert type(model) is rexnet_module.ReXNetLite
    assert sum(p.numel() for p in model.parameters()) == PARAMS['rexnet_lite_130']


def test_registration_over_timm_is_quiet():
    """Re-registering timm's rexnet_* names (done at import) replaces timm's entrypoint without its warning."""
    assert timm.models.model_entrypoint('rexnet_100') is rexnet_module.rexnet_100
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        rexnet_module._register_over_timm(rexnet_module.rexnet_100)
    assert not caught
    assert timm.models.model_entrypoint('rexnet_100') is rexnet_module.rexnet_100


@pytest.mark.parametrize('name', ['rexnet_090', 'rexnet_lite_100'])
def test_torchscript_training_and_deploy_forms(name, loaded):
    model = loaded(name)
    deploy = reparameterize_model(model)
    x = reference_input()
    with torch.no_grad():
        ref = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), ref)
        assert (torch.jit.script(deploy)(x) - ref).abs().max().item() < 1e-4
