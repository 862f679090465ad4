""" MPViT: Multi-Path Vision Transformer for Dense Prediction (CVPR 2022)

Paper: `MPViT: Multi-Path Vision Transformer for Dense Prediction` - https://arxiv.org/abs/2112.11010
Official code and weights: https://github.com/youngwanLEE/MPViT (GPL-3.0 / ETRI commercial dual licence).

A conv stem (stride 4), then four stages. Each stage embeds its input along P chained depthwise-separable paths
(path p convolves path p-1's output, so the receptive fields are 3, 5, 7), runs one transformer encoder per path
(factorised attention with a convolutional relative position encoding, CoaT style) plus a conv branch (``InvRes``)
on the first path, concatenates the P + 1 maps and projects them with a 1x1 conv to the next stage's width.

Module paths follow the official ``mpvit.py``, so the authors' files (``{'model': state_dict}``, 873 / 873 / 1263 /
1419 keys) load unchanged and strict. The official encoder registers its shared position encodings (``cpe``,
``crpe``) under every block as well (``MHCA_layers.{l}.cpe``, ``.crpe``, ``.factoratt_crpe.crpe``); this
implementation registers the *same* module objects under the same names, so ``state_dict()`` emits every alias
(``parameters()`` counts each tensor once: 5,843,736 / 10,573,448 / 22,892,400 / 74,845,976).

Inside the network the maps are kept channels-last (NHWC memory, NCHW shape), so the token view ``(B, H*W, C)``
that attention and the MLPs need is a free reshape instead of a transpose copy. Feature maps returned by
``forward_features`` / ``forward_intermediates`` are therefore channels-last strided; values are unaffected.

Behaviour that differs from the official code (on purpose):
* ``get_classifier()`` returns ``cls_head.cls`` (the official one raises AttributeError on ``self.head``).
* Unknown keyword arguments raise ``TypeError``; the official builders swallow ``**kwargs`` (``img_size``,
  ``drop_rate``, typos) silently. ``drop_rate`` is honoured as dropout before the classifier, ``global_pool``,
  ``in_chans`` and ``num_classes`` are honoured, ``reset_classifier`` exists.
* The default ``crop_pct`` is 0.875, what the authors' ``main.py`` evaluated with (their cfg said 0.9).
* ``train()`` / ``eval()`` return the module (the MMSegmentation copy's override returned None).
* Deployment (``timm.utils.reparameterize_model``, through ``fuse()``) folds every conv-BN pair (into the shared
  ``models._blocks.DeployConv2d``, activations fused as oneDNN post-ops), the ``cpe``
  identity and the three ``crpe`` windows into one 7x7 depthwise kernel, folds LayerNorm affine terms into the
  projections after them, runs the 1x1 convs as token matmuls and the P encoders of a stage as one batched
  computation (``MHCAStageDeploy``; in plain eager inference as many paths side by side as there are threads
  for small GEMMs, one multi-threaded GEMM per remaining path, and oneDNN weights packed once for GEMMs of at
  most 64 rows, e.g. the 7x7 stage at 224); in plain eager batch-1 inference the factorised attention runs per
  path with the heads as the ``bmm`` batch on strided views (no q/k/v layout copies), and on 56x56 / 28x28 maps
  the crpe runs one conv per window instead of the zero-padded 7x7; in plain eager inference residual adds and
  GELU run in place. Outputs agree within float rounding (~1e-6 relative);
  the deploy form has no ``state_dict`` compatibility with the official layout (fold after loading).
* ``checkpoint_filter_fn`` also accepts backbone-only files (detectron2 / Deformable-DETR / MMSegmentation
  layouts, FrozenBN without ``num_batches_tracked``, de-duplicated files without the aliases); see its docstring.
"""
import logging
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Set, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import DropPath, Mlp, SelectAdaptivePool2d, calculate_drop_path_rates, get_device_dtype, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._manipulate import checkpoint

from ._blocks import (NO_POST_OP, DeployConv2d, PostOp, cached, fuse_conv_bn, fuse_to_deploy_conv, is_tracing,
                      onednn_inference, onednn_post_op, pack_linear_weight, plain_eager, run_packed_linear)
from ._checkpoint import build_model, check_state_dict, classifier_prefixes, unwrap_state_dict
from ._features import StageFeatures

__all__ = ['MPViT', 'checkpoint_filter_fn']

_logger = logging.getLogger(__name__)

# Every variant has 4 stages, paths (2, 3, 3, 3) and 8 heads. ImageNet recipes used drop_path 0 / 0 / 0.05 / 0.3.
MODEL_CFGS: Dict[str, dict] = {
    'mpvit_tiny': dict(num_layers=(1, 2, 4, 1), embed_dims=(64, 96, 176, 216), mlp_ratios=(2, 2, 2, 2)),
    'mpvit_xsmall': dict(num_layers=(1, 2, 4, 1), embed_dims=(64, 128, 192, 256), mlp_ratios=(4, 4, 4, 4)),
    'mpvit_small': dict(num_layers=(1, 3, 6, 3), embed_dims=(64, 128, 216, 288), mlp_ratios=(4, 4, 4, 4)),
    'mpvit_base': dict(num_layers=(1, 3, 8, 3), embed_dims=(128, 224, 368, 480), mlp_ratios=(4, 4, 4, 4)),
}

