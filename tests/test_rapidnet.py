"""RapidNet Ti/S/M/B: official checkpoint layout and logits, parameter counts, folding, heads, features, timm API.

Key lists and reference logits were recorded once from the authors' code (mmunir127/RapidNet-Official @ 74c7071,
models/rapidnet.py) on synthetic_state_dict(keys, seed=0) weights and reference_input() (2 x 3 x 64 x 64, eval mode,
official RepCPE not re-parameterised); logits are stored rounded to 6 decimals.
"""
import copy

import pytest
import torch
import torch.nn as nn
import torch.fx
import timm
from timm.layers import DropPath
from timm.utils import reparameterize_model

import models  # noqa: F401  (registers the families)
from models import rapidnet as rn
from models._checkpoint import CheckpointError
from official_layout import (load_pretrained, read_key_list, read_reference, reference_input,
                             save_official_checkpoint, synthetic_state_dict)

VARIANTS = ['rapidnet_ti', 'rapidnet_s', 'rapidnet_m', 'rapidnet_b']
# measured on the authors' code: every nn.Parameter, dist_head included (research A1)
OFFICIAL_PARAMS = {'rapidnet_ti': 6_627_840, 'rapidnet_s': 9_213_088, 'rapidnet_m': 17_304_496,
                   'rapidnet_b': 30_556_496}
KEY_COUNTS = {'rapidnet_ti': 518, 'rapidnet_s': 754, 'rapidnet_m': 754, 'rapidnet_b': 754}
OTHER_VARIANT = {'rapidnet_ti': 'rapidnet_s', 'rapidnet_s': 'rapidnet_m', 'rapidnet_m': 'rapidnet_b',
                 'rapidnet_b': 'rapidnet_ti'}
HEAD_PREFIXES = ('prediction.', 'head.', 'dist_head.')
IMG = 64


# tiny tensors: one intra-op thread is faster, and far faster on a shared, loaded machine
pytestmark = pytest.mark.usefixtures('single_thread')


def _cfg(name):
    return rn.MODEL_CFGS[name.split('_')[-1]]


def _official_sd(name):
    return synthetic_state_dict(read_key_list(name), seed=0)


def _reference(name):
    return torch.tensor(read_reference(name)['logits'])


@pytest.fixture(scope='module')
def official_file(tmp_path_factory):
    """Synthetic checkpoint files, cached per (variant, layout)."""
    root = tmp_path_factory.mktemp('rapidnet_ckpt')
    cache = {}

    def make(name, layout='cls'):
        if (name, layout) in cache:
            return cache[(name, layout)]
        sd = _official_sd(name)
        path = str(root / f'{name}_{layout}.pth')
        if layout == 'cls':  # the authors' model_best.pth
            save_official_checkpoint(path, sd, wrapper=('state_dict', 'state_dict_ema'))
        elif layout == 'mmdet':  # a detector checkpoint: backbone under 'backbone.', plus neck / heads
            det = {'backbone.' + k: v for k, v in sd.items() if not k.startswith(HEAD_PREFIXES)}
            det['neck.lateral_convs.0.conv.weight'] = torch.zeros(256, 4, 1, 1)
            det['rpn_head.rpn_cls.weight'] = torch.zeros(3, 256, 1, 1)
            save_official_checkpoint(path, det, wrapper='state_dict', extra={'meta': {'epoch': 12}})
        elif layout == 'feat':  # rapidnet_{m,b}_feat state_dict, bare
            save_official_checkpoint(path, {k: v for k, v in sd.items() if not k.startswith(HEAD_PREFIXES)})
        else:
            raise ValueError(layout)
        cache[(name, layout)] = path
        return path

    return make


# ------------------------------------------------------------------------------------------------ per variant


