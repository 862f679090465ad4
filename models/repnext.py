"""RepNeXt: a fast multi-scale CNN with serial and parallel structural re-parameterisation.

Paper: `RepNeXt: A Fast Multi-Scale CNN using Structural Reparameterization` - https://arxiv.org/abs/2406.16004
Official code (Apache-2.0): https://github.com/suous/RepNeXt (``model/repnext.py``). This is an independent
implementation that keeps the official ``state_dict`` layout, so the released files load unchanged and strictly.

Train form. Each MetaNeXt block is ``x + mlp(bn(token_mixer(x)))``; the token mixer chunks the channels in four
(identity, small, medium, large kernels). The small branch is a 3x3 depthwise conv plus 1x3, 3x1 and a dilated 2x2
(its corners); the medium branch a 7x7 plus 5x3, 3x5 and the serial pairs 1x7->7x1 and 1x5->5x1; the large branch the
serial pair 1x11->11x1. Stages 1-3 open with a stride-2 block that copies the input into a small and a medium branch,
concatenates them (channels doubled), normalises, and adds an MLP residual. The classifier is two BatchNorm1d+Linear
heads (class and distillation token) whose outputs are averaged at inference.

Deploy form (``timm.utils.reparameterize_model``): every conv-BN pair, the small and medium kernel branches (stride 1
and stride 2; 3x3 and 7x7) and the averaged heads are folded, as in the paper. It goes further than the official
``replace_batchnorm``, exactly (max |diff| ~1e-6 relative): the block BatchNorm folds into the first 1x1 conv of the
MLP and the down-sampling BatchNorm into its two depthwise convs (so the deploy form has 2 parameters per such channel
fewer than the official fused form, e.g. M1 4,820,056 vs 4,829,560). The deploy modules (:class:`MetaNeXtDeploy`,
:class:`FusedChunkConv`, the down-sampling ``Residual``) are built from the shared ``models._blocks.DeployConv2d``
(channels-last weights: the network runs NHWC end to end). In plain eager CPU float32 inference every conv is one
oneDNN call on a weight pre-packed per input shape, the 1x1 convs are inner products on the NHWC buffer with GELU
fused, the residual is added in place, the small and medium quarters run as one 7x7 depthwise conv, and on small maps
the large 1x11 -> 11x1 pair runs as two batched matmuls with banded matrices. At batch 1 each oneDNN call costs ~50 us
whatever its size, so fewer calls (and less Python per block) matter as much as MACs. Traced (ONNX), scripted, FX,
compiled or with autograd, the same modules run the plain convs. The deploy ``state_dict`` has no official
counterpart (the official ``*_fused.pt`` are TorchScript archives).

Behaviour that differs from the official code, on purpose:

* ``drop_path_rate`` adds stochastic depth (linear over the MetaNeXt blocks, on the MLP residual); the official
  builders swallow it. The default 0 is the official network.
* ``set_distilled_training(enable)`` (timm's DeiT/LeViT convention) switches whether train mode returns the pair
  ``(head, head_dist)``; ``distillation=True`` at build time only sets its initial state. Eval always averages. Both
  heads always exist, as in the released checkpoints.
* ``reset_classifier`` rebuilds both heads. Loading a checkpoint into a model with another ``num_classes`` keeps the
  heads' BatchNorm1d and drops only their Linear layers (the official ``--finetune`` deletes LeViT key names that do
  not exist here, so fine-tuning to new classes fails with a size mismatch).
* One head dropout (``drop_rate``); the official classifier carries a second, always-zero, dropout.
* Every builder kwarg is honoured (``in_chans``, ``global_pool``, ``act_layer``, ``drop_path_rate``, ...).
* Dense tasks: ``features_only=True`` (``out_indices``, strides 4-32) builds without a classifier and loads the
  classification release, or a detection/segmentation checkpoint (``backbone.`` prefix stripped, other keys such as
  ``neck.*`` dropped). The official dense backbones need ``init_cfg``, always return all four stages, and their
  BatchNorm freeze is a no-op; freezing belongs to the dense wrapper here.
"""
from typing import Any, Dict, List, Optional, Tuple, Type, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import DropPath, SelectAdaptivePool2d, get_act_layer, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._manipulate import checkpoint_seq

from ._blocks import (GELU_POST_OP, ConvNorm, DeployConv2d, Residual, cached, derived_tensor, fuse_bn_linear,
                      fuse_to_deploy_conv, onednn_inference, onednn_post_op, pack_conv_weight, plain_eager, run_packed)
from ._checkpoint import build_model, check_state_dict, classifier_prefixes
from ._features import FeatureStages, StageFeatures

__all__ = ['RepNext', 'checkpoint_filter_fn']


# --------------------------------------------------------------------------------------------------------------------
# Folding helpers