# crpe window size -> number of heads using it (the official default for every variant)
CRPE_WINDOWS = {3: 2, 5: 3, 7: 3}


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C); a view when ``x`` is channels-last."""
    B, C, H, W = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, H * W, C)


def _to_image(x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """(B, H*W, C) -> (B, C, H, W), a channels-last view of the same memory."""
    B, N, C = x.shape
    return x.reshape(B, H, W, C).permute(0, 3, 1, 2)


def _init_conv(conv: nn.Conv2d, divide_fan_out_by_groups: bool) -> None:
    """He-normal on fan-out, as the official conv blocks do (only ``ResBlock`` divides by the groups)."""
    fan_out = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    if divide_fan_out_by_groups:
        fan_out //= conv.groups
    nn.init.normal_(conv.weight, 0., (2. / fan_out) ** 0.5)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class ConvBnAct(nn.Module):
    """Conv (no bias) + BatchNorm + optional activation (official ``Conv2d_BN``: keys ``conv.*``, ``bn.*``)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 1, stride: int = 1, act_layer=None):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_chs)
        self.act = act_layer() if act_layer is not None else nn.Identity()
        _init_conv(self.conv, divide_fan_out_by_groups=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> DeployConv2d:
        return fuse_to_deploy_conv(self.conv, self.bn, act=self.act)


class DwPwConvBnAct(nn.Module):
    """Depthwise 3x3 -> pointwise 1x1 -> BN -> Hardswish (official ``DWConv2d_BN``)."""

    def __init__(self, dim: int, stride: int = 1):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, stride, 1, groups=dim, bias=False)
        self.pwconv = nn.Conv2d(dim, dim, 1, bias=False)
        self.bn = nn.BatchNorm2d(dim)
        self.act = nn.Hardswish()
        _init_conv(self.dwconv, divide_fan_out_by_groups=False)
        _init_conv(self.pwconv, divide_fan_out_by_groups=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.pwconv(self.dwconv(x))))

    def fuse(self) -> nn.Sequential:
        return nn.Sequential(OrderedDict(
            dwconv=fuse_to_deploy_conv(self.dwconv), pwconv=fuse_to_deploy_conv(self.pwconv, self.bn, act=self.act)))