@pytest.mark.parametrize('name', VARIANTS)
def test_layout_and_param_count(name, loaded):
    model = loaded(name)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMS[name]
    keys = read_key_list(name)
    assert len(keys) == KEY_COUNTS[name]
    # same keys, same order, same shapes and dtypes as the authors' state_dict
    assert [(k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items()] == keys


@pytest.mark.parametrize('name', VARIANTS)
def test_official_checkpoint_logits(name, loaded):
    with torch.no_grad():
        logits = loaded(name)(reference_input(IMG, 2))
    torch.testing.assert_close(logits, _reference(name), atol=1e-4, rtol=0)


@pytest.mark.parametrize('name', VARIANTS)
def test_fold_equivalence(name, loaded):
    model = loaded(name)
    deployed = reparameterize_model(model)
    assert deployed.training is False
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deployed.modules())
    assert not any('layer_scale' in n or '.pe.' in n for n, _ in deployed.named_parameters())
    assert sum(isinstance(m, rn.DeployConv2d) for m in deployed.modules()) == \
        sum(isinstance(m, nn.Conv2d) for m in model.modules()) - 2  # heads stay plain convs
    x = reference_input(IMG, 2)
    odd = torch.randn(1, 3, 72, 56, generator=torch.Generator().manual_seed(1))  # batch 1, non-square, other borders
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), _reference(name), atol=1e-4, rtol=0)
        torch.testing.assert_close(deployed(odd), model(odd), atol=1e-4, rtol=0)
        feats = deployed.forward_intermediates(x, intermediates_only=True)
        for a, b in zip(feats, model.forward_intermediates(x, intermediates_only=True)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('name', VARIANTS)
def test_forward_backward_and_distillation(name):
    model = timm.create_model(name, num_classes=10, drop_path_rate=0.1)
    model.train()
    x = torch.randn(2, 3, IMG, IMG)
    logits, logits_dist = model(x)  # official train-mode output: the (head, dist_head) pair
    assert logits.shape == logits_dist.shape == (2, 10)
    (logits.mean() + logits_dist.mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    model.set_distilled_training(False)
    assert model(x).shape == (2, 10)
    model.eval()
    with torch.no_grad():
        emb = model.forward_head(model.forward_features(x), pre_logits=True)[..., None, None]
        expected = (model.head(emb) + model.dist_head(emb)).flatten(1) / 2
        torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize('name', VARIANTS)
def test_features_only(name, loaded, official_file):
    """Dense-task wrappers call timm.create_model(name, features_only=True, feature_cls='getter', out_indices=...).
    M and B load their dense-task backbone file (mmdet wrapper, 'backbone.' prefix); Ti and S the classifier file."""
    file = official_file(name, 'mmdet' if name in ('rapidnet_m', 'rapidnet_b') else 'cls')
    model = load_pretrained(name, file, features_only=True, feature_cls='getter', out_indices=(0, 1, 2, 3)).eval()
    assert model.feature_info.channels() == list(_cfg(name)['channels'])  # strides, shapes: test_models_common
    assert [info['module'] for info in model.feature_info.get_dicts()] == [f'backbone.{i}' for i in range(4)]
    x = reference_input(IMG, 2)
    with torch.no_grad():
        feats = model(x)
        expected = loaded(name).forward_intermediates(x, intermediates_only=True)
    assert len(feats) == len(expected) == 4
    for a, b in zip(feats, expected):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize('name', VARIANTS)
def test_reset_classifier_replaces_both_heads(name, loaded):
    """Outputs after reset_classifier (pre-logits, unpooled: the 1x1 pre-logits conv then runs per position):
    test_models_common.test_reset_classifier."""
    model = copy.deepcopy(loaded(name))
    emb_dim, last = _cfg(name)['emb_dim'], _cfg(name)['channels'][-1]
    assert (model.num_features, model.head_hidden_size) == (last, emb_dim)
    model.reset_classifier(0)
    assert model.num_classes == 0 and isinstance(model.get_classifier(), nn.Identity)
    model.reset_classifier(7, 'avg')
    assert model.head.out_channels == model.dist_head.out_channels == 7


@pytest.mark.parametrize('name', VARIANTS)
def test_wrong_checkpoint_is_one_line_error(name, official_file, tmp_path):
    other = OTHER_VARIANT[name]
    with pytest.raises(CheckpointError, match=f'does not fit {name}') as err:
        load_pretrained(name, official_file(other))
    assert '\n' not in str(err.value)
    # another family's checkpoint
    foreign = str(tmp_path / 'resnet.pth')
    save_official_checkpoint(foreign, {'conv1.weight': torch.zeros(64, 3, 7, 7), 'bn1.weight': torch.ones(64),
                                       'fc.weight': torch.zeros(1000, 2048), 'fc.bias': torch.zeros(1000)},
                             wrapper='state_dict')
    with pytest.raises(CheckpointError, match=f'does not fit {name}: .*missing keys.*unexpected keys') as err:
        load_pretrained(name, foreign)
    assert '\n' not in str(err.value)


# ------------------------------------------------------------------------------------------------ loader details


def test_dense_backbone_file(official_file, loaded):
    """rapidnet_m_feat layout without wrapper or prefix: loads into features_only, refused by a classifier."""
    file = official_file('rapidnet_m', 'feat')
    model = load_pretrained('rapidnet_m', file, features_only=True, out_indices=(1, 3)).eval()  # default feature_cls
    assert model.feature_info.reduction() == [8, 32]
    with torch.no_grad():
        feats = model(reference_input(IMG, 2))
        expected = loaded('rapidnet_m').forward_intermediates(reference_input(IMG, 2), indices=(1, 3),
                                                              intermediates_only=True)
    for a, b in zip(feats, expected):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    with pytest.raises(CheckpointError, match='only a rapidnet_m backbone.*features_only=True') as err:
        load_pretrained('rapidnet_m', file)
    assert '\n' not in str(err.value)


def test_deployed_key_form_loads(tmp_path):
    """The paper's deployed file (cpe.pe -> cpe.reparam_conv with the identity in the kernel) loads too."""
    sd = _official_sd('rapidnet_ti')
    deployed = {}
    for k, v in sd.items():
        if '.cpe.pe.' in k:
            k = k.replace('.cpe.pe.', '.cpe.reparam_conv.')
            if k.endswith('weight'):
                v = v.clone()
                v[:, 0, 3, 3] += 1
        deployed[k] = v
    path = save_official_checkpoint(str(tmp_path / 'deployed.pth'), deployed, wrapper='state_dict')
    model = load_pretrained('rapidnet_ti', path).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(reference_input(IMG, 2)), _reference('rapidnet_ti'), atol=1e-4, rtol=0)


def test_head_variants(official_file, loaded, tmp_path):
    """distillation=False drops the file's dist_head (logits = head alone); a single-head file into a distilled model
    copies head into dist_head (eval output = head alone); num_classes / in_chans adapt like any timm model."""
    ref_model = loaded('rapidnet_ti')
    x = reference_input(IMG, 2)
    with torch.no_grad():
        emb = ref_model.forward_head(ref_model.forward_features(x), pre_logits=True)[..., None, None]
        head_only = ref_model.head(emb).flatten(1)

    single = load_pretrained('rapidnet_ti', official_file('rapidnet_ti'), distillation=False).eval()
    assert single.dist_head is None
    assert sum(p.numel() for p in single.parameters()) == 6_114_840  # research A1: params without dist_head
    with torch.no_grad():
        torch.testing.assert_close(single(x), head_only)
    single.train()
    assert single(x).shape == (2, 1000)  # no pair without a dist_head

    sd = {k: v for k, v in _official_sd('rapidnet_ti').items() if not k.startswith('dist_head.')}
    path = save_official_checkpoint(str(tmp_path / 'single_head.pth'), sd)
    distilled = load_pretrained('rapidnet_ti', path).eval()
    with torch.no_grad():
        torch.testing.assert_close(distilled(x), head_only)

    adapted = load_pretrained('rapidnet_ti', official_file('rapidnet_ti'), num_classes=5, in_chans=1).eval()
    assert adapted.head.out_channels == adapted.dist_head.out_channels == 5
    official_stem = ref_model.stem.stem[0].weight
    torch.testing.assert_close(adapted.stem.stem[0].weight, official_stem.sum(1, keepdim=True))
    torch.testing.assert_close(adapted.backbone[3][4].ffn.fc2.weight, ref_model.backbone[3][4].ffn.fc2.weight)


# ------------------------------------------------------------------------------------------------ timm API


def test_official_names_and_registry():
    assert set(timm.list_models('rapidnet_*')) == set(VARIANTS)
    for name in VARIANTS:
        official = 'RapidNet_' + name.split('_')[-1].capitalize()
        assert timm.models._registry._deprecated_models[official] == name
        assert getattr(rn, official) is not None
    with pytest.warns(UserWarning, match='RapidNet_Ti'):
        model = timm.create_model('RapidNet_Ti')
    assert isinstance(model, rn.RapidNet) and sum(p.numel() for p in model.parameters()) == 6_627_840
    cfg = model.pretrained_cfg
    assert cfg['first_conv'] + '.weight' in model.state_dict()
    assert all(c + '.weight' in model.state_dict() for c in cfg['classifier'])
    assert cfg['input_size'] == (3, 224, 224) and cfg['crop_pct'] == 0.9 and cfg['license'] == 'apache-2.0'


def test_drop_path_is_linear_over_all_blocks():
    model = timm.create_model('rapidnet_ti', drop_path_rate=0.1)
    blocks = [b for stage in model.backbone for b in stage if not isinstance(b, rn.Downsample)]
    assert len(blocks) == 16
    rates = [b.drop_path.drop_prob if isinstance(b.drop_path, DropPath) else 0. for b in blocks]
    expected = torch.linspace(0, 0.1, 16).tolist()
    assert rates == pytest.approx(expected)  # the official schedule left IR blocks at 0 and peaked at 0.02


def test_timm_conventions(loaded):
    model = timm.create_model('rapidnet_ti', num_classes=0, global_pool='').eval()
    x = torch.randn(1, 3, IMG, IMG)
    with torch.no_grad():
        assert model(x).shape == (1, 512, 2, 2)
        assert model.forward_features(x).shape == (1, 224, 2, 2)
    groups = timm.models.group_parameters(loaded('rapidnet_ti'), loaded('rapidnet_ti').group_matcher())
    assert sum(len(v) for v in groups.values()) == len(list(loaded('rapidnet_ti').parameters()))
    assert loaded('rapidnet_ti').no_weight_decay() == set()

    ckpt = copy.deepcopy(loaded('rapidnet_ti'))
    ckpt.set_grad_checkpointing(True)
    x = reference_input(IMG, 2).requires_grad_()
    torch.testing.assert_close(ckpt(x), loaded('rapidnet_ti')(x))


def test_deploy_form_scripts_and_traces(loaded):
    """TorchScript, torch.jit.trace (the ONNX exporter's path) and torch.fx take the plain-conv path of the deployed
    model and give the same logits."""
    deployed = reparameterize_model(loaded('rapidnet_ti'))
    x = reference_input(IMG, 2)
    with torch.no_grad():
        expected = deployed(x)
        torch.testing.assert_close(torch.jit.script(deployed)(x), expected, atol=1e-4, rtol=0)
        torch.testing.assert_close(torch.jit.trace(deployed, x)(x), expected, atol=1e-4, rtol=0)
        torch.testing.assert_close(torch.fx.symbolic_trace(deployed)(x), expected, atol=1e-4, rtol=0)
