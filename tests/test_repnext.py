"""RepNeXt M0-M5: official checkpoints, parameter counts, folding, distillation heads, features, timm conventions.

Key lists and reference logits were recorded once from the authors' code (suous/RepNeXt @ f515377, model/repnext.py)
on synthetic_state_dict(keys, seed=0) weights and reference_input() (2 x 3 x 64 x 64, eval, unfused). Those weights
have no layer scale to tame the residual stream, so the logits grow with depth (up to ~2e15 for M5): they are compared
relative to their largest magnitude.
"""
import copy

import pytest
import torch
import torch.fx
import torch.nn as nn
import timm
from timm.utils import reparameterize_model

import models  # noqa: F401  (registers the families)
from models import repnext as repnext_module
from models._checkpoint import CheckpointError
from official_layout import official_files, read_key_list, read_reference, reference_input, synthetic_state_dict

VARIANTS = [f'repnext_m{i}' for i in range(6)]
# Official parameter counts (authors' code, measured; research B1): training form with both heads, and the official
# fused form (README params). Our deploy form also folds every block/down-sampling BatchNorm2d (2 params/channel).
TRAIN_PARAMS = {'repnext_m0': 2_716_480, 'repnext_m1': 5_323_316, 'repnext_m2': 7_049_082,
                'repnext_m3': 8_466_560, 'repnext_m4': 14_080_480, 'repnext_m5': 22_708_860}
OFFICIAL_FUSED_PARAMS = {'repnext_m0': 2_333_200, 'repnext_m1': 4_829_560, 'repnext_m2': 6_473_200,
                         'repnext_m3': 7_818_920, 'repnext_m4': 13_342_120, 'repnext_m5': 21_737_560}
DEPLOY_PARAMS = {'repnext_m0': 2_328_080, 'repnext_m1': 4_820_056, 'repnext_m2': 6_462_112,
                 'repnext_m3': 7_807_272, 'repnext_m4': 13_321_512, 'repnext_m5': 21_707_000}
KEY_COUNTS = {'repnext_m0': 671, 'repnext_m1': 1022, 'repnext_m2': 1022, 'repnext_m3': 944, 'repnext_m4': 1646,
              'repnext_m5': 2114}
# Official dense backbones (detection/segmentation, research B5): parameters and keys, no classifier.
DENSE_BACKBONE = {'repnext_m3': (7_438_512, 930), 'repnext_m4': (13_052_432, 1632), 'repnext_m5': (21_424_300, 2100)}
IMG = 64


def _official_sd(name, seed=0):
    return synthetic_state_dict(read_key_list(name), seed=seed)


def _assert_matches_reference(logits, name):
    ref = read_reference(name)
    scale = ref['max_abs']
    tol = dict(atol=1e-5 * scale, rtol=0)
    torch.testing.assert_close(logits[:, :50].double(), torch.tensor(ref['logits_first50'], dtype=torch.float64), **tol)
    torch.testing.assert_close(logits.double().sum(1), torch.tensor(ref['row_sum'], dtype=torch.float64),
                               atol=1e-5 * scale * logits.shape[1] ** 0.5, rtol=0)
    torch.testing.assert_close(logits.double().abs().sum(1), torch.tensor(ref['row_abs_sum'], dtype=torch.float64),
                               atol=1e-5 * scale * logits.shape[1] ** 0.5, rtol=0)


def _block_channels(name):
    cfg = repnext_module.MODEL_CFGS[name]
    return sum(d * n for d, n in zip(cfg['embed_dim'], cfg['depth'])) + sum(cfg['embed_dim'][1:])