class DwConvPatchEmbed(nn.Module):
    """One embedding path (official ``DWCPatchEmbed``; the extra level only exists for the key layout)."""

    def __init__(self, dim: int, stride: int = 1):
        super().__init__()
        self.patch_conv = DwPwConvBnAct(dim, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_conv(x)


class MultiPathPatchEmbed(nn.Module):
    """Chained embedding paths: path p embeds path p-1's output; only path 0 downsamples (stages 2-4)."""

    def __init__(self, dim: int, num_paths: int, downsample: bool):
        super().__init__()
        self.patch_embeds = nn.ModuleList([
            DwConvPatchEmbed(dim, stride=2 if downsample and idx == 0 else 1) for idx in range(num_paths)])

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        outs = []
        for embed in self.patch_embeds:
            x = embed(x)
            outs.append(x)
        return outs


class ConvPosEnc(nn.Module):
    """Convolutional position encoding ``x + dwconv3x3(x)`` on tokens; one instance serves every block of an
    encoder (official ``ConvPosEnc``)."""

    def __init__(self, dim: int, kernel_size: int = 3):
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, kernel_size, 1, kernel_size // 2, groups=dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        img = _to_image(x, H, W)
        return _to_tokens(self.proj(img) + img)

    @torch.no_grad()
    def fused_kernel(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Depthwise weight and bias with the identity added to the centre tap."""
        weight = self.proj.weight.clone()
        centre = self.proj.kernel_size[0] // 2
        weight[:, 0, centre, centre] += 1.
        return weight, self.proj.bias.clone()


class ConvRelPosEnc(nn.Module):
    """Convolutional relative position encoding: depthwise convs over ``v`` seen as an image, one window size
    per group of heads (3x3 for 2 heads, 5x5 for 3, 7x7 for 3). Returns ``conv(v)`` as an image; the attention
    multiplies it with ``q`` (official ``ConvRelPosEnc``, which did the multiply itself)."""

    def __init__(self, head_dim: int, num_heads: int, windows: Union[int, Dict[int, int]] = CRPE_WINDOWS):
        super().__init__()
        if isinstance(windows, int):
            windows = {windows: num_heads}
        assert sum(windows.values()) == num_heads, f'crpe windows {windows} do not cover {num_heads} heads'
        self.channel_splits = [heads * head_dim for heads in windows.values()]
        self.conv_list = nn.ModuleList([
            nn.Conv2d(chs, chs, k, padding=k // 2, groups=chs) for k, chs in zip(windows, self.channel_splits)])

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        parts = torch.split(v, self.channel_splits, dim=1)
        outs = []
        for idx, conv in enumerate(self.conv_list):
            outs.append(conv(parts[idx]))
        return torch.cat(outs, dim=1)

    @torch.no_grad()
    def fused_kernel(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """One depthwise kernel for all heads: every window zero-padded to the largest (same output, one conv)."""
        size = max(conv.kernel_size[0] for conv in self.conv_list)
        weight = torch.cat([F.pad(conv.weight, [(size - conv.kernel_size[0]) // 2] * 4) for conv in self.conv_list])
        return weight, torch.cat([conv.bias for conv in self.conv_list])


class FactorAttention(nn.Module):
    """Factorised attention ``q @ (softmax_N(k)^T @ v) * scale + q * crpe(v)`` (official
    ``FactorAtt_ConvRelPosEnc``); the softmax runs over tokens, so the cost is linear in H*W.

    Not ``scaled_dot_product_attention``: that softmax runs over keys for each query, and this one can only be
    written as SDPA with an identity matrix as the query, which measured slower here at stage-1 resolution."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, shared_crpe: ConvRelPosEnc):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.crpe = shared_crpe

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x)
        qkv_heads = qkv.view(B, N, 3, self.num_heads, self.head_dim)
        q, k, v = qkv_heads[:, :, 0], qkv_heads[:, :, 1], qkv_heads[:, :, 2]  # (B, N, heads, hd) views
        context = (k.softmax(dim=1).permute(0, 2, 3, 1) @ v.transpose(1, 2)) * self.scale  # tiny: fold scale
        out = qkv[:, :, :C] * _to_tokens(self.crpe(_to_image(qkv[:, :, 2 * C:], H, W)))
        out = out.view(B, N, self.num_heads, self.head_dim) + (q.transpose(1, 2) @ context).transpose(1, 2)
        return self.proj(out.reshape(B, N, C))


class MHCABlock(nn.Module):
    """Pre-norm transformer block; ``cpe`` and ``crpe`` are the encoder's shared instances (official aliases)."""

    def __init__(
            self,
            dim: int,
            num_heads: int,
            mlp_ratio: float,
            drop_path: float,
            qkv_bias: bool,
            shared_cpe: ConvPosEnc,
            shared_crpe: ConvRelPosEnc,
    ):
        super().__init__()
        self.cpe = shared_cpe
        self.crpe = shared_crpe
        self.factoratt_crpe = FactorAttention(dim, num_heads, qkv_bias, shared_crpe)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        x = self.cpe(x, H, W)  # re-applied before every block, with shared weights
        x = x + self.drop_path(self.factoratt_crpe(self.norm1(x), H, W))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x


class MHCAEncoder(nn.Module):
    """The transformer branch of one path: image in, image out (channels-last)."""

    def __init__(
            self,
            dim: int,
            num_layers: int,
            num_heads: int,
            mlp_ratio: float,
            drop_path: List[float],
            qkv_bias: bool = True,
            crpe_windows: Union[int, Dict[int, int]] = CRPE_WINDOWS,
    ):
        super().__init__()
        self.num_layers = num_layers
        self.grad_checkpointing = False
        self.cpe = ConvPosEnc(dim, kernel_size=3)
        self.crpe = ConvRelPosEnc(dim // num_heads, num_heads, crpe_windows)
        self.MHCA_layers = nn.ModuleList([
            MHCABlock(dim, num_heads, mlp_ratio, drop_path[idx], qkv_bias, self.cpe, self.crpe)
            for idx in range(num_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        x = _to_tokens(x)
        for layer in self.MHCA_layers:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint(layer, x, H, W)
            else:
                x = layer(x, H, W)
        return _to_image(x, H, W)


class ResBlock(nn.Module):
    """The conv branch (official ``InvRes``): ``x + conv1x1(hswish(bn(dw3x3(hswish(conv1x1(x))))))``, no
    expansion."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = ConvBnAct(dim, dim, act_layer=nn.Hardswish)
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim, bias=False)
        self.norm = nn.BatchNorm2d(dim)
        self.act = nn.Hardswish()
        self.conv2 = ConvBnAct(dim, dim)
        for conv in (self.conv1.conv, self.dwconv, self.conv2.conv):
            _init_conv(conv, divide_fan_out_by_groups=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.norm(self.dwconv(self.conv1(x)))))

    def fuse(self) -> 'ResBlockDeploy':
        return ResBlockDeploy(self.conv1.fuse(), fuse_to_deploy_conv(self.dwconv, self.norm, act=self.act),
                              self.conv2.fuse())


class ResBlockDeploy(nn.Module):
    """Deploy form of ``ResBlock``: BNs folded, the 1x1 convs as token matmuls."""

    def __init__(self, conv1: nn.Module, dwconv: nn.Module, conv2: nn.Module):
        super().__init__()
        self.conv1 = conv1
        self.dwconv = dwconv
        self.conv2 = conv2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.dwconv(self.conv1(x)))


class MHCAStage(nn.Module):
    """Conv branch on path 0 plus one encoder per path, concatenated ``[InvRes, path 0, ...]`` and projected to
    the next stage's width by ``aggregate`` (official ``MHCA_stage``)."""

    def __init__(
            self,
            dim: int,
            out_dim: int,
            num_layers: int,
            num_heads: int,
            mlp_ratio: float,
            num_paths: int,
            drop_path: List[float],
            qkv_bias: bool = True,
            crpe_windows: Union[int, Dict[int, int]] = CRPE_WINDOWS,
    ):
        super().__init__()
        self.mhca_blks = nn.ModuleList([
            MHCAEncoder(dim, num_layers, num_heads, mlp_ratio, drop_path, qkv_bias, crpe_windows)
            for _ in range(num_paths)])
        self.InvRes = ResBlock(dim)
        self.aggregate = ConvBnAct(dim * (num_paths + 1), out_dim, act_layer=nn.Hardswish)

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        outs = [self.InvRes(inputs[0])]
        for idx, encoder in enumerate(self.mhca_blks):
            outs.append(encoder(inputs[idx]))
        return self.aggregate(torch.cat(outs, dim=1))

    def fuse(self) -> 'MHCAStageDeploy':
        return MHCAStageDeploy(self)


# ----------------------------------------------------------------------------------------------------------------
# deploy forms of a stage (built by timm.utils.reparameterize_model through MHCAStage.fuse)


def _stack_linear(linears: List[nn.Linear], norms: Optional[List[nn.LayerNorm]] = None):
    """Per-path linears as batched-matmul operands (P, in, out) and (P, 1, out); a preceding LayerNorm's affine
    terms fold in: W (g * x + b) + c = (W diag(g)) x + (W b + c)."""
    weights, biases = [], []
    for idx, linear in enumerate(linears):
        weight, bias = linear.weight, linear.bias
        if norms is not None:
            bias = bias + weight @ norms[idx].bias
            weight = weight * norms[idx].weight
        weights.append(weight.t())
        biases.append(bias[None])
    return nn.Parameter(torch.stack(weights).detach().contiguous()), nn.Parameter(torch.stack(biases).detach())


# Paths side by side (one single-threaded GEMM per thread) up to this many rows: measured 2-3% faster than one
# multi-threaded GEMM per path on MPViT-B's 14x14 and 7x7 stages (196 and 49 rows), slower at 3136 rows.
SIDE_BY_SIDE_MAX_ROWS = 1024


@torch.jit.unused  # plain eager only (TorchScript has no get_num_threads)
def _side_by_side_paths(paths: int, rows: int) -> int:
    """How many of ``paths`` GEMMs of ``rows`` rows run side by side: a multiple of the thread count, or none."""
    threads = torch.get_num_threads()
    return paths - paths % threads if 1 < threads <= paths and rows <= SIDE_BY_SIDE_MAX_ROWS else 0


def _paths_addmm(bias: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, fast: bool) -> torch.Tensor:
    """``bias + x @ weight`` per path: (P, M, K) x (P, K, N) -> (P, M, N). ``baddbmm`` alone splits the P paths over
    the threads (P = 3 on 2 threads: one thread idles a third of the time; measured 15-25% slower on MPViT-B's
    projections). The fast form runs as many paths side by side as there are threads, one single-threaded GEMM
    each, where GEMMs are small enough to gain from it, and every other path as one multi-threaded GEMM."""
    if not fast:
        return torch.baddbmm(bias, x, weight)
    paths, rows = x.shape[0], x.shape[1]
    out = x.new_empty(paths, rows, weight.shape[-1])
    side_by_side = _side_by_side_paths(paths, rows)
    if side_by_side:
        torch.baddbmm(bias[:side_by_side], x[:side_by_side], weight[:side_by_side], out=out[:side_by_side])
    # unbind: the per-path views in one call (Python indexing costs ~3 us a view; ~2000 views per MPViT-B forward)
    for out_p, x_p, weight_p, bias_p in zip(out.unbind(0)[side_by_side:], x.unbind(0)[side_by_side:],
                                            weight.unbind(0)[side_by_side:], bias.unbind(0)[side_by_side:]):
        torch.addmm(bias_p, x_p, weight_p, out=out_p)
    return out


def _paths_accumulate_(acc: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> None:
    """``acc += bias + x @ weight`` per path, in place: acc (M, P, N) tokens-major, x (P, M, K), weight (P, K, N)."""
    acc.add_(bias.transpose(0, 1))
    for acc_p, x_p, weight_p in zip(acc.unbind(1), x.unbind(0), weight.unbind(0)):
        acc_p.addmm_(x_p, weight_p)


def _paths_linear(bias: torch.Tensor, inputs: List[torch.Tensor], weight: torch.Tensor) -> List[torch.Tensor]:
    """``bias_p + x_p @ weight_p`` per path as P separate 2-D GEMMs: the form runtimes optimise
    (ONNX Runtime prepacks a 2-D constant GEMM operand, OpenVINO turns it into a FullyConnected with the bias
    fused); a batched MatMul on (P, K, N) constant weights gets neither (measured in ORT on MPViT-S: the projections
    ~30 % slower than the authors' per-path Linears)."""
    return [torch.addmm(bias[p], x_p, weight[p]) for p, x_p in enumerate(inputs)]


# Few tokens (MPViT's 7x7 stage at 224): the projections run on oneDNN weights packed once (pack_linear_weight);
# with more rows MKL's GEMMs were as fast or faster (measured at 196 and 784 rows).
PACKED_MAX_ROWS = 64


def _depthwise_conv(weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    chs, size = weight.shape[0], weight.shape[-1]
    conv = nn.Conv2d(chs, chs, size, padding=size // 2, groups=chs, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


class MultiPathBlock(nn.Module):
    """Deploy form of block ``l`` of every encoder of a stage, run as one: tokens are ``(B*N, P, C)``, the channel
    concatenation of the P paths, so each depthwise conv runs once over P*C channels and each projection is one
    batched matmul over the path axis. LayerNorm affine terms are folded into the projections that follow, the
    ``cpe`` identity and the three ``crpe`` windows into single depthwise kernels (shared by all blocks, as in
    training). Same arithmetic as the per-path blocks, up to float rounding."""

    def __init__(self, blocks: List[MHCABlock], cpe: nn.Conv2d, crpe: nn.Conv2d):
        super().__init__()
        attn = blocks[0].factoratt_crpe
        self.num_heads, self.head_dim, self.scale = attn.num_heads, attn.head_dim, attn.scale
        self.eps = blocks[0].norm1.eps
        self.norm_shape = tuple(blocks[0].norm1.normalized_shape)  # static, so tracers (ONNX) see a constant
        self.cpe = cpe
        self.crpe = crpe
        # (window, first channel, end channel) of each crpe window within a path, for the split fast path
        crpe_convs = blocks[0].crpe.conv_list
        ends = torch.tensor(blocks[0].crpe.channel_splits).cumsum(0).tolist()
        self.crpe_windows: List[Tuple[int, int, int]] = [
            (conv.kernel_size[0], end - conv.in_channels, end) for conv, end in zip(crpe_convs, ends)]
        self.qkv_weight, self.qkv_bias = _stack_linear(
            [b.factoratt_crpe.qkv for b in blocks], [b.norm1 for b in blocks])
        self.proj_weight, self.proj_bias = _stack_linear([b.factoratt_crpe.proj for b in blocks])
        self.fc1_weight, self.fc1_bias = _stack_linear([b.mlp.fc1 for b in blocks], [b.norm2 for b in blocks])
        self.fc2_weight, self.fc2_bias = _stack_linear([b.mlp.fc2 for b in blocks])
        self.act = blocks[0].mlp.act

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        BN, P, C = x.shape
        N = H * W
        B = BN // N
        heads, hd = self.num_heads, self.head_dim
        x = _to_tokens(self.cpe(_to_image(x.view(B, N, P * C), H, W))).view(BN, P, C)

        # inference in plain eager: matmuls per path, residual adds and GELU in place (x is the cpe's fresh output).
        # Fewer large fresh buffers per block: measured, interleaved with other models glibc otherwise hands the
        # 56x56 stage pages back and forth (thousands of page faults per forward)
        eager = plain_eager()
        in_place = eager and not torch.is_grad_enabled()
        traced = is_tracing()  # ONNX export: per-path 2-D projections, see _paths_linear
        normed = F.layer_norm(x, self.norm_shape, eps=self.eps)
        if traced:
            qkv = torch.stack(_paths_linear(self.qkv_bias, normed.unbind(1), self.qkv_weight))
        else:
            qkv = _paths_addmm(self.qkv_bias, normed.transpose(0, 1), self.qkv_weight, in_place)
        if B == 1 and N >= 784 and len(self.crpe_windows) > 1 and eager:
            out = self._q_crpe(qkv.view(P, N, 3 * C), H, W).view(P, B, N, C)
        else:
            v_paths = qkv[:, :, 2 * C:].reshape(P, B, N, C).permute(1, 2, 0, 3).reshape(B, N, P * C)  # paths -> chans
            rel = _to_tokens(self.crpe(_to_image(v_paths, H, W))).view(B, N, P, C).permute(2, 0, 1, 3)
            out = qkv[:, :, :C].view(P, B, N, C) * rel
        if B == 1 and N >= 196 and eager:
            self._factor_attention_(out.view(P, N, C), qkv.view(P, N, 3 * C))
        else:
            qkv_heads = qkv.view(P * B, N, 3, heads, hd)
            q, k, v = qkv_heads[:, :, 0], qkv_heads[:, :, 1], qkv_heads[:, :, 2]  # (P*B, N, heads, hd) views
            # softmax over the tokens after moving them last: the same numbers, and a last-axis Softmax in ONNX
            # (over axis 1 ONNX Runtime transposes a (P, N, heads, hd) tensor in and out, measured ~5 ms a call)
            context = (k.permute(0, 2, 3, 1).softmax(dim=-1) @ v.transpose(1, 2)) * self.scale
            out = out.view(P * B, N, heads, hd) + (q.transpose(1, 2) @ context).transpose(1, 2)
        packed = in_place and self._packed_applies(x)
        if packed:
            self._packed_paths_add_(x, 'proj', out.view(P, BN, C).unbind(0), self.proj_weight, self.proj_bias)
        elif in_place:
            _paths_accumulate_(x, self.proj_bias, out.view(P, BN, C), self.proj_weight)
        elif traced:
            x = x + torch.stack(_paths_linear(self.proj_bias, out.view(P, BN, C).unbind(0), self.proj_weight), 1)
        else:
            x = x + torch.baddbmm(self.proj_bias, out.view(P, BN, C), self.proj_weight).transpose(0, 1)

        normed = F.layer_norm(x, self.norm_shape, eps=self.eps)
        if traced:
            hidden = [self.act(h) for h in _paths_linear(self.fc1_bias, normed.unbind(1), self.fc1_weight)]
            return x + torch.stack(_paths_linear(self.fc2_bias, hidden, self.fc2_weight), 1)
        normed = normed.transpose(0, 1)
        if packed:
            self._packed_mlp_(x, normed)
            return x
        if in_place and isinstance(self.act, nn.GELU):
            hidden = _paths_addmm(self.fc1_bias, normed, self.fc1_weight, True)
            _paths_accumulate_(x, self.fc2_bias, torch.ops.aten.gelu_(hidden, approximate=self.act.approximate),
                               self.fc2_weight)
            return x
        hidden = self.act(torch.baddbmm(self.fc1_bias, normed, self.fc1_weight))
        return x + torch.baddbmm(self.fc2_bias, hidden, self.fc2_weight).transpose(0, 1)

    @torch.jit.unused
    def _packed_applies(self, x: torch.Tensor) -> bool:
        return x.shape[0] <= PACKED_MAX_ROWS and onednn_inference(x)

    @torch.jit.unused
    def _packed_mlp_(self, x: torch.Tensor, normed: torch.Tensor) -> None:
        """``x += fc2(act(fc1(normed)))`` per path on packed weights, the activation fused into fc1 where oneDNN has
        it."""
        post_op = onednn_post_op(self.act)
        hidden = self._packed_paths('fc1', normed.unbind(0), self.fc1_weight, self.fc1_bias, post_op or NO_POST_OP)
        if post_op is None:
            hidden = [self.act(h) for h in hidden]
        self._packed_paths_add_(x, 'fc2', hidden, self.fc2_weight, self.fc2_bias)

    @torch.jit.unused
    def _packed_paths(self, name: str, inputs: List[torch.Tensor], weight: torch.Tensor, bias: torch.Tensor,
                      post_op: PostOp = NO_POST_OP) -> List[torch.Tensor]:
        """Per-path ``post_op(x_p @ weight_p + bias_p)`` on oneDNN weights packed once (kept per row count and
        thread count, rebuilt if the weight changes)."""
        rows = inputs[0].shape[0]
        packed = cached(self, (name, rows, torch.get_num_threads()), (weight,),
                        lambda: [pack_linear_weight(w.t(), rows) for w in weight.unbind(0)])
        return [run_packed_linear(x_p, w_p, b_p[0], post_op) for x_p, w_p, b_p in zip(inputs, packed, bias.unbind(0))]

    @torch.jit.unused
    def _packed_paths_add_(self, acc: torch.Tensor, name: str, inputs: List[torch.Tensor], weight: torch.Tensor,
                           bias: torch.Tensor) -> None:
        """``acc[:, p] += x_p @ weight_p + bias_p`` per path (acc tokens-major, (M, P, N)), on packed weights."""
        for acc_p, y_p in zip(acc.unbind(1), self._packed_paths(name, inputs, weight, bias)):
            acc_p.add_(y_p)

    @torch.jit.unused
    def _q_crpe(self, qkv: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """``q * crpe(v)`` for one image with one depthwise conv per crpe window (3x3 / 5x5 / 7x7 heads) instead of
        the single zero-padded 7x7 kernel: 39% fewer taps, measured 1.1-2.5x faster on the 56x56 and 28x28 maps
        (the padded kernel stays faster at 14x14 and below, and is what TorchScript / tracing run)."""
        P, N, C3 = qkv.shape
        C = C3 // 3
        out = torch.empty(P, N, C, dtype=qkv.dtype, device=qkv.device)
        weight = self.crpe.weight.view(P, C, 1, *self.crpe.kernel_size)
        bias = self.crpe.bias.view(P, C)
        for size, start, end in self.crpe_windows:
            chs, crop = P * (end - start), (weight.shape[-1] - size) // 2
            v = qkv[:, :, 2 * C + start:2 * C + end].transpose(0, 1).reshape(1, H, W, chs).permute(0, 3, 1, 2)
            rel = F.conv2d(v, weight[:, start:end, :, crop:crop + size, crop:crop + size].reshape(chs, 1, size, size),
                           bias[:, start:end].reshape(chs), padding=size // 2, groups=chs)
            rel = rel.permute(0, 2, 3, 1).reshape(N, P, end - start).transpose(0, 1)
            torch.mul(qkv[:, :, start:end], rel, out=out[:, :, start:end])
        return out

    def _factor_attention_(self, out: torch.Tensor, qkv: torch.Tensor) -> None:
        """``out += q @ (softmax_N(k)^T @ v) * scale`` per path, in place, for one image: the heads are the batch of
        ``bmm`` on strided views of ``qkv`` (no layout copies; the 4-d matmuls copy q, k and v to (heads, N, hd)
        first). Measured 2.7x / 1.3x / 1.1x faster at stages 1 / 2 / 3 (plain eager only: in-place views)."""
        P, N, C = out.shape
        heads, hd = self.num_heads, self.head_dim
        k_soft = qkv[:, :, C:2 * C].softmax(dim=1)
        for p in range(P):
            context = torch.bmm(k_soft[p].view(N, heads, hd).permute(1, 2, 0),
                                qkv[p, :, 2 * C:].view(N, heads, hd).transpose(0, 1)).mul_(self.scale)
            out[p].view(N, heads, hd).transpose(0, 1).baddbmm_(qkv[p, :, :C].view(N, heads, hd).transpose(0, 1),
                                                              context)


class MHCAStageDeploy(nn.Module):
    """Deploy form of ``MHCAStage``: the P encoders batched (``MultiPathBlock``), the conv branch folded, and the
    concat + 1x1 ``aggregate`` split into two matmuls over [conv branch | paths] (no concat copy)."""

    def __init__(self, stage: MHCAStage):
        super().__init__()
        encoders = list(stage.mhca_blks)
        self.InvRes = stage.InvRes.fuse()
        cpe = _depthwise_conv(*[torch.cat(t) for t in zip(*[e.cpe.fused_kernel() for e in encoders])])
        crpe = _depthwise_conv(*[torch.cat(t) for t in zip(*[e.crpe.fused_kernel() for e in encoders])])
        self.blocks = nn.ModuleList([
            MultiPathBlock([e.MHCA_layers[idx] for e in encoders], cpe, crpe)
            for idx in range(encoders[0].num_layers)])
        aggregate = fuse_conv_bn(stage.aggregate.conv, stage.aggregate.bn)
        dim = aggregate.in_channels // (len(encoders) + 1)
        weight = aggregate.weight.detach().flatten(1)
        self.aggregate_conv_weight = nn.Parameter(weight[:, :dim].clone())  # columns of the InvRes channels
        self.aggregate_paths_weight = nn.Parameter(weight[:, dim:].t().contiguous())
        self.aggregate_bias = nn.Parameter(aggregate.bias.detach().clone())
        self.act = stage.aggregate.act

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        B, C, H, W = inputs[0].shape
        conv = F.linear(_to_tokens(self.InvRes(inputs[0])).reshape(B * H * W, C), self.aggregate_conv_weight,
                        self.aggregate_bias)
        x = torch.stack([_to_tokens(t) for t in inputs], dim=2).view(B * H * W, len(inputs), C)
        for block in self.blocks:
            x = block(x, H, W)
        out = torch.addmm(conv, x.view(B * H * W, -1), self.aggregate_paths_weight)
        return self.act(_to_image(out.view(B, H * W, -1), H, W))


class ClsHead(nn.Module):
    """Global pool -> dropout -> Linear ``cls`` (official ``cls_head.cls``; the official head had no pool choice
    and no dropout)."""

    def __init__(self, in_features: int, num_classes: int, pool_type: str = 'avg', drop_rate: float = 0.):
        super().__init__()
        self.in_features = in_features
        self.global_pool = SelectAdaptivePool2d(pool_type=pool_type, flatten=bool(pool_type))
        self.drop = nn.Dropout(drop_rate)
        self.cls = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    def reset(self, num_classes: int, pool_type: Optional[str] = None, device=None, dtype=None) -> None:
        if pool_type is not None:
            self.global_pool = SelectAdaptivePool2d(pool_type=pool_type, flatten=bool(pool_type))
        dd = dict(device=device, dtype=dtype)
        self.cls = nn.Linear(self.in_features, num_classes, **dd) if num_classes > 0 else nn.Identity()
        self.cls.train(self.training)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(self.global_pool(x))
        return x if pre_logits else self.cls(x)


class MPViT(StageFeatures, nn.Module):
    """Multi-Path Vision Transformer.

    Args:
        num_layers: transformer blocks per path in each stage.
        embed_dims: stage widths; stage i outputs ``embed_dims[i + 1]`` channels (the last stage keeps its own).
        mlp_ratios: MLP expansion per stage.
        num_heads: attention heads per stage.
        num_paths: embedding paths (= transformer encoders) per stage.
        in_chans: input channels.
        num_classes: classifier outputs, 0 for none.
        global_pool: pooling before the classifier ('' keeps the map).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth, linear from 0 over all blocks of a path (the paths of a stage share
            the schedule, as in the official code).
        qkv_bias: bias in the qkv projection.
        crpe_windows: crpe window size -> heads, or one window for all heads.
    """

    def __init__(
            self,
            num_layers: Tuple[int, ...] = (1, 2, 4, 1),
            embed_dims: Tuple[int, ...] = (64, 96, 176, 216),
            mlp_ratios: Tuple[float, ...] = (2, 2, 2, 2),
            num_heads: Tuple[int, ...] = (8, 8, 8, 8),
            num_paths: Tuple[int, ...] = (2, 3, 3, 3),
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = 'avg',
            drop_rate: float = 0.,
            drop_path_rate: float = 0.,
            qkv_bias: bool = True,
            crpe_windows: Union[int, Dict[int, int]] = CRPE_WINDOWS,
    ):
        super().__init__()
        num_stages = len(embed_dims)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.num_stages = num_stages
        self.drop_rate = drop_rate
        self.grad_checkpointing = False
        out_dims = [embed_dims[min(idx + 1, num_stages - 1)] for idx in range(num_stages)]
        dpr = calculate_drop_path_rates(drop_path_rate, list(num_layers), stagewise=True)

        self.stem = nn.Sequential(
            ConvBnAct(in_chans, embed_dims[0] // 2, 3, stride=2, act_layer=nn.Hardswish),
            ConvBnAct(embed_dims[0] // 2, embed_dims[0], 3, stride=2, act_layer=nn.Hardswish),
        )
        self.patch_embed_stages = nn.ModuleList([
            MultiPathPatchEmbed(embed_dims[idx], num_paths[idx], downsample=idx > 0) for idx in range(num_stages)])
        self.mhca_stages = nn.ModuleList([
            MHCAStage(
                embed_dims[idx], out_dims[idx], num_layers[idx], num_heads[idx], mlp_ratios[idx], num_paths[idx],
                drop_path=dpr[idx], qkv_bias=qkv_bias, crpe_windows=crpe_windows)
            for idx in range(num_stages)])
        self.feature_info = [
            dict(num_chs=out_dims[idx], reduction=4 * 2 ** idx, module=f'mhca_stages.{idx}')
            for idx in range(num_stages)]
        self.num_features = self.head_hidden_size = out_dims[-1]
        self.cls_head = ClsHead(self.num_features, num_classes, global_pool, drop_rate)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @torch.jit.ignore
    def no_weight_decay(self) -> Set[str]:
        return set()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, Any]:
        return dict(
            stem=r'^stem',
            blocks=r'^(?:patch_embed_stages|mhca_stages)\.(\d+)' if coarse else [
                (r'^patch_embed_stages\.(\d+)', (0,)),
                (r'^mhca_stages\.(\d+)\.mhca_blks\.\d+\.MHCA_layers\.(\d+)', None),
                (r'^mhca_stages\.(\d+)\.(?:mhca_blks\.\d+\.(?:cpe|crpe)|InvRes)\.', (0,)),
                (r'^mhca_stages\.(\d+)\.aggregate', (99999,)),
            ],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable
        for stage in self.mhca_stages:
            for encoder in stage.mhca_blks:
                encoder.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.cls_head.cls

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        # the new classifier goes where the model is (the old one may be gone: reset to 0 classes, then to n)
        self.cls_head.reset(num_classes, global_pool, **get_device_dtype(self))

    # forward_intermediates / prune_intermediate_layers: models._features.StageFeatures, through these hooks
    feature_stage_attrs = ('patch_embed_stages', 'mhca_stages')  # level i: patch embedding i, then encoder stage i
    feature_output_fmts = ('NCHW', 'NHWC')  # NCHW maps have channels-last strides; NHWC is a free view of them

    def _forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x.contiguous(memory_format=torch.channels_last))

    def _prune_head(self) -> None:
        self.cls_head.in_features = self.num_features  # a later reset_classifier sizes it for the kept stages
        self.reset_classifier(0, '')

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        for embed, stage in zip(self.patch_embed_stages, self.mhca_stages):
            x = stage(embed(x))
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.cls_head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        x = self.forward_head(x)
        return x


# ----------------------------------------------------------------------------------------------------------------
# checkpoints

# detectron2 (Mask R-CNN / RetinaNet: FPN.bottom_up = MPViT_Backbone.backbone), Deformable-DETR (Joiner[0].backbone),
# MMSegmentation / MMDetection (model.backbone); the longest prefix is tried first.
_DENSE_PREFIXES = ('backbone.bottom_up.backbone.', 'backbone.0.backbone.', 'backbone.')


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: MPViT) -> Dict[str, torch.Tensor]:
    """Accept the authors' files and check them against ``model`` (one-line ``CheckpointError`` on misfit).

    Layouts accepted, all without renaming:
    * the classification release ``{'model': state_dict}`` with every alias key (873 / 873 / 1263 / 1419);
    * the same weights with the alias keys missing (e.g. a de-duplicated safetensors file): each shared tensor
      is taken from whichever of its names is present;
    * backbone-only files: keys under ``backbone.bottom_up.backbone.`` (detectron2), ``backbone.0.backbone.``
      (Deformable-DETR) or ``backbone.`` (MMSegmentation / MMDetection) keep only the backbone, FPN and heads are
      dropped; FrozenBN files (no ``num_batches_tracked``) get zero counters. Without ``cls_head`` weights the
      classifier keeps its initialisation (a warning says so) - meant for ``features_only=True`` models.

    Alias semantics follow ``torch.nn.Module.load_state_dict`` on the official model: when a file's aliases
    disagree, the last name in state_dict order wins (for ``cpe``: ``MHCA_layers.{L-1}.cpe``; for ``crpe``:
    ``MHCA_layers.{L-1}.factoratt_crpe.crpe``). The authors' files always hold equal copies.
    """
    if not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        state_dict = unwrap_state_dict(state_dict)  # raw container from a url download
    for prefix in _DENSE_PREFIXES:
        if any(k.startswith(prefix + 'stem.') for k in state_dict):
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
            break

    expected = model.state_dict(keep_vars=True)
    out = dict(state_dict)

    # FrozenBN layouts carry no batch counter
    for key, value in expected.items():
        if key.endswith('.num_batches_tracked') and key not in out and \
                key[:-len('num_batches_tracked')] + 'running_mean' in out:
            out[key] = torch.zeros_like(value)

    # shared modules: one tensor under several names; resolve as load_state_dict would (last name wins)
    names_of_tensor: Dict[int, List[str]] = {}
    for key, value in expected.items():
        names_of_tensor.setdefault(id(value), []).append(key)
    for names in names_of_tensor.values():
        present = [name for name in names if name in out]
        if len(names) > 1 and present:
            for name in names:
                out[name] = out[present[-1]]

    head_keys = [k for k in expected if k.startswith('cls_head.')]
    if head_keys and not any(k in out for k in head_keys):
        _logger.warning('MPViT checkpoint has no classifier (cls_head.*): the classifier keeps its initialisation')
        out.update({k: expected[k].detach() for k in head_keys})

    check_state_dict(model, out, ignore_prefixes=classifier_prefixes(model))
    return out


def _create_mpvit(variant: str, pretrained: bool = False, **kwargs) -> MPViT:
    model_args = dict(MODEL_CFGS[variant], **kwargs)
    return build_model(
        MPViT, variant, pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(out_indices=(0, 1, 2, 3), feature_cls='getter'),
        **model_args,
    )


def _cfg(url: str = '', **kwargs) -> Dict[str, Any]:
    return {
        'url': url,
        'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': (7, 7),
        'crop_pct': 0.875, 'interpolation': 'bicubic',
        'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'stem.0.conv', 'classifier': 'cls_head.cls',
        'license': 'gpl-3.0',
        'paper_ids': 'arXiv:2112.11010',
        'paper_name': 'MPViT: Multi-Path Vision Transformer for Dense Prediction',
        'origin_url': 'https://github.com/youngwanLEE/MPViT',
        **kwargs,
    }


# The authors' Dropbox links (reported dead since 2023, youngwanLEE/MPViT#21); a local copy loads through
# pretrained_cfg_overlay=dict(file=...).
default_cfgs = generate_default_cfgs({
    'mpvit_tiny.in1k': _cfg(url='https://dl.dropbox.com/s/1cmquqyjmaeeg1n/mpvit_tiny.pth'),
    'mpvit_xsmall.in1k': _cfg(url='https://dl.dropbox.com/s/vvpq2m474g8tvyq/mpvit_xsmall.pth'),
    'mpvit_small.in1k': _cfg(url='https://dl.dropbox.com/s/y3dnmmy8h4npz7a/mpvit_small.pth'),
    'mpvit_base.in1k': _cfg(url='https://dl.dropbox.com/s/la8w31m0apj2830/mpvit_base.pth'),
})


@register_model
def mpvit_tiny(pretrained: bool = False, **kwargs) -> MPViT:
    """MPViT-Tiny: 5.84M params, 1.65 GMACs, 78.2% ImageNet top-1 (paper)."""
    return _create_mpvit('mpvit_tiny', pretrained, **kwargs)


@register_model
def mpvit_xsmall(pretrained: bool = False, **kwargs) -> MPViT:
    """MPViT-XSmall: 10.57M params, 2.97 GMACs, 80.9% ImageNet top-1 (paper)."""
    return _create_mpvit('mpvit_xsmall', pretrained, **kwargs)


@register_model
def mpvit_small(pretrained: bool = False, **kwargs) -> MPViT:
    """MPViT-Small: 22.89M params, 4.80 GMACs, 83.0% ImageNet top-1 (paper)."""
    return _create_mpvit('mpvit_small', pretrained, **kwargs)


@register_model
def mpvit_base(pretrained: bool = False, **kwargs) -> MPViT:
    """MPViT-Base: 74.85M params, 16.45 GMACs, 84.3% ImageNet top-1 (paper)."""
    return _create_mpvit('mpvit_base', pretrained, **kwargs)
