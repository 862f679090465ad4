"""FasterNet: official checkpoints, parameter counts, deployment (folding + in-place slicing), dense features, timm
conventions.

Reference outputs and key lists were recorded once from the authors' code (JierunChen/FasterNet @ e8fba44,
models/fasternet.py; the detection backbone is the same class with ``fork_feat=True``) on
synthetic_state_dict(keys, seed=0) weights and reference_input() (2 x 3 x 64 x 64, eval mode).
"""
import copy
import warnings

import pytest
import torch
import torch.nn as nn
import timm
from timm.models import fasternet as timm_fasternet
from timm.utils import reparameterize_model

import models  # noqa: F401  (registers the families)
from models import fasternet as fasternet_module
from models._checkpoint import CheckpointError
from official_layout import (official_files, read_key_list, read_reference, reference_input,
                             save_official_checkpoint, synthetic_state_dict)

# Official parameter counts (authors' code, measured; research table) and state_dict sizes.
PARAMS = {
    'fasternet_t0': 3_905_500, 'fasternet_t1': 7_595_368, 'fasternet_t2': 14_982_888,
    'fasternet_s': 31_181_032, 'fasternet_m': 53_521_464, 'fasternet_l': 93_465_192,
}
DET_PARAMS = {'fasternet_s': 28_593_152, 'fasternet_m': 50_770_224, 'fasternet_l': 90_223_872}
EMBED = {'fasternet_t0': 40, 'fasternet_t1': 64, 'fasternet_t2': 96, 'fasternet_s': 128, 'fasternet_m': 144,
         'fasternet_l': 192}
VARIANTS = list(PARAMS)
DET_VARIANTS = list(DET_PARAMS)
DET_DROP_PATH = {'fasternet_s': 0.15, 'fasternet_m': 0.2, 'fasternet_l': 0.3}  # official detection backbones
IMG = 64


def _official_sd(name):
    return synthetic_state_dict(read_key_list(name), seed=0)


def _assert_close_scaled(actual, expected, rtol=1e-5, atol=1e-4):
    """Synthetic weights make the deep variants' outputs large (|y| up to ~1e4), and float32 results depend on the
    thread count (recorded with 1): compare at float32 precision of the output scale, never looser than ``atol``
    for outputs of order one."""
    actual, expected = actual.double(), torch.as_tensor(expected, dtype=torch.float64)
    scale = max(1.0, expected.abs().max().item())
    diff = (actual - expected).abs().max().item()
    assert diff <= atol + rtol * scale, f'max abs diff {diff:.3g} (output scale {scale:.3g})'


def _assert_matches_reference(out, ref, rtol=1e-5, atol=1e-4):
    """``ref``: the first values of every sample, the per-sample sum and sum of squares (see the recording)."""
    rows = out.double().flatten(1)
    n_head = len(ref['head']) // rows.shape[0]
    sq = torch.tensor(ref['row_sqsum'], dtype=torch.float64)
    rms = (sq / rows.shape[1]).sqrt()
    head = torch.tensor(ref['head'], dtype=torch.float64).view(rows.shape[0], n_head)
    head_diff = (rows[:, :n_head] - head).abs().amax(1)
    assert (head_diff <= atol + rtol * torch.maximum(rms, head.abs().amax(1))).all(), f'head diff {head_diff}'
    sum_diff = (rows.sum(1) - torch.tensor(ref['row_sum'], dtype=torch.float64)).abs()
    assert (sum_diff <= atol + rtol * (sq * rows.shape[1]).sqrt()).all(), f'row sum diff {sum_diff}'
    torch.testing.assert_close((rows ** 2).sum(1), sq, rtol=rtol, atol=atol)


@pytest.fixture(scope='module')
def official_file(ckpt_dir):
    """Synthetic official checkpoint of a variant, saved as the authors release it (a bare state_dict)."""
    return official_files(ckpt_dir, key_list='{}_official')


@pytest.fixture(scope='module')
def x():
    return reference_input(IMG, 2)


# ---------------------------------------------------------------------------------------------------------------
# Official checkpoints and parameter counts
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('variant', VARIANTS)
def test_official_checkpoint_logits_and_param_count(variant, loaded, x):
    model = loaded(variant)
    assert isinstance(model, timm_fasternet.FasterNet)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[variant]
    official = read_key_list(variant + '_official')
    assert len(model.state_dict()) == len(official)
    remapped = fasternet_module.remap_official_state_dict({k: torch.empty(s) for k, s, _ in official})
    assert {k: tuple(v.shape) for k, v in remapped.items()} == {
        k: tuple(v.shape) for k, v in model.state_dict().items()}
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 1000)
    _assert_matches_reference(out, read_reference(variant + '_official')['logits'])