@torch.no_grad()
def _calibrated(model, seed=0):
    """A copy whose BatchNorm running stats are the batch stats of one random batch (non-trivial, O(1) outputs)."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
    model.train()
    model(torch.randn(4, 3, IMG, IMG, generator=torch.Generator().manual_seed(seed)))
    return model.eval()


# one intra-op thread (measured 40x less CPU time than two for the same M5 forwards on the shared machine)
pytestmark = pytest.mark.usefixtures('single_thread')


@pytest.fixture(scope='module')
def official_file(ckpt_dir):
    """Synthetic checkpoint of a variant, by default in the release wrapper ``{'model': state_dict}``."""
    return official_files(ckpt_dir, wrapper='model')


# ---------------------------------------------------------------------------------------------------------------
# Per variant
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize('name', VARIANTS)
def test_official_layout_loads_strict_and_matches_reference(name, loaded):
    model = loaded(name)
    keys = read_key_list(name)
    assert len(keys) == KEY_COUNTS[name]
    ours = model.state_dict()
    assert [k for k, _, _ in keys] == list(ours), 'key names or order differ from the official layout'
    assert all(tuple(shape) == tuple(ours[k].shape) and dtype == ours[k].dtype for k, shape, dtype in keys)
    expected = _official_sd(name)
    assert all(torch.equal(ours[k], v) for k, v in expected.items()), 'weights were not loaded unchanged'
    with torch.no_grad():
        logits = model(reference_input(IMG, 2))
    _assert_matches_reference(logits, name)


@pytest.mark.parametrize('name', VARIANTS)
def test_param_counts_train_and_deploy(name, loaded):
    model = loaded(name)
    assert sum(p.numel() for p in model.parameters()) == TRAIN_PARAMS[name]
    deploy = reparameterize_model(model)
    deploy_params = sum(p.numel() for p in deploy.parameters())
    assert deploy_params == DEPLOY_PARAMS[name]
    # exactly the official fused form minus the folded BatchNorm2d affine (weight + bias per channel)
    assert deploy_params == OFFICIAL_FUSED_PARAMS[name] - 2 * _block_channels(name)


@pytest.mark.parametrize('name', VARIANTS)
def test_fold_equivalence(name, loaded):
    model = _calibrated(loaded(name))
    deploy = reparameterize_model(model)
    assert not any(isinstance(m, (nn.modules.batchnorm._BatchNorm, repnext_module.RepDWConvS,
                                  repnext_module.RepDWConvM, repnext_module.ConvNorm)) for m in deploy.modules())
    x = torch.randn(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        y, y_deploy = model(x), deploy(x)
        feats, feats_deploy = model.forward_intermediates(x)[1], deploy.forward_intermediates(x)[1]
    assert y.abs().max() > 0.1  # a real signal, not a collapsed network
    torch.testing.assert_close(y_deploy, y, atol=1e-4, rtol=0)
    for a, b in zip(feats, feats_deploy):
        # the residual stream reaches ~28 in M5's stage 3, where each fp32 form is ~9e-5 from a float64 run: scale
        # the tolerance with the feature magnitude
        torch.testing.assert_close(b, a, atol=1e-4 * max(1., a.abs().max().item() / 10), rtol=1e-5)
    # the synthetic official weights (residual stream up to ~1e15) agree relatively, too
    with torch.no_grad():
        ref_in = reference_input(IMG, 2)
        a, b = loaded(name)(ref_in), reparameterize_model(loaded(name))(ref_in)
    assert ((a - b).abs().max() / a.abs().max()).item() < 1e-5


@pytest.mark.parametrize('name', VARIANTS)
def test_features_only(name):
    """Strides and map shapes: test_models_common.test_features_only_levels."""
    cfg = repnext_module.MODEL_CFGS[name]
    model = timm.create_model(name, features_only=True).eval()
    assert model.feature_info.channels() == list(cfg['embed_dim'])
    assert not any(k.startswith('head') for k in model.state_dict())
    if name in DENSE_BACKBONE:
        assert (sum(p.numel() for p in model.parameters()), len(model.state_dict())) == DENSE_BACKBONE[name]


@pytest.mark.parametrize('name', VARIANTS)
def test_unpooled_output_is_the_feature_map(name, loaded):
    """Pooled and unpooled shapes after reset_classifier: test_models_common.test_reset_classifier."""
    model = copy.deepcopy(loaded(name))
    assert model.num_features == model.head_hidden_size == repnext_module.MODEL_CFGS[name]['embed_dim'][-1]
    x = torch.randn(1, 3, IMG, IMG)
    model.reset_classifier(0, '')
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_features(x))


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint paths (one variant each)
# ---------------------------------------------------------------------------------------------------------------


def test_starnet_wrapper_and_ema_preference(official_file, loaded, tmp_path):
    name = 'repnext_m0'
    model = timm.create_model(name, pretrained=True,
                              pretrained_cfg_overlay=dict(file=official_file(name, 'state_dict'))).eval()
    with torch.no_grad():
        _assert_matches_reference(model(reference_input(IMG, 2)), name)
    # a training checkpoint with EMA weights: timm prefers the EMA copy
    path = tmp_path / 'train.pth'
    torch.save({'model': _official_sd(name, seed=1), 'model_ema': _official_sd(name), 'epoch': 3}, path)
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path))).eval()
    with torch.no_grad():
        _assert_matches_reference(model(reference_input(IMG, 2)), name)


def test_new_num_classes_keeps_head_norm(official_file):
    """The official --finetune cannot do this (it deletes LeViT key names): only the Linear layers are dropped."""
    name = 'repnext_m1'
    sd = _official_sd(name)
    model = timm.create_model(name, pretrained=True, num_classes=10,
                              pretrained_cfg_overlay=dict(file=official_file(name)))
    ours = model.state_dict()
    assert ours['head.head.linear.weight'].shape == (10, 384)
    assert ours['head.head_dist.linear.weight'].shape == (10, 384)
    for head in ('head', 'head_dist'):
        torch.testing.assert_close(ours[f'head.{head}.norm.running_var'], sd[f'head.{head}.norm.running_var'])
    torch.testing.assert_close(ours['stages.2.blocks.3.token_mixer.conv_m.conv_7_7.weight'],
                               sd['stages.2.blocks.3.token_mixer.conv_m.conv_7_7.weight'])


def test_in_chans_adapts_first_conv(official_file):
    model = timm.create_model('repnext_m0', pretrained=True, in_chans=1,
                              pretrained_cfg_overlay=dict(file=official_file('repnext_m0')))
    weight = model.state_dict()['stem.stem.0.conv.weight']
    assert weight.shape == (20, 1, 3, 3)
    torch.testing.assert_close(weight[:, 0], _official_sd('repnext_m0')['stem.stem.0.conv.weight'].sum(1))


def test_dense_checkpoint_into_features_only(loaded, tmp_path):
    """Detection/segmentation files: classification keys minus heads, under ``backbone.``, next to other modules."""
    name = 'repnext_m3'
    sd = {k: v for k, v in _official_sd(name).items() if not k.startswith('head.')}
    assert len(sd) == KEY_COUNTS[name] - 14
    dense = {'backbone.' + k: v for k, v in sd.items()}
    dense['neck.lateral_convs.0.conv.weight'] = torch.zeros(256, 64, 1, 1)
    path = tmp_path / 'coco.pth'
    torch.save({'meta': {'epoch': 12}, 'state_dict': dense}, path)
    x = reference_input(IMG, 2)
    with torch.no_grad():
        expected = loaded(name).forward_intermediates(x, intermediates_only=True)
    for feature_cls in (None, 'getter'):
        kwargs = dict(feature_cls=feature_cls) if feature_cls else {}
        model = timm.create_model(name, pretrained=True, features_only=True, out_indices=(0, 1, 2, 3),
                                  pretrained_cfg_overlay=dict(file=str(path)), **kwargs).eval()
        with torch.no_grad():
            feats = model(x)
        for a, b in zip(feats, expected):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    # the same file with a plain backbone state_dict (no prefix), and the classification release, load too
    torch.save(sd, path)
    timm.create_model(name, pretrained=True, features_only=True, pretrained_cfg_overlay=dict(file=str(path)))


def test_features_only_deploy_form(loaded):
    """Feature extractors (list and getter wrappers) fold through timm's walker too, with the same maps."""
    model = _calibrated(loaded('repnext_m0'))
    x = torch.randn(1, 3, IMG, IMG)
    with torch.no_grad():
        expected = model.forward_intermediates(x, intermediates_only=True)
    for feature_cls in ('list', 'getter'):
        features = timm.create_model('repnext_m0', features_only=True, feature_cls=feature_cls).eval()
        sd = {k: v for k, v in model.state_dict().items() if not k.startswith('head.')}
        target = features.model if feature_cls == 'getter' else features
        target.load_state_dict(sd if feature_cls == 'getter' else {k.replace('stages.', 'stages_', 1): v
                                                                   for k, v in sd.items()})
        deploy = reparameterize_model(features)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in deploy.modules())
        with torch.no_grad():
            for a, b in zip(deploy(x), expected):
                torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)


