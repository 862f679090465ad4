"""Behaviour every family shares (timm's model interface, the loader in models/_checkpoint.py), one parametrized
test per behaviour; the family files keep what is particular to a family.

Models are built with random weights (these checks do not depend on them), on one intra-op thread.
"""
import pytest
import timm
import torch

import models  # noqa: F401  (registers the families)
from models import mpvit, rapidnet, repnext

pytestmark = pytest.mark.usefixtures('single_thread')

SMALLEST = ['fasternet_t0', 'mpvit_tiny', 'rapidnet_ti', 'repnext_m0', 'rexnet_100', 'rexnet_lite_100']
RAPIDNET = [f'rapidnet_{size}' for size in rapidnet.MODEL_CFGS]
REPNEXT = list(repnext.MODEL_CFGS)
MPVIT = list(mpvit.MODEL_CFGS)
# FasterNet M and L are slow to build: with the slow tests, as in test_fasternet.py
FASTERNET = ['fasternet_t0', 'fasternet_t1', 'fasternet_t2', 'fasternet_s',
             pytest.param('fasternet_m', marks=pytest.mark.slow), pytest.param('fasternet_l', marks=pytest.mark.slow)]
# the families built on models._features.StageFeatures, with the indices each family file pruned to
PRUNE_INDICES = {'rapidnet_ti': [0, 1], 'repnext_m0': [1], 'mpvit_tiny': [0, 1], 'fasternet_t0': [0, 1]}
IMG = 64


def _input(batch: int = 2, size: int = IMG) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize('name', SMALLEST)
def test_pretrained_file_with_other_in_chans_adapts_the_first_conv(name, tmp_path):
    """A 3-channel file loads into an ``in_chans=1`` model: the layout check accepts the first conv, timm sums it
    over the input channels; any other shape mismatch still fails."""
    source = timm.create_model(name)
    path = tmp_path / 'weights.pth'
    torch.save(source.state_dict(), path)
    model = timm.create_model(name, pretrained=True, in_chans=1, pretrained_cfg_overlay=dict(file=str(path)))
    key = model.pretrained_cfg['first_conv'] + '.weight'
    assert torch.allclose(model.state_dict()[key], source.state_dict()[key].sum(1, keepdim=True))
    other = next(k for k, v in source.state_dict().items() if k != key and v.ndim == 4 and v.shape[1] > 1)
    broken = dict(source.state_dict())
    broken[other] = broken[other][:, :1].clone()
    torch.save(broken, path)
    with pytest.raises(models.CheckpointError, match='shape mismatch'):
        timm.create_model(name, pretrained=True, in_chans=1, pretrained_cfg_overlay=dict(file=str(path)))


def _write_unreadable(path, kind: str) -> None:
    if kind == 'zip_header':  # starts like a torch zip file
        path.write_bytes(b'PK\x03\x04 not a checkpoint')
    elif kind == 'garbage':
        path.write_bytes(b'not a checkpoint at all' * 10)
    elif kind == 'truncated':  # a real checkpoint cut short
        torch.save({'weight': torch.zeros(4096)}, path)
        path.write_bytes(path.read_bytes()[:1000])


@pytest.mark.parametrize('kind', ['missing', 'zip_header', 'garbage', 'truncated'])
@pytest.mark.parametrize('name', SMALLEST + ['repnext_m1'])
def test_unreadable_file_is_one_line_error(name, kind, tmp_path):
    path = tmp_path / f'{kind}.pth'
    _write_unreadable(path, kind)
    with pytest.raises(models.CheckpointError) as err:
        timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    message = str(err.value)
    assert '\n' not in message and str(path) in message
    assert ('not found' in message) == (kind == 'missing')