@pytest.mark.parametrize('wrapper', ['lightning', 'timm_layout'])
def test_other_layouts_load_strict(wrapper, official_file, loaded, ckpt_dir, x):
    """A Lightning ``.ckpt`` state_dict (``model.`` prefix, distillation teacher keys) and timm's own layout (the
    hub files; here the loaded model's state_dict) load strictly and give the same logits."""
    variant = 'fasternet_t0'
    reference = loaded(variant)
    path = str(ckpt_dir / f'{wrapper}.pth')
    if wrapper == 'lightning':
        sd = {'model.' + k: v for k, v in _official_sd(variant + '_official').items()}
        sd['criterion.teacher_model.fc.weight'] = torch.zeros(3, 3)
        save_official_checkpoint(path, sd, wrapper='state_dict', extra={'epoch': 281})
    else:
        save_official_checkpoint(path, reference.state_dict())
    model = timm.create_model(variant, pretrained=True, pretrained_cfg_overlay=dict(file=path)).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_wrong_file_one_line_error(official_file, ckpt_dir):
    """Unreadable files: test_models_common.test_unreadable_file_is_one_line_error."""
    with pytest.raises(CheckpointError) as err:  # T1 weights into T0
        timm.create_model('fasternet_t0', pretrained=True,
                          pretrained_cfg_overlay=dict(file=official_file('fasternet_t1')))
    msg = str(err.value)
    assert '\n' not in msg and 'fasternet_t0' in msg and 'shape mismatches' in msg
    partial = _official_sd('fasternet_t0_official')
    del partial['stages.4.blocks.3.mlp.0.weight']
    path = save_official_checkpoint(str(ckpt_dir / 'partial.pth'), partial)
    with pytest.raises(CheckpointError, match=r'missing keys \(stages\.2\.blocks\.3\.mlp\.0\.weight\)'):
        timm.create_model('fasternet_t0', pretrained=True, pretrained_cfg_overlay=dict(file=path))


def test_num_classes_change_drops_classifier(official_file, loaded, x):
    model = timm.create_model('fasternet_t0', pretrained=True, num_classes=10,
                              pretrained_cfg_overlay=dict(file=official_file('fasternet_t0'))).eval()
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(model.forward_features(x), pre_logits=True),
                                   loaded('fasternet_t0').forward_head(
                                       loaded('fasternet_t0').forward_features(x), pre_logits=True))
    assert model(x).shape == (2, 10)
    gray = timm.create_model('fasternet_t0', pretrained=True, in_chans=1,  # timm adapts the stem after the filter
                             pretrained_cfg_overlay=dict(file=official_file('fasternet_t0')))
    assert gray.patch_embed.proj.weight.shape[1] == 1


# ---------------------------------------------------------------------------------------------------------------
# Deployment
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('variant', VARIANTS)
def test_fold_equivalence(variant, loaded, x):
    model = loaded(variant)
    deploy = reparameterize_model(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deploy.modules())
    blocks = [m for m in deploy.modules() if isinstance(m, fasternet_module.FasterNetDeployBlock)]
    assert len(blocks) == sum(len(s.blocks) for s in model.stages)
    with torch.no_grad():
        expected = model(x)
        x_before = x.clone()
        got = deploy(x)
    assert torch.equal(x, x_before)
    _assert_close_scaled(got, expected, rtol=1e-5)


def test_deploy_block_keeps_shortcut_and_input():
    """The in-place slicing must not leak into the residual (the paper-v1 bug) nor into the caller's tensor."""
    torch.manual_seed(0)
    block = timm.create_model('fasternet_t0').stages[1].blocks[0].eval()
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    deploy = block.fuse()
    inp = torch.randn(2, 80, 9, 7)
    channels_last = inp.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = block(inp)
        pconv_out = block.spatial_mixing(inp)
        buggy = pconv_out + block.mlp(pconv_out)  # shortcut taken after an uncloned in-place PConv
        for given in (inp, channels_last):
            before = given.clone()
            got = deploy(given)
            assert torch.equal(given, before)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert (buggy - expected).abs().max() > 1e-2