def test_wrong_variant_file_fails_with_one_line(official_file):
    """Missing and unreadable files: test_models_common.test_unreadable_file_is_one_line_error."""
    with pytest.raises(CheckpointError) as err:  # an M0 checkpoint into M1
        timm.create_model('repnext_m1', pretrained=True,
                          pretrained_cfg_overlay=dict(file=official_file('repnext_m0')))
    message = str(err.value)
    assert 'repnext_m1' in message and 'shape' in message and '\n' not in message


# ---------------------------------------------------------------------------------------------------------------
# Behaviour (one small variant)
# ---------------------------------------------------------------------------------------------------------------


def test_distillation_heads(loaded):
    model = copy.deepcopy(loaded('repnext_m0'))
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        pooled = model.forward_head(model.forward_features(x), pre_logits=True)
        head, head_dist = model.head.head(pooled), model.head.head_dist(pooled)
        assert not torch.allclose(head, head_dist)
        torch.testing.assert_close(model(x), (head + head_dist) / 2)  # eval: the mean
        model.train()
        assert isinstance(model(x), torch.Tensor)  # train, distilled training off (the official default)
        model.set_distilled_training(True)
        out = model(x)
        assert isinstance(out, tuple) and len(out) == 2 and out[0].shape == (2, 1000)
        model.eval()
        assert isinstance(model(x), torch.Tensor)
    built = timm.create_model('repnext_m0', distillation=True, num_classes=5).train()
    assert isinstance(built(x), tuple)
    built.reset_classifier(3)  # both heads are rebuilt; the distilled-training switch survives
    assert isinstance(built.head.head_dist, repnext_module.NormLinear)
    assert [o.shape for o in built(x)] == [(2, 3), (2, 3)]