@pytest.mark.parametrize('name, size', [(n, IMG) for n in REPNEXT] + [(n, 32) for n in MPVIT])
def test_forward_backward(name, size):
    model = timm.create_model(name, num_classes=7, drop_path_rate=0.1).train()
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 7)
    out.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f'no gradient for {missing[:3]}'
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize('name', RAPIDNET + REPNEXT + ['mpvit_tiny', 'fasternet_t0', 'rexnet_100', 'rexnet_lite_100'])
def test_reset_classifier(name):
    """0 classes: the pre-logits features; with ``global_pool=''`` the unpooled map (a conv pre-logits layer then
    runs per position); then a new classifier."""
    model = timm.create_model(name).eval()
    x = _input()
    with torch.no_grad():
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
        assert pre.shape == (2, model.head_hidden_size)
        model.reset_classifier(0)
        assert model.num_classes == 0
        torch.testing.assert_close(model(x), pre)
        model.reset_classifier(0, '')
        assert model(x).shape == (2, model.head_hidden_size, IMG // 32, IMG // 32)
        model.reset_classifier(7, 'avg')
        assert model.num_classes == 7
        assert model(x).shape == (2, 7)


@pytest.mark.parametrize('name', RAPIDNET + REPNEXT + FASTERNET + ['rexnet_090', 'rexnet_lite_130'])
def test_features_only_levels(name):
    """``features_only=True`` (each family's default wrapper and levels) gives maps at strides 4, 8, 16, 32 with the
    channels ``feature_info`` states; the channel values themselves are checked in the family files."""
    model = timm.create_model(name, features_only=True).eval()
    assert model.feature_info.reduction() == [4, 8, 16, 32]
    with torch.no_grad():
        feats = model(_input(1))
    assert [tuple(f.shape) for f in feats] == [(1, c, IMG // r, IMG // r) for c, r in
                                               zip(model.feature_info.channels(), (4, 8, 16, 32))]


@pytest.mark.parametrize('name, prune_indices', PRUNE_INDICES.items(), ids=list(PRUNE_INDICES))
def test_forward_intermediates_and_prune(name, prune_indices):
    """timm's interface on a stem + one stage per level (models._features.StageFeatures)."""
    model = timm.create_model(name).eval()
    x = _input()
    info = model.feature_info
    with torch.no_grad():
        final, feats = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x))
        assert [tuple(f.shape) for f in feats] == [(2, i['num_chs'], IMG // i['reduction'], IMG // i['reduction'])
                                                   for i in info]
        torch.testing.assert_close(feats[-1], final)
        torch.testing.assert_close(model.forward_intermediates(x, indices=2, intermediates_only=True), feats[2:])
        some = model.forward_intermediates(x, indices=[2, 0, 2], intermediates_only=True)
        torch.testing.assert_close(some, [feats[0], feats[2]])  # in stage order, once each
        last, early = model.forward_intermediates(x, indices=[1], stop_early=True)
        torch.testing.assert_close(early, feats[1:2])
        torch.testing.assert_close(last, feats[1])  # stopped there
        if 'NHWC' in model.feature_output_fmts:
            nhwc = model.forward_intermediates(x, indices=2, output_fmt='NHWC', intermediates_only=True)
            torch.testing.assert_close([f.permute(0, 3, 1, 2) for f in nhwc], feats[2:])
        else:
            with pytest.raises(AssertionError, match='Output shape must be NCHW'):
                model.forward_intermediates(x, output_fmt='NHWC')
    model.set_grad_checkpointing(True)
    final_ckpt, feats_ckpt = model.forward_intermediates(x.clone().requires_grad_())
    torch.testing.assert_close(feats_ckpt, feats)
    final_ckpt.sum().backward()
    model.set_grad_checkpointing(False)

    assert model.prune_intermediate_layers(prune_indices) == prune_indices
    assert all(len(getattr(model, attr)) == 2 for attr in model.feature_stage_attrs)
    assert model.num_classes == 0 and model.num_features == model.head_hidden_size == info[1]['num_chs']
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), feats[1])
        torch.testing.assert_close(model.forward_intermediates(x, intermediates_only=True), feats[:2])
        assert model(x).shape == (2, info[1]['num_chs'], IMG // 8, IMG // 8)  # the stride-8 map, unpooled


class _StopEarly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_intermediates(x, indices=[1], stop_early=True)


@pytest.mark.parametrize('name', ['rapidnet_ti', 'repnext_m0'])
def test_forward_intermediates_scripts(name):
    """Their stages are a models._features.FeatureStages: TorchScript compiles forward_intermediates (a scripted
    ``features_only`` getter), with the eager results, ``stop_early`` included."""
    getter = timm.create_model(name, features_only=True, feature_cls='getter').eval()
    stop_early = _StopEarly(timm.create_model(name).eval())
    x = _input(1)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.script(getter)(x), getter(x), atol=0, rtol=0)
        torch.testing.assert_close(torch.jit.script(stop_early)(x), stop_early(x), atol=0, rtol=0)