def test_slicing_mode_and_deploy_backpropagate(x):
    torch.manual_seed(0)
    model = timm.create_model('fasternet_t0', pconv_fw_type='slicing')
    assert all(m.mode == 'slicing' for m in model.modules() if isinstance(m, fasternet_module.PartialConv))
    model.train()
    model(x).sum().backward()  # the official slicing form raises here; ours falls back to split_cat
    model.eval()
    with torch.no_grad():
        sliced = model(x)
        model.set_pconv_mode('split_cat')
        torch.testing.assert_close(model(x), sliced, rtol=0, atol=0)
    deploy = reparameterize_model(model)
    out = deploy(x)  # autograd recording: copy-based form
    out.sum().backward()
    assert deploy.stages[0].blocks[0].fc1.weight.grad is not None
    with torch.no_grad():
        torch.testing.assert_close(out.detach(), deploy(x), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Dense features
# ---------------------------------------------------------------------------------------------------------------

def _slow_for_large(variants):
    """M and L get a second build here: run them with the slow tests."""
    return [pytest.param(v, marks=pytest.mark.slow) if v in ('fasternet_m', 'fasternet_l') else v for v in variants]


@pytest.mark.parametrize('variant', _slow_for_large(VARIANTS))
def test_features_only_matches_classification_features(variant, official_file, loaded, x):
    model = timm.create_model(variant, features_only=True, pretrained=True,
                              pretrained_cfg_overlay=dict(file=official_file(variant))).eval()
    e = EMBED[variant]
    assert model.feature_info.channels() == [e, 2 * e, 4 * e, 8 * e]  # strides, shapes: test_models_common
    with torch.no_grad():
        feats = model(x)
        expected = loaded(variant).forward_intermediates(x, intermediates_only=True)
    assert len(feats) == len(expected) == 4
    for got, want in zip(feats, expected):  # the same features as the classification model's
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize('variant', _slow_for_large(DET_VARIANTS))
def test_detection_checkpoint_into_features_only(variant, ckpt_dir, x):
    """An MMDetection checkpoint of the official detector (``backbone.`` keys with the output norms, neck and
    head keys, meta) loads strictly into ``features_only=True, output_norms=True`` and reproduces the official
    backbone outputs."""
    name = variant + '_det_official'
    sd = {'backbone.' + k: v for k, v in _official_sd(name).items()}
    sd['neck.lateral_convs.0.conv.weight'] = torch.zeros(256, EMBED[variant], 1, 1)
    sd['roi_head.bbox_head.fc_cls.weight'] = torch.zeros(81, 1024)
    path = save_official_checkpoint(str(ckpt_dir / f'{name}.pth'), sd, wrapper='state_dict',
                                    extra={'meta': {'epoch': 12, 'CLASSES': ('person', 'car')}})
    model = timm.create_model(variant, pretrained=True, features_only=True, output_norms=True,
                              drop_path_rate=DET_DROP_PATH[variant],
                              pretrained_cfg_overlay=dict(file=path)).eval()
    backbone = model.model
    with pytest.raises(CheckpointError, match='output_norms=True'):
        timm.create_model(variant, pretrained=True, features_only=True, pretrained_cfg_overlay=dict(file=path))
    assert sum(p.numel() for p in backbone.parameters()) == DET_PARAMS[variant]
    assert len(backbone.state_dict()) == len(read_key_list(name))
    with torch.no_grad():
        feats = model(x)
        ref = read_reference(name)['features']
        for feat, r in zip(feats, ref):
            assert list(feat.shape) == r['shape']
            _assert_matches_reference(feat, r)
        deployed = reparameterize_model(model)(x)
    for got, expected in zip(deployed, feats):
        _assert_close_scaled(got, expected, rtol=1e-5)


def test_classification_checkpoint_into_output_norms_model(official_file, loaded, x):
    """As in the official detection training, an ImageNet file initialises the backbone and the output norms
    keep their (BatchNorm default) initialisation; loading stays strict for every key the file has."""
    model = timm.create_model('fasternet_s', pretrained=True, features_only=True, output_norms=True,
                              pretrained_cfg_overlay=dict(file=official_file('fasternet_s'))).eval()
    norms = [getattr(model.model, f'norm{2 * i}') for i in range(4)]
    assert all(torch.equal(n.weight, torch.ones_like(n.weight)) for n in norms)
    with torch.no_grad():
        feats = model(x)
        plain = loaded('fasternet_s').forward_intermediates(x, intermediates_only=True)
    for feat, raw, norm in zip(feats, plain, norms):
        torch.testing.assert_close(feat, norm(raw))
    with pytest.raises(ValueError, match='getter'):
        timm.create_model('fasternet_t0', features_only=True, output_norms=True, feature_cls='list')


def test_forward_intermediates_and_pruning(x):
    torch.manual_seed(0)
    model = timm.create_model('fasternet_t0', output_norms=True).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
    with torch.no_grad():
        final, inter = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x))
        assert len(inter) == 4 and torch.allclose(inter[1], model.norm2(
            model.stages[1](model.stages[0](model.patch_embed(x)))))
        last2 = model.forward_intermediates(x, indices=2, intermediates_only=True)
        torch.testing.assert_close(last2, inter[2:])
        early = model.forward_intermediates(x, indices=[0, 1], stop_early=True, intermediates_only=True)
        torch.testing.assert_close(early, inter[:2])
        some = model.forward_intermediates(x, indices=[2, 0, 2], intermediates_only=True)
        torch.testing.assert_close(some, [inter[0], inter[2]])  # each through its own stage's norm
    assert model.prune_intermediate_layers([0, 1]) == [0, 1]
    assert len(model.stages) == 2 and not hasattr(model, 'norm4') and hasattr(model, 'norm2')
    assert isinstance(model.classifier, nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_intermediates(x, intermediates_only=True), inter[:2])