def test_builder_kwargs_and_drop_path_schedule():
    model = timm.create_model('repnext_m0', drop_path_rate=0.2, drop_rate=0.3, in_chans=4, num_classes=11,
                              global_pool='max', act_layer='relu')
    rates = [b.drop_path.drop_prob if hasattr(b.drop_path, 'drop_prob') else 0.
             for s in model.stages for b in s.blocks]
    assert len(rates) == sum(repnext_module.MODEL_CFGS['repnext_m0']['depth'])
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.2, len(rates)))
    assert model.head_drop.p == 0.3 and model.stem.stem[0].conv.in_channels == 4
    assert isinstance(model.stem.stem[1], nn.ReLU) and model.global_pool.pool_type == 'max'
    assert model(torch.randn(2, 4, IMG, IMG)).shape == (2, 11)


def test_grad_checkpointing_same_gradients():
    torch.manual_seed(0)
    model = timm.create_model('repnext_m0', num_classes=5).train()
    x = torch.randn(2, 3, IMG, IMG)
    model(x).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[n], atol=1e-5, rtol=1e-4)


def test_timm_metadata_and_group_matcher():
    assert timm.list_models('repnext_*') == VARIANTS
    model = timm.create_model('repnext_m0')
    cfg = model.pretrained_cfg
    state = model.state_dict()
    for classifier in cfg['classifier']:
        assert classifier + '.weight' in state
    assert cfg['first_conv'] + '.weight' in state
    assert cfg['url'].endswith('repnext_m0_distill_300e.pth') and cfg['paper_ids'] == 'arXiv:2406.16004'
    assert cfg['pool_size'] == (7, 7) and cfg['license'] == 'apache-2.0'
    assert 'repnext_m0.starnet_dist_in1k' in timm.list_pretrained('repnext_m0*')
    assert [info['module'] for info in model.feature_info] == [f'stages.{i}' for i in range(4)]
    for info in model.feature_info:
        model.get_submodule(info['module'])
    from timm.models import group_parameters
    groups = group_parameters(model, model.group_matcher())
    assert sum(len(g) for g in groups.values()) == len(list(model.parameters()))