def _depthwise(dim: int, kernel_size, stride=1, padding=0, dilation=1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(dim, dim, kernel_size, stride, padding, dilation, groups=dim, bias=bias)


@torch.no_grad()
def _conv_like(ref: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    """A conv with ``ref``'s geometry (stride, padding, groups) holding the given folded weight and bias."""
    conv = nn.Conv2d(
        ref.in_channels, weight.shape[0], weight.shape[2:], stride=ref.stride, padding=ref.padding,
        groups=ref.groups, bias=True, device=weight.device, dtype=weight.dtype)
    conv.weight.copy_(weight)
    conv.bias.copy_(bias)
    return conv


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    return conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)


def _norm_scale_shift(norm: nn.BatchNorm2d) -> Tuple[torch.Tensor, torch.Tensor]:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return scale, norm.bias - norm.running_mean * scale


@torch.no_grad()
def _fold_norm_after(conv: nn.Conv2d, scale: torch.Tensor, shift: torch.Tensor) -> nn.Conv2d:
    """``affine(conv(x))`` as one conv (per output channel)."""
    return _conv_like(conv, conv.weight * scale.reshape(-1, 1, 1, 1), _bias(conv) * scale + shift)


@torch.no_grad()
def _fold_norm_before(norm: nn.BatchNorm2d, conv: nn.Conv2d) -> nn.Conv2d:
    """``conv(norm(x))`` as one conv; exact only for an unpadded 1x1 dense conv (no border where zeros skip BN)."""
    assert conv.kernel_size == (1, 1) and conv.groups == 1
    scale, shift = _norm_scale_shift(norm)
    weight = conv.weight * scale.reshape(1, -1, 1, 1)
    bias = _bias(conv) + conv.weight.flatten(1) @ shift
    return _conv_like(conv, weight, bias)


# --------------------------------------------------------------------------------------------------------------------
# Multi-branch depthwise convs


class RepDWConvS(nn.Module):
    """Small-kernel depthwise branch: 3x3 + 1x3 + 3x1 + dilated 2x2 (the 3x3 corners); folds into one 3x3.

    Stride 1 sums the four branches in parallel; stride 2 runs 1x3 -> 3x1 in series (their outer product), and
    then, as in the released checkpoints, that pair has no bias.
    """

    def __init__(self, dim: int, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.conv_3_3 = _depthwise(dim, 3, stride, padding=1)
        self.conv_3_w = _depthwise(dim, (1, 3), (1, stride), padding=(0, 1), bias=stride == 1)
        self.conv_3_h = _depthwise(dim, (3, 1), (stride, 1), padding=(1, 0), bias=stride == 1)
        self.conv_2_2 = _depthwise(dim, 2, stride, padding=1, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return self.conv_3_3(x) + self.conv_3_h(x) + self.conv_3_w(x) + self.conv_2_2(x)
        return self.conv_3_3(x) + self.conv_3_h(self.conv_3_w(x)) + self.conv_2_2(x)

    @torch.no_grad()
    def fold(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The equivalent 3x3 kernel and bias."""
        weight = self.conv_3_3.weight.clone()
        bias = self.conv_3_3.bias + self.conv_2_2.bias
        weight[:, :, ::2, ::2] += self.conv_2_2.weight  # dilation 2: the four corner taps
        if self.stride == 1:
            weight[:, :, 1:2, :] += self.conv_3_w.weight
            weight[:, :, :, 1:2] += self.conv_3_h.weight
            bias = bias + self.conv_3_w.bias + self.conv_3_h.bias
        else:  # bias-free serial pair: kernel[i, j] = h[i] * w[j]
            weight += self.conv_3_h.weight * self.conv_3_w.weight
        return weight, bias

    def fuse(self) -> nn.Conv2d:
        return _conv_like(self.conv_3_3, *self.fold())


class RepDWConvM(nn.Module):
    """Medium-kernel depthwise branch: 7x7 + 5x3 + 3x5 + serial 1x7->7x1 and 1x5->5x1 (no bias); folds into a 7x7."""

    def __init__(self, dim: int, stride: int = 1):
        super().__init__()
        self.conv_7_7 = _depthwise(dim, 7, stride, padding=3)
        self.conv_5_3 = _depthwise(dim, (5, 3), stride, padding=(2, 1))
        self.conv_3_5 = _depthwise(dim, (3, 5), stride, padding=(1, 2))
        self.conv_7_w = _depthwise(dim, (1, 7), (1, stride), padding=(0, 3), bias=False)
        self.conv_7_h = _depthwise(dim, (7, 1), (stride, 1), padding=(3, 0), bias=False)
        self.conv_5_w = _depthwise(dim, (1, 5), (1, stride), padding=(0, 2), bias=False)
        self.conv_5_h = _depthwise(dim, (5, 1), (stride, 1), padding=(2, 0), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv_7_7(x) + self.conv_5_3(x) + self.conv_3_5(x)
                + self.conv_7_h(self.conv_7_w(x)) + self.conv_5_h(self.conv_5_w(x)))

    @torch.no_grad()
    def fold(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The equivalent 7x7 kernel and bias (smaller kernels centred)."""
        weight = self.conv_7_7.weight.clone()
        weight[:, :, 1:6, 2:5] += self.conv_5_3.weight
        weight[:, :, 2:5, 1:6] += self.conv_3_5.weight
        weight += self.conv_7_h.weight * self.conv_7_w.weight
        weight[:, :, 1:6, 1:6] += self.conv_5_h.weight * self.conv_5_w.weight
        return weight, self.conv_7_7.bias + self.conv_5_3.bias + self.conv_3_5.bias

    def fuse(self) -> nn.Conv2d:
        return _conv_like(self.conv_7_7, *self.fold())


class ChunkConv(nn.Module):
    """Token mixer of a MetaNeXt block: channel quarters (identity, small, medium, large) concatenated back.

    The large branch (1x11 -> 11x1, both with bias) stays serial when deployed: the bias between the two convs
    makes a single 11x11 inexact at the borders.
    """

    def __init__(self, dim: int):
        super().__init__()
        assert dim % 4 == 0, f'RepNeXt blocks need channels divisible by 4, got {dim}'
        quarter = self.quarter = dim // 4
        self.conv_s = RepDWConvS(quarter)
        self.conv_m = RepDWConvM(quarter)
        self.conv_l = nn.Sequential(
            _depthwise(quarter, (1, 11), padding=(0, 5)),
            _depthwise(quarter, (11, 1), padding=(5, 0)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.quarter  # plain slices (== torch.chunk(x, 4, 1)) keep the block FX-traceable
        return torch.cat((
            x[:, :q], self.conv_s(x[:, q:2 * q]), self.conv_m(x[:, 2 * q:3 * q]), self.conv_l(x[:, 3 * q:])), dim=1)

    @torch.no_grad()
    def fuse(self) -> 'FusedChunkConv':
        return FusedChunkConv(self.conv_s.fuse(), self.conv_m.fuse(), self.conv_l)


class FusedChunkConv(nn.Module):
    """Deploy form of :class:`ChunkConv` (quarters identity / small / medium / large, concatenated).

    The stored weights stay the folded small (3x3) and medium (7x7) kernels (the parameter count of the official fused
    form) and the large 1x11 -> 11x1 pair. On CPU each oneDNN conv call has a fixed cost of ~50 us, far above the MACs
    of these small maps, so in plain eager inference:

    * the small and medium quarters run as ONE 7x7 depthwise conv (the 3x3 zero-padded, stacked once and cached);
    * on maps up to 32x32 (and up to 96 channels) the large pair runs as two batched matmuls with banded (Toeplitz)
      matrices, one per channel: ``A_h @ (X @ A_w + b1) + b2``, the zero padding being the band's cut-off (up to 2x
      faster than the two convs).

    Traced, scripted or with autograd it is the plain convs (the padded stack is built in the graph). The derived
    tensors are rebuilt when a weight changes.
    """

    def __init__(self, conv_s: nn.Conv2d, conv_m: nn.Conv2d, conv_l: nn.Sequential):
        super().__init__()
        self.quarter = conv_s.out_channels
        self.weight_s = nn.Parameter(conv_s.weight.detach().clone())
        self.weight_m = nn.Parameter(conv_m.weight.detach().clone())
        self.bias_sm = nn.Parameter(torch.cat((_bias(conv_s), _bias(conv_m))).detach())
        self.conv_l = nn.Sequential(*[fuse_to_deploy_conv(conv) for conv in conv_l])

    def _weight_sm(self) -> torch.Tensor:
        weight = torch.cat((F.pad(self.weight_s, (2, 2, 2, 2)), self.weight_m))
        return weight.contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.quarter
        if torch.jit.is_scripting():
            small_medium = F.conv2d(x[:, q:3 * q], self._weight_sm(), self.bias_sm, padding=3, groups=2 * q)
            return torch.cat((x[:, :q], small_medium, self.conv_l(x[:, 3 * q:])), dim=1)
        else:
            return self._forward_eager(x)

    def _forward_eager(self, x: torch.Tensor) -> torch.Tensor:
        q = self.quarter
        if onednn_inference(x) and x.dim() == 4:
            # one cache entry per input shape for everything derived (validated against every source per call)
            prepared = cached(self, (x.shape, torch.get_num_threads()), self._sources(), lambda: self._prepare(x))
            return self._mix(x, *prepared)
        if plain_eager():
            weight = derived_tensor(self, 'weight_sm', (self.weight_s, self.weight_m), self._weight_sm)
        else:
            weight = self._weight_sm()
        small_medium = F.conv2d(x[:, q:3 * q], weight, self.bias_sm, padding=3, groups=2 * q)
        return torch.cat((x[:, :q], small_medium, self.conv_l(x[:, 3 * q:])), dim=1)

    def _sources(self) -> Tuple[torch.Tensor, ...]:
        """The parameters the cached tensors derive from (``_parameters`` lookups: this runs per call)."""
        first, second = self.conv_l
        p, p1, p2 = self._parameters, first._parameters, second._parameters
        return p['weight_s'], p['weight_m'], p1['weight'], p1['bias'], p2['weight'], p2['bias']

    def _mix(self, x: torch.Tensor, packed: Tuple[bool, torch.Tensor],
             bands: Optional[Tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """The fast path (under ``onednn_inference``), with what :meth:`_prepare` made for this input shape."""
        q = self.quarter
        small_medium = run_packed(x[:, q:3 * q], packed, self._parameters['bias_sm'], (1, 1), (3, 3), (1, 1), 2 * q)
        if bands is None:
            return torch.cat((x[:, :q], small_medium, self.conv_l(x[:, 3 * q:])), dim=1)
        band_w, band_h, bias = bands
        rows = x[:, 3 * q:].contiguous()  # (B, q, H, W), channel-major: one (H, W) matrix per channel
        if rows.shape[0] == 1:
            large = torch.baddbmm(bias, band_h, torch.bmm(rows[0], band_w)).unsqueeze(0)
        else:
            large = torch.matmul(band_h, torch.matmul(rows, band_w)).add_(bias)
        # cat into a channels-last buffer: the banded result is channel-major, the network runs NHWC
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
        return torch.cat((x[:, :q], small_medium, large), dim=1, out=out)

    @torch.no_grad()
    def _prepare(self, x: torch.Tensor) -> Tuple[Tuple[bool, torch.Tensor], Optional[Tuple[torch.Tensor, ...]]]:
        """The packed small+medium kernel for this input shape, and the banded large pair where it measured faster
        than the two convs: maps up to 32x32, at most 96 channels (each channel is one small matmul with a fixed
        cost, ~0.35 us)."""
        q = self.quarter
        packed = pack_conv_weight(x[:, q:3 * q], self._weight_sm(), (1, 1), (3, 3), (1, 1), 2 * q)
        h, w = x.shape[-2:]
        bands = _banded_pair(self.conv_l[0], self.conv_l[1], h, w) if max(h, w) <= 32 and q <= 96 else None
        return packed, bands


def _band(taps: torch.Tensor, n: int, pad: int) -> torch.Tensor:
    """(C, n, n) matrices M with ``(x @ M)[c, v] = sum_j taps[c, j] * x[c, v + j - pad]`` (zero padding): a 1-d
    depthwise cross-correlation along the last axis as a matmul."""
    k = taps.shape[1]
    index = torch.arange(n, device=taps.device).view(n, 1) - torch.arange(n, device=taps.device).view(1, n) + pad
    inside = (index >= 0) & (index < k)
    return taps[:, index.clamp(0, k - 1)] * inside


@torch.no_grad()
def _banded_pair(first: nn.Conv2d, second: nn.Conv2d, h: int, w: int) -> Optional[Tuple[torch.Tensor, ...]]:
    """The serial (1, k) -> (k, 1) depthwise pair on an (h, w) map as ``band_h @ (x @ band_w) + bias``, or None when
    it is not a same-size pair."""
    (kh1, kw1), (kh2, kw2) = first.kernel_size, second.kernel_size
    if (kh1, kw2) != (1, 1) or first.padding != (0, kw1 // 2) or second.padding != (kh2 // 2, 0) or kw1 % 2 == 0 \
            or kh2 % 2 == 0 or first.stride != (1, 1) or second.stride != (1, 1) or first.dilation != (1, 1) \
            or second.dilation != (1, 1):
        return None
    band_w = _band(first.weight.reshape(-1, kw1), w, kw1 // 2)
    band_h = _band(second.weight.reshape(-1, kh2), h, kh2 // 2).transpose(1, 2).contiguous()
    # the first bias passes through the second conv, which sees zeros beyond the border: a per-row constant
    bias = _bias(first).view(-1, 1, 1) * band_h.sum(-1, keepdim=True) + _bias(second).view(-1, 1, 1)
    return band_w, band_h, bias


class CopyConv(nn.Module):
    """Stride-2 token mixer: the input through a small and a medium branch, concatenated as [small, medium]."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv_s = RepDWConvS(dim, stride=2)
        self.conv_m = RepDWConvM(dim, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.conv_s(x), self.conv_m(x)), dim=1)

    @torch.no_grad()
    def fuse_with_norm(self, norm: nn.BatchNorm2d) -> 'CopyConv':
        """Fold the branches and the BatchNorm that follows the concatenation (its halves go to each branch)."""
        scale, shift = _norm_scale_shift(norm)
        dim = self.conv_s.conv_3_3.out_channels
        self.conv_s = fuse_to_deploy_conv(_fold_norm_after(self.conv_s.fuse(), scale[:dim], shift[:dim]))
        self.conv_m = fuse_to_deploy_conv(_fold_norm_after(self.conv_m.fuse(), scale[dim:], shift[dim:]))
        return self


# --------------------------------------------------------------------------------------------------------------------
# Blocks


def _mlp(dim: int, hidden_dim: int, act_layer: Type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(ConvNorm(dim, hidden_dim, 1), act_layer(), ConvNorm(hidden_dim, dim, 1))


def _exact_gelu(act: nn.Module) -> bool:
    return onednn_post_op(act) == GELU_POST_OP


@torch.no_grad()
def _deploy_mlp(mlp: nn.Sequential, norm: Optional[nn.BatchNorm2d] = None) -> List[nn.Module]:
    """Fold ``mlp(norm(x))`` (two ConvNorm 1x1 around an activation) into deploy convs: on CPU each 1x1 conv is one
    oneDNN inner product on the channels-last buffer (no layout reorders) and GELU is fused into the first."""
    first, act, last = mlp[0].fuse(), mlp[1], mlp[2].fuse()
    if norm is not None:
        first = _fold_norm_before(norm, first)
    if _exact_gelu(act):
        return [fuse_to_deploy_conv(first, gelu=True), fuse_to_deploy_conv(last)]
    return [fuse_to_deploy_conv(first), act, fuse_to_deploy_conv(last)]


class MetaNeXtBlock(nn.Module):
    """``x + mlp(bn(token_mixer(x)))`` (no layer scale; the token mixer sits inside the residual)."""

    def __init__(self, dim: int, mlp_ratio: float = 2, act_layer: Type[nn.Module] = nn.GELU, drop_path: float = 0.):
        super().__init__()
        self.token_mixer = ChunkConv(dim)
        self.norm = nn.BatchNorm2d(dim)
        self.channel_mixer = _mlp(dim, int(dim * mlp_ratio), act_layer)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.channel_mixer(self.norm(self.token_mixer(x))))

    @torch.no_grad()
    def fuse(self) -> 'MetaNeXtDeploy':
        """Fold the kernel branches and every BatchNorm (the block norm goes into the first 1x1 conv)."""
        return MetaNeXtDeploy(self.token_mixer.fuse(), *_deploy_mlp(self.channel_mixer, self.norm))


class MetaNeXtDeploy(nn.Module):
    """Deploy form of :class:`MetaNeXtBlock`: ``x + fc2(act(fc1(token_mixer(x))))``, the input added in place to the
    fresh branch output (stochastic depth is inactive in inference).

    Under ``onednn_inference`` the whole block is one cached lookup (packed weights of the mixer and both 1x1 convs
    for this input shape, validated against every parameter) and a straight run of oneDNN calls: at batch 1 the
    Python around ~6 module calls per block measured ~3% of the forward. Elsewhere it runs its modules.
    """

    def __init__(self, token_mixer: FusedChunkConv, fc1: DeployConv2d, *rest: nn.Module):
        super().__init__()
        self.token_mixer = token_mixer
        self.fc1 = fc1
        self.act = rest[0] if len(rest) == 2 else nn.Identity()  # GELU is fused into fc1 (DeployConv2d.gelu)
        self.fc2 = rest[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():
            return self.fc2(self.act(self.fc1(self.token_mixer(x)))).add_(x)
        else:
            return self._forward_eager(x)

    def _forward_eager(self, x: torch.Tensor) -> torch.Tensor:
        fc1, fc2 = self.fc1, self.fc2
        if fc1.gelu and isinstance(fc2, DeployConv2d) and onednn_inference(x) and x.dim() == 4:
            mixer = self.token_mixer
            p1, p2 = fc1._parameters, fc2._parameters
            packed_mixer, bands, packed1, packed2 = cached(
                self, (x.shape, torch.get_num_threads()), mixer._sources() + (p1['weight'], p2['weight']),
                lambda: self._prepare(x))
            y = mixer._mix(x, packed_mixer, bands)
            y = run_packed(y, packed1, p1['bias'], (1, 1), (0, 0), (1, 1), 1, GELU_POST_OP)
            return run_packed(y, packed2, p2['bias'], (1, 1), (0, 0), (1, 1), 1).add_(x)
        return fc2(self.act(fc1(self.token_mixer(x)))).add_(x)

    @torch.no_grad()
    def _prepare(self, x: torch.Tensor) -> Tuple[Any, ...]:
        b, c, h, w = x.shape
        hidden = torch.empty((b, self.fc1.out_channels, h, w), dtype=x.dtype, memory_format=torch.channels_last)
        return (*self.token_mixer._prepare(x), pack_conv_weight(x, self.fc1.weight, (1, 1), (0, 0), (1, 1), 1),
                pack_conv_weight(hidden, self.fc2.weight, (1, 1), (0, 0), (1, 1), 1))


class Downsample(nn.Module):
    """Stride-2 block, channels doubled: ``y = bn(copy_conv(x)); y + mlp(y)`` (the residual skips only the MLP)."""

    def __init__(self, dim: int, mlp_ratio: float = 2, act_layer: Type[nn.Module] = nn.GELU):
        super().__init__()
        out_dim = dim * 2
        self.token_mixer = CopyConv(dim)
        self.norm = nn.BatchNorm2d(out_dim)
        self.channel_mixer = _mlp(out_dim, int(out_dim * mlp_ratio), act_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.token_mixer(x))
        return x + self.channel_mixer(x)

    @torch.no_grad()
    def fuse(self) -> nn.Sequential:
        """Fold the kernel branches, and the norm into them (the residual needs the normalised values)."""
        return nn.Sequential(self.token_mixer.fuse_with_norm(self.norm), Residual(*_deploy_mlp(self.channel_mixer)))


class RepNextStem(nn.Module):
    """Two stride-2 3x3 conv-BN, GELU between them only."""

    def __init__(self, in_chs: int, out_chs: int, act_layer: Type[nn.Module] = nn.GELU):
        super().__init__()
        self.stem = nn.Sequential(
            ConvNorm(in_chs, out_chs // 2, 3, stride=2),
            act_layer(),
            ConvNorm(out_chs // 2, out_chs, 3, stride=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x)

    @torch.no_grad()
    def reparameterize(self):
        """Deploy convs (channels-last weights: the network runs NHWC from the first conv on); GELU is fused into the
        first (the Identity keeps the indices of ``stem.stem``)."""
        first, act, last = self.stem
        if not isinstance(first, ConvNorm):
            return
        gelu = _exact_gelu(act)
        self.stem = nn.Sequential(
            fuse_to_deploy_conv(first.conv, first.norm, gelu=gelu), nn.Identity() if gelu else act,
            fuse_to_deploy_conv(last.conv, last.norm))


class RepNextStage(nn.Module):
    def __init__(
            self,
            in_dim: int,
            out_dim: int,
            depth: int,
            mlp_ratio: float = 2,
            act_layer: Type[nn.Module] = nn.GELU,
            downsample: bool = True,
            drop_path_rates: Optional[List[float]] = None,
    ):
        super().__init__()
        if downsample:
            assert out_dim == 2 * in_dim, 'the RepNeXt down-sampling block doubles the channels'
            self.downsample = Downsample(in_dim, mlp_ratio, act_layer)
        else:
            assert out_dim == in_dim
            self.downsample = nn.Identity()
        drop_path_rates = drop_path_rates or [0.] * depth
        self.blocks = nn.Sequential(*[
            MetaNeXtBlock(out_dim, mlp_ratio, act_layer, drop_path=drop_path_rates[j]) for j in range(depth)])
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.blocks, x)
        else:
            x = self.blocks(x)
        return x


# --------------------------------------------------------------------------------------------------------------------
# Classifier


class NormLinear(nn.Sequential):
    """BatchNorm1d then Linear (keys ``norm.*``, ``linear.*``); ``fuse()`` gives one Linear."""

    def __init__(self, in_features: int, out_features: int, std: float = 0.02):
        super().__init__()
        self.add_module('norm', nn.BatchNorm1d(in_features))
        self.add_module('linear', nn.Linear(in_features, out_features))
        trunc_normal_(self.linear.weight, std=std)
        nn.init.zeros_(self.linear.bias)

    def fuse(self) -> nn.Linear:
        return fuse_bn_linear(self.norm, self.linear)


class RepNextClassifier(nn.Module):
    """Class head and distillation head, both always present (as in the released checkpoints).

    Train mode returns ``(head, head_dist)`` while ``distilled_training`` is on, otherwise their mean; eval mode
    always returns the mean. ``fuse()`` folds both into one averaged Linear.
    """

    def __init__(self, dim: int, num_classes: int, distilled_training: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.distilled_training = distilled_training
        self.head = NormLinear(dim, num_classes) if num_classes > 0 else nn.Identity()
        self.head_dist = NormLinear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor):
        if self.num_classes == 0:
            return x
        x1, x2 = self.head(x), self.head_dist(x)
        if self.training and self.distilled_training and not torch.jit.is_scripting():
            return x1, x2
        return (x1 + x2) / 2

    @torch.no_grad()
    def fuse(self) -> nn.Module:
        if self.num_classes == 0:
            return nn.Identity()
        head, head_dist = self.head.fuse(), self.head_dist.fuse()
        head.weight.add_(head_dist.weight).div_(2)
        head.bias.add_(head_dist.bias).div_(2)
        return head


# --------------------------------------------------------------------------------------------------------------------
# Model


class RepNext(StageFeatures, nn.Module):
    """RepNeXt (see the module docstring for the train and deploy forms and the deviations from the official code).

    Args:
        in_chans: input image channels.
        num_classes: classes of both heads; 0 gives pooled features.
        global_pool: '' (no pooling) or a timm pooling type ('avg' as released).
        embed_dim: channels per stage; each stage after the first doubles them.
        depth: MetaNeXt blocks per stage (stages 1-3 also open with a down-sampling block).
        mlp_ratio: hidden channels of the MLPs, relative to their input.
        act_layer: activation (GELU as released).
        distillation: initial state of ``set_distilled_training`` (train mode returns both head outputs).
        drop_rate: dropout before the heads.
        drop_path_rate: stochastic depth, linear over all MetaNeXt blocks (not in the official code).
    """

    def __init__(
            self,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = 'avg',
            embed_dim: Tuple[int, ...] = (48, 96, 192, 384),
            depth: Tuple[int, ...] = (3, 3, 15, 2),
            mlp_ratio: float = 2,
            act_layer: Union[str, Type[nn.Module]] = nn.GELU,
            distillation: bool = False,
            drop_rate: float = 0.,
            drop_path_rate: float = 0.,
            device=None,
            dtype=None,
    ):
        super().__init__()
        act_layer = get_act_layer(act_layer) or nn.GELU
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.embed_dim = tuple(embed_dim)
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        self.stem = RepNextStem(in_chans, embed_dim[0], act_layer)
        rates = torch.linspace(0, drop_path_rate, sum(depth), device='cpu')  # plain numbers, also under a meta device
        drop_path_rates = [r.tolist() for r in rates.split(list(depth))]
        stride = 4
        stages = []
        self.feature_info = []
        for i, (dim, num_blocks) in enumerate(zip(embed_dim, depth)):
            stages.append(RepNextStage(
                embed_dim[max(i - 1, 0)], dim, num_blocks, mlp_ratio, act_layer,
                downsample=i > 0, drop_path_rates=drop_path_rates[i]))
            stride *= 2 if i > 0 else 1
            self.feature_info.append(dict(num_chs=dim, reduction=stride, module=f'stages.{i}'))
        self.stages = FeatureStages(*stages)

        self.num_features = self.head_hidden_size = embed_dim[-1]
        self.global_pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=bool(global_pool))
        self.head_drop = nn.Dropout(drop_rate)
        self.head = RepNextClassifier(self.num_features * self.global_pool.feat_mult(), num_classes, distillation)
        if device is not None or dtype is not None:
            self.to(device=device, dtype=dtype)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, Any]:
        return dict(
            stem=r'^stem',
            blocks=r'^stages\.(\d+)' if coarse else [
                (r'^stages\.(\d+)\.downsample', (0,)),
                (r'^stages\.(\d+)\.blocks\.(\d+)', None),
            ],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True):
        self.grad_checkpointing = enable
        for stage in self.stages:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def no_weight_decay(self) -> set:
        return set()  # no embeddings or scales; timm already spares 1-d params (norms, biases)

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    @torch.jit.ignore
    def set_distilled_training(self, enable: bool = True):
        """Train mode returns ``(head, head_dist)`` when enabled (for a distillation loss), else their mean."""
        if isinstance(self.head, RepNextClassifier):
            self.head.distilled_training = enable

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        """New heads (both) for ``num_classes`` (0: pooled features); ``global_pool=''`` returns unpooled maps."""
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=bool(global_pool))
        distilled = isinstance(self.head, RepNextClassifier) and self.head.distilled_training
        ref = self.stem.stem[0]
        ref = ref.conv if isinstance(ref, ConvNorm) else ref
        self.head = RepNextClassifier(self.num_features * self.global_pool.feat_mult(), num_classes, distilled)
        self.head.to(device=ref.weight.device, dtype=ref.weight.dtype)
        self.head.train(self.training)

    @torch.no_grad()
    def reparameterize(self) -> 'RepNext':
        """Convert to the deploy form in place (same as ``timm.utils.reparameterize_model(model, inplace=True)``)."""
        from timm.models._manipulate import reparameterize_model
        return reparameterize_model(self, inplace=True)

    # forward_intermediates / prune_intermediate_layers: models._features.StageFeatures, through these hooks;
    # TorchScript reaches the stages by literal name only
    def _num_stages(self) -> int:
        return len(self.stages)

    def _forward_stages(self, x: torch.Tensor, take_indices: List[int], last_index: int):
        return self.stages.forward_intermediates(x, take_indices, last_index)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.stages, x)
        else:
            x = self.stages(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False):
        x = self.global_pool(x)
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor):
        x = self.forward_features(x)
        return self.forward_head(x)


# --------------------------------------------------------------------------------------------------------------------
# Checkpoints, configs, builders


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: RepNext) -> Dict[str, torch.Tensor]:
    """Map an official checkpoint onto ``model``: the keys are already ours.

    * ``backbone.`` (MMDetection / MMSegmentation checkpoints): keep only the backbone, unprefixed.
    * A model without heads (``num_classes=0``, ``features_only``) drops ``head.*``.
    """
    if any(k.startswith('backbone.') for k in state_dict):
        state_dict = {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')}
    expected = model.state_dict()
    has_heads = any(k.startswith('head.') for k in expected)
    out = {k: v for k, v in state_dict.items() if has_heads or not k.startswith('head.')}
    check_state_dict(model, out, ignore_prefixes=classifier_prefixes(model))
    return out


def _cfg(url: str = '', **kwargs) -> Dict[str, Any]:
    return {
        'url': url,
        'num_classes': 1000,
        'input_size': (3, 224, 224),
        'pool_size': (7, 7),
        'crop_pct': 0.875,  # Resize(256) + CenterCrop(224) in the RepViT-recipe evaluation
        'interpolation': 'bicubic',
        'mean': IMAGENET_DEFAULT_MEAN,
        'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'stem.stem.0.conv',
        'classifier': ('head.head.linear', 'head.head_dist.linear'),
        'license': 'apache-2.0',
        'paper_ids': 'arXiv:2406.16004',
        'paper_name': 'RepNeXt: A Fast Multi-Scale CNN using Structural Reparameterization',
        'origin_url': 'https://github.com/suous/RepNeXt',
        **kwargs,
    }


_RELEASE = 'https://github.com/suous/RepNeXt/releases/download/v1.0/'


def _starnet_cfg(file: str, **kwargs) -> Dict[str, Any]:
    """StarNet-recipe checkpoints (``{'state_dict': ...}``), evaluated at crop 0.9."""
    return _cfg(url=_RELEASE + file, crop_pct=0.9, **kwargs)


default_cfgs = generate_default_cfgs({
    # RepViT recipe, distilled from RegNetY-160, 300 epochs ({'model': ...}); the README's main table
    'repnext_m0.dist_in1k': _cfg(url=_RELEASE + 'repnext_m0_distill_300e.pth'),
    'repnext_m1.dist_in1k': _cfg(url=_RELEASE + 'repnext_m1_distill_300e.pth'),
    'repnext_m2.dist_in1k': _cfg(url=_RELEASE + 'repnext_m2_distill_300e.pth'),
    'repnext_m3.dist_in1k': _cfg(url=_RELEASE + 'repnext_m3_distill_300e.pth'),
    'repnext_m4.dist_in1k': _cfg(url=_RELEASE + 'repnext_m4_distill_300e.pth'),
    'repnext_m5.dist_in1k': _cfg(url=_RELEASE + 'repnext_m5_distill_300e.pth'),
    # StarNet recipe, 300 epochs, with and without distillation
    'repnext_m0.starnet_dist_in1k': _starnet_cfg('repnext_m0_sz224_4xbs256_ep300_distill.pth.tar'),
    'repnext_m1.starnet_dist_in1k': _starnet_cfg('repnext_m1_sz224_4xbs256_ep300_distill.pth.tar'),
    'repnext_m2.starnet_dist_in1k': _starnet_cfg('repnext_m2_sz224_4xbs256_ep300_distill.pth.tar'),
    'repnext_m0.starnet_in1k': _starnet_cfg('repnext_m0_sz224_4xbs512_ep300.pth.tar'),
    'repnext_m1.starnet_in1k': _starnet_cfg('repnext_m1_sz224_4xbs512_ep300.pth.tar'),
    'repnext_m2.starnet_in1k': _starnet_cfg('repnext_m2_sz224_4xbs512_ep300.pth.tar'),
})

# The official variant table (channels per stage, MetaNeXt blocks per stage).
MODEL_CFGS = {
    'repnext_m0': dict(embed_dim=(40, 80, 160, 320), depth=(2, 2, 9, 1)),
    'repnext_m1': dict(embed_dim=(48, 96, 192, 384), depth=(3, 3, 15, 2)),
    'repnext_m2': dict(embed_dim=(56, 112, 224, 448), depth=(3, 3, 15, 2)),
    'repnext_m3': dict(embed_dim=(64, 128, 256, 512), depth=(3, 3, 13, 2)),
    'repnext_m4': dict(embed_dim=(64, 128, 256, 512), depth=(5, 5, 25, 4)),
    'repnext_m5': dict(embed_dim=(80, 160, 320, 640), depth=(7, 7, 35, 2)),
}


def _create_repnext(variant: str, pretrained: bool = False, **kwargs) -> RepNext:
    if kwargs.get('features_only'):
        kwargs.setdefault('num_classes', 0)  # a feature extractor has no heads to load or keep
    model_args = dict(MODEL_CFGS[variant], **kwargs)
    return build_model(
        RepNext, variant, pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(flatten_sequential=True, out_indices=(0, 1, 2, 3)),
        **model_args,
    )


@register_model
def repnext_m0(pretrained: bool = False, **kwargs) -> RepNext:
    return _create_repnext('repnext_m0', pretrained, **kwargs)


@register_model
def repnext_m1(pretrained: bool = False, **kwargs) -> RepNext:
    return _create_repnext('repnext_m1', pretrained, **kwargs)


@register_model
def repnext_m2(pretrained: bool = False, **kwargs) -> RepNext:
    return _create_repnext('repnext_m2', pretrained, **kwargs)


@register_model
def repnext_m3(pretrained: bool = False, **kwargs) -> RepNext:
    return _create_repnext('repnext_m3', pretrained, **kwargs)


@register_model
def repnext_m4(pretrained: bool = False, **kwargs) -> RepNext:
    return _create_repnext('repnext_m4', pretrained, **kwargs)


@register_model
def repnext_m5(pretrained: bool = False, **kwargs) -> RepNext:
    return _create_repnext('repnext_m5', pretrained, **kwargs)