# ---------------------------------------------------------------------------------------------------------------
# timm conventions and registration
# ---------------------------------------------------------------------------------------------------------------

DROP_PATH = {'fasternet_t0': 0.0, 'fasternet_t1': 0.02, 'fasternet_t2': 0.05, 'fasternet_s': 0.1,
             'fasternet_m': 0.2, 'fasternet_l': 0.3}  # official cfg/fasternet_*.yaml


def _drop_rates(model):
    return [getattr(b.drop_path, 'drop_prob', 0.) for s in model.stages for b in s.blocks]


@pytest.mark.parametrize('variant', VARIANTS)
def test_forward_backward_and_drop_path(variant, loaded):
    model = copy.deepcopy(loaded(variant)).train()
    rates = _drop_rates(model)
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, DROP_PATH[variant], len(rates)))
    model.reset_classifier(7)
    model.set_grad_checkpointing(variant == 'fasternet_t0')
    out = model(reference_input(32, 2))  # the smallest input: stride 32
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_drop_path_rate_kwarg():
    model = timm.create_model('fasternet_t0', drop_path_rate=0.3)
    rates = _drop_rates(model)
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.3, 13))


def test_timm_model_api(x):
    """reset_classifier: test_models_common.test_reset_classifier."""
    model = timm.create_model('fasternet_t0', drop_rate=0.1).eval()
    cfg = model.pretrained_cfg
    assert model.get_submodule(cfg['first_conv']).weight.shape[1] == 3
    assert model.get_classifier() is model.get_submodule(cfg['classifier'])
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, *cfg['input_size'][1:])).shape[-2:] == cfg['pool_size']
        assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, model.head_hidden_size)
        assert model.head_hidden_size == 1280
    groups = timm.models.group_parameters(timm.create_model('fasternet_t0', output_norms=True),
                                          model.group_matcher())
    assert sum(len(g) for g in groups.values()) == len(list(timm.create_model(
        'fasternet_t0', output_norms=True).parameters()))
    assert [i['module'] for i in model.feature_info] == [f'stages.{i}' for i in range(4)]
    assert model.no_weight_decay() == set()
    assert timm.create_model('fasternet_t0', in_chans=1)(torch.randn(1, 1, 64, 64)).shape == (1, 1000)


def test_registration_is_timm_superset_and_silent():
    with warnings.catch_warnings(record=True) as caught:  # the import-time path, on a name timm registered
        warnings.simplefilter('always')
        for variant in VARIANTS:
            fasternet_module._register_over_timm(getattr(fasternet_module, variant))
    assert not [w for w in caught if 'Overwriting' in str(w.message)]
    assert timm.models.model_entrypoint('fasternet_t0') is fasternet_module.fasternet_t0
    for variant in VARIANTS:
        ours = timm.models.get_pretrained_cfg(variant).to_dict()
        theirs = timm_fasternet.default_cfgs[variant].default.to_dict()
        assert {k: v for k, v in theirs.items() if v and k not in ('architecture', 'tag', 'hf_hub_id')}.items() \
            <= ours.items()
        assert ours['hf_hub_id'] == f'timm/{variant}.in1k' and ours['url'].endswith('.pth')
        assert timm.models.is_model(variant) and variant in timm.list_models('fasternet*')