def test_torchscript_train_and_deploy_forms(loaded):
    model = loaded('repnext_m0')
    x = torch.randn(1, 3, IMG, IMG)
    with torch.no_grad():
        scripted = torch.jit.script(copy.deepcopy(model))
        torch.testing.assert_close(scripted(x), model(x))
        deploy = reparameterize_model(model)
        # scripted: the plain convs; eager: oneDNN kernels (equal to float rounding, relative to these synthetic
        # weights' large logits)
        y = deploy(x)
        torch.testing.assert_close(torch.jit.script(deploy)(x), y, atol=1e-5 * y.abs().max().item(), rtol=0)


@pytest.mark.skipif(not models._blocks.ONEDNN_POINTWISE, reason='this PyTorch build has no oneDNN fused ops')
def test_deploy_fast_paths_and_traced_forms_match_training_form(loaded):
    """The deploy form equals the training form within 1e-4 on its CPU fast paths (oneDNN convs and inner products on
    pre-packed weights, fused GELU, banded matmuls for the large kernel pair on maps up to 32x32, oneDNN convs above)
    at batch 1 and 2, and on the plain paths taken under torch.jit.trace (ONNX export), torch.fx, autograd."""
    from models import _blocks
    model = _calibrated(loaded('repnext_m0'))
    deploy = reparameterize_model(model)
    for x in (torch.randn(1, 3, 144, 144, generator=torch.Generator().manual_seed(3)),  # maps 36 (convs) .. 5
              torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))):   # maps 16 .. 2 (banded)
        with torch.no_grad():
            expected = model(x)
        traced = copy.deepcopy(deploy)  # fresh modules: nothing packed yet
        with torch.no_grad():
            graph = torch.jit.trace(traced, x, check_trace=False)  # the check would rerun it in plain eager
        assert not any(traced_m in _blocks._DERIVED for traced_m in traced.modules())  # tracing took the plain path
        assert 'mkldnn' not in str(graph.inlined_graph)
        with torch.inference_mode():
            fast = deploy(x)
        blocks = [m for m in deploy.modules() if isinstance(m, repnext_module.MetaNeXtDeploy)]
        assert len(blocks) == 14 and all(m in _blocks._DERIVED for m in blocks)  # packed: the fast path ran
        fx = torch.fx.symbolic_trace(deploy)
        with torch.no_grad():
            outputs = {'fast': fast, 'jit.trace': graph(x), 'fx': fx(x)}
        outputs['autograd'] = deploy(x.clone().requires_grad_())
        for path, y in outputs.items():
            assert y.shape == expected.shape, path
            torch.testing.assert_close(y.detach(), expected, atol=1e-4, rtol=0, msg=lambda m: f'{path}: {m}')


def test_deploy_caches_follow_weight_updates(loaded):
    """Packed / assembled weights are derived once and reused; a weight written in place, swapped by .to(), or
    reloaded is seen by the next forward."""
    deploy = reparameterize_model(_calibrated(loaded('repnext_m0')))
    x = torch.randn(1, 3, IMG, IMG, generator=torch.Generator().manual_seed(5))
    block = deploy.stages[2].blocks[0]
    with torch.no_grad():
        before = deploy(x)
        saved = copy.deepcopy(deploy.state_dict())
        for p in (block.token_mixer.weight_m, block.token_mixer.conv_l[1].bias, block.fc1.weight, block.fc2.bias):
            p.mul_(1.5)  # in place: the version counter moves
        changed = deploy(x)
        deploy.double().float()  # .to() swaps param.data
        assert torch.equal(deploy(x), changed)
        reference = copy.deepcopy(deploy)
        torch.testing.assert_close(torch.jit.script(reference)(x), changed, atol=1e-4, rtol=0)  # plain path agrees
        deploy.load_state_dict(saved)  # copies in place
        torch.testing.assert_close(deploy(x), before, atol=0, rtol=0)
        block.fc1.weight.mul_(1.5)
        deploy.load_state_dict(saved, assign=True)  # new Parameter objects
        torch.testing.assert_close(deploy(x), before, atol=0, rtol=0)
    assert not torch.allclose(changed, before)
