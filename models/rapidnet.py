""" RapidNet: Multi-Level Dilated Convolution Based Mobile Backbone (WACV 2025)

Paper: `RapidNet: Multi-Level Dilated Convolution Based Mobile Backbone` - https://arxiv.org/abs/2412.10995
Official code (Apache-2.0): https://github.com/mmunir127/RapidNet-Official ; weights: HF ``SLDGroup/RapidNet``.

A conv stem, then four stages of inverted-residual (IR) blocks; stages 2 and 3 end with MLDC blocks (a 7x7 RepCPE,
two dense dilated 3x3 convs in parallel, a large-kernel conv FFN). The classifier is a pooled 1x1 conv + BN + GELU
("prediction") followed by two 1x1 conv heads (``head`` and the distillation head ``dist_head``).

Module paths follow the official model, so the authors' ``state_dict`` (518 keys for Ti, 754 for S/M/B) loads
unchanged and strict: ``stem.stem.*``, ``backbone.{stage}.{index}.*``, ``prediction.{1,2}.*``, ``head``,
``dist_head``. Index 0 of stages 1-3 is the stride-2 downsample.

Behaviour that differs from the official code (on purpose):
* Builders honour ``num_classes``, ``in_chans``, ``distillation``, ``drop_rate``, ``drop_path_rate``,
  ``global_pool`` (the official builders ignore every keyword argument).
* Stochastic depth is linear over all blocks, IR and MLDC alike. The official index only advances after MLDC
  blocks, so nearly every IR block got rate 0 and the deepest got ~0.02 of a nominal 0.1. The default
  ``drop_path_rate`` is 0.0; recipes pass the paper's 0.1 explicitly.
* ``set_distilled_training(False)`` makes train mode return the averaged logits instead of ``(head, dist_head)``.
  ``distillation=False`` builds no ``dist_head``; the official file's ``dist_head`` is then dropped on load and the
  logits are ``head`` alone (the official eval output is the mean of both heads).
* ``global_pool=''`` keeps the spatial map; ``prediction`` and the heads (1x1 convs) then run per position.
* Deployment (``timm.utils.reparameterize_model``) folds every conv-BN pair, the RepCPE identity (as the paper
  does) and the layer scales; the official code only folds RepCPE. The deployed convs also take faster CPU kernels
  (the shared ``models._blocks.DeployConv2d``).

Kept as in the official code: BatchNorm on the pooled 1x1 features in ``prediction`` (so training needs batch > 1),
1x1 conv heads with 4-D weights, layer scales shaped (C, 1, 1) (so timm's ndim<=1 rule does weight-decay them, as
the authors' training did), Kaiming-normal init of every conv with zero bias.
"""
from functools import partial
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import DropPath, SelectAdaptivePool2d
from timm.models import generate_default_cfgs, register_model, register_model_deprecations
from timm.models._manipulate import checkpoint_seq

from ._blocks import DeployConv2d, Residual, fuse_to_deploy_conv
from ._checkpoint import CheckpointError, build_model, check_state_dict, classifier_prefixes, unwrap_state_dict
from ._features import FeatureStages, StageFeatures

__all__ = ['RapidNet', 'checkpoint_filter_fn']

# blocks per stage as (n_inverted_residual, n_mldc), stage widths, width of the pre-logits embedding
MODEL_CFGS: Dict[str, dict] = {
    'ti': dict(blocks=((2, 0), (2, 0), (6, 2), (2, 2)), channels=(32, 64, 112, 224), emb_dim=512),
    's': dict(blocks=((3, 0), (3, 0), (9, 3), (3, 3)), channels=(32, 64, 112, 224), emb_dim=512),
    'm': dict(blocks=((3, 0), (3, 0), (9, 3), (3, 3)), channels=(32, 64, 160, 320), emb_dim=512),
    'b': dict(blocks=((3, 0), (3, 0), (9, 3), (3, 3)), channels=(64, 128, 224, 416), emb_dim=768),
}

_HEAD_PREFIXES = ('prediction.', 'head.', 'dist_head.')


# ----------------------------------------------------------------------------------------------------------------
# deploy form: what ``timm.utils.reparameterize_model`` turns the blocks into (DeployConv2d and Residual are shared,
# see models/_blocks.py)


class ParallelSum(nn.Module):
    """Deploy form of the two dilated branches: ``a(x) + b(x)``."""

    def __init__(self, a: nn.Module, b: nn.Module):
        super().__init__()
        self.a = a
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x).add_(self.b(x))


# ----------------------------------------------------------------------------------------------------------------
# training-form modules (official key layout)


class Stem(nn.Module):
    """Two stride-2 3x3 conv-BN-GELU; keys ``stem.stem.{0,1,3,4}``."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__()
        mid = out_chs // 2
        self.stem = nn.Sequential(
            nn.Conv2d(in_chs, mid, 3, stride=2, padding=1),
            nn.BatchNorm2d(mid),
            nn.GELU(),
            nn.Conv2d(mid, out_chs, 3, stride=2, padding=1),
            nn.BatchNorm2d(out_chs),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x)

    def fuse(self) -> nn.Sequential:
        return nn.Sequential(fuse_to_deploy_conv(self.stem[0], self.stem[1], gelu=True),
                             fuse_to_deploy_conv(self.stem[3], self.stem[4], gelu=True))


class Downsample(nn.Module):
    """Stride-2 3x3 conv + BN, no activation; keys ``conv.{0,1}``."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_chs, out_chs, 3, stride=2, padding=1), nn.BatchNorm2d(out_chs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def fuse(self) -> DeployConv2d:
        return fuse_to_deploy_conv(self.conv[0], self.conv[1])


class DepthwiseSeparable(nn.Module):
    """1x1 expand - 3x3 depthwise - 1x1 project, each with BN; GELU after the first two (official
    ``DepthWiseSeparable``)."""

    def __init__(self, dim: int, expansion: int = 4):
        super().__init__()
        hidden = dim * expansion
        self.pw1 = nn.Conv2d(dim, hidden, 1)
        self.norm1 = nn.BatchNorm2d(hidden)
        self.act1 = nn.GELU()
        self.dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.norm2 = nn.BatchNorm2d(hidden)
        self.act2 = nn.GELU()
        self.pw2 = nn.Conv2d(hidden, dim, 1)
        self.norm3 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.norm1(self.pw1(x)))
        x = self.act2(self.norm2(self.dw(x)))
        return self.norm3(self.pw2(x))


class InvertedResidual(nn.Module):
    """``x + drop_path(layer_scale_1 * dws(x))``."""

    def __init__(self, dim: int, expansion: int = 4, drop_path: float = 0., layer_scale_init_value: float = 1e-5):
        super().__init__()
        self.dws = DepthwiseSeparable(dim, expansion)
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim, 1, 1))
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.layer_scale_1 * self.dws(x))

    def fuse(self) -> Residual:
        d = self.dws
        return Residual(
            fuse_to_deploy_conv(d.pw1, d.norm1, gelu=True),
            fuse_to_deploy_conv(d.dw, d.norm2, gelu=True),
            fuse_to_deploy_conv(d.pw2, d.norm3, scale=self.layer_scale_1))


class RepCPE(nn.Module):
    """Conditional positional encoding ``pe(x) + x`` with a 7x7 depthwise ``pe``; folds into one conv."""

    def __init__(self, dim: int, kernel_size: int = 7):
        super().__init__()
        self.pe = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pe(x) + x

    @torch.no_grad()
    def fuse(self) -> DeployConv2d:
        conv = fuse_to_deploy_conv(self.pe)
        conv.weight.add_(_identity_kernel(conv.weight))  # the skip is the centre tap of a depthwise kernel
        return conv


def _identity_kernel(weight: torch.Tensor) -> torch.Tensor:
    """Depthwise kernel that passes each channel through unchanged (1 at the centre tap)."""
    kernel = torch.zeros_like(weight)
    kh, kw = weight.shape[-2:]
    kernel[:, 0, kh // 2, kw // 2] = 1.
    return kernel


class DilatedConv(nn.Module):
    """Two parallel dense 3x3 convs with dilation 2 and 3, each conv-BN-GELU, summed. The official attribute
    names (``graph_conv.nn``, ``graph_conv.nn_2``) are a MobileViG leftover kept for key compatibility."""

    def __init__(self, dim: int):
        super().__init__()
        self.nn = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=2, dilation=2), nn.BatchNorm2d(dim), nn.GELU())
        self.nn_2 = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=3, dilation=3), nn.BatchNorm2d(dim), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nn(x) + self.nn_2(x)

    def fuse(self) -> ParallelSum:
        return ParallelSum(fuse_to_deploy_conv(self.nn[0], self.nn[1], gelu=True),
                           fuse_to_deploy_conv(self.nn_2[0], self.nn_2[1], gelu=True))


class MLDC(nn.Module):
    """Multi-level dilated convolution mixer: RepCPE -> 1x1 conv-BN -> dilated pair -> 1x1 conv-BN."""

    def __init__(self, dim: int):
        super().__init__()
        self.cpe = RepCPE(dim)
        self.fc1 = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim))
        self.graph_conv = DilatedConv(dim)
        self.fc2 = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.graph_conv(self.fc1(self.cpe(x))))

    def fuse_with_scale(self, scale: torch.Tensor) -> Residual:
        return Residual(
            self.cpe.fuse(),
            fuse_to_deploy_conv(self.fc1[0], self.fc1[1]),
            self.graph_conv.fuse(),
            fuse_to_deploy_conv(self.fc2[0], self.fc2[1], scale=scale))


class ConvFFN(nn.Module):
    """Large-kernel FFN: 7x7 depthwise conv (no bias) + BN, then 1x1 expand-BN-GELU, 1x1 project-BN. There is no
    activation after the depthwise conv. ``conv.conv`` nesting kept for key compatibility."""

    def __init__(self, dim: int, hidden: int, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Sequential()
        self.conv.add_module('conv', nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim,
                                               bias=False))
        self.norm1 = nn.BatchNorm2d(dim)
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.norm2 = nn.BatchNorm2d(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.norm3 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(self.conv(x))
        x = self.act(self.norm2(self.fc1(x)))
        return self.norm3(self.fc2(x))

    def fuse_with_scale(self, scale: torch.Tensor) -> Residual:
        return Residual(
            fuse_to_deploy_conv(self.conv.conv, self.norm1),
            fuse_to_deploy_conv(self.fc1, self.norm2, gelu=True),
            fuse_to_deploy_conv(self.fc2, self.norm3, scale=scale))


class MldcBlock(nn.Module):
    """MLDC mixer and large-kernel FFN, each a layer-scaled residual (official ``MLDC_LKFFN``). Both residuals
    share one drop-path rate, as in the official block."""

    def __init__(self, dim: int, expansion: int = 4, drop_path: float = 0., layer_scale_init_value: float = 1e-5):
        super().__init__()
        self.mixer = MLDC(dim)
        self.ffn = ConvFFN(dim, dim * expansion)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim, 1, 1))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.layer_scale_1 * self.mixer(x))
        return x + self.drop_path(self.layer_scale_2 * self.ffn(x))

    def fuse(self) -> nn.Sequential:
        return nn.Sequential(
            self.mixer.fuse_with_scale(self.layer_scale_1), self.ffn.fuse_with_scale(self.layer_scale_2))


class PreLogits(nn.Sequential):
    """Official ``prediction``: pool -> 1x1 conv -> BN -> GELU -> dropout (indices 0-4). The pool comes first, so
    the BN sees 1x1 maps and training needs batch > 1 (architecture, kept)."""

    def __init__(self, in_chs: int, out_chs: int, pool_type: str = 'avg', drop_rate: float = 0.):
        super().__init__(
            _make_pool(pool_type),
            nn.Conv2d(in_chs, out_chs, 1),
            nn.BatchNorm2d(out_chs),
            nn.GELU(),
            nn.Dropout(drop_rate),
        )

    def fuse(self) -> nn.Sequential:
        # same indices as before (pool at 0) so reset_classifier / prune_intermediate_layers still apply
        return nn.Sequential(
            self[0], fuse_to_deploy_conv(self[1], self[2], gelu=True), nn.Identity(), nn.Identity(), self[4])


def _make_pool(pool_type: str) -> nn.Module:
    pool = SelectAdaptivePool2d(pool_type=pool_type, flatten=False)
    assert pool.feat_mult() == 1, 'Pooling that changes the channel count is not supported.'
    return pool


# ----------------------------------------------------------------------------------------------------------------


class RapidNet(StageFeatures, nn.Module):
    """RapidNet classifier with the official module layout.

    Args:
        blocks: per stage ``(n_inverted_residual, n_mldc)``.
        channels: per-stage widths; the stem outputs ``channels[0]`` at stride 4.
        emb_dim: width of the pre-logits embedding (``prediction``), i.e. ``head_hidden_size``.
        distillation: build ``dist_head``. Train mode then returns ``(head, dist_head)`` logits (see
            :meth:`set_distilled_training`); eval mode returns their mean, as the official model.
        drop_path_rate: maximum stochastic-depth rate, linear over all blocks (fixes the official schedule).
    """

    def __init__(
            self,
            blocks: Tuple[Tuple[int, int], ...] = MODEL_CFGS['ti']['blocks'],
            channels: Tuple[int, ...] = MODEL_CFGS['ti']['channels'],
            emb_dim: int = 512,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = 'avg',
            distillation: bool = True,
            mlp_ratio: int = 4,
            layer_scale_init_value: float = 1e-5,
            drop_rate: float = 0.,
            drop_path_rate: float = 0.,
    ):
        super().__init__()
        assert len(blocks) == len(channels)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.global_pool = global_pool
        self.distillation = distillation
        self.distilled_training = True  # official train-mode output is the (head, dist_head) pair
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        self.stem = Stem(in_chans, channels[0])

        depths = [n_ir + n_mldc for n_ir, n_mldc in blocks]
        rates = iter(torch.linspace(0, drop_path_rate, sum(depths), device='cpu').tolist())
        stages = []
        self.feature_info = []
        for i, (n_ir, n_mldc) in enumerate(blocks):
            layers: List[nn.Module] = []
            if i > 0:
                layers.append(Downsample(channels[i - 1], channels[i]))
            layers += [InvertedResidual(channels[i], mlp_ratio, next(rates), layer_scale_init_value)
                       for _ in range(n_ir)]
            layers += [MldcBlock(channels[i], mlp_ratio, next(rates), layer_scale_init_value)
                       for _ in range(n_mldc)]
            stages.append(nn.Sequential(*layers))
            self.feature_info.append(dict(num_chs=channels[i], reduction=4 * 2 ** i, module=f'backbone.{i}'))
        self.backbone = FeatureStages(*stages)

        self.num_features = channels[-1]
        self.head_hidden_size = emb_dim
        self.prediction = PreLogits(channels[-1], emb_dim, global_pool, drop_rate)
        self.head, self.dist_head = self._make_heads(num_classes)
        self._init_weights()

    def _make_heads(self, num_classes: int) -> Tuple[nn.Module, Optional[nn.Module]]:
        def make():
            return nn.Conv2d(self.head_hidden_size, num_classes, 1) if num_classes > 0 else nn.Identity()
        return make(), (make() if self.distillation else None)

    def _init_weights(self):
        # official model_init: Kaiming-normal (fan_in, ReLU gain) for every conv incl. the heads, zero bias
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @torch.jit.ignore
    def no_weight_decay(self) -> set:
        return set()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(
            stem=r'^stem',
            blocks=r'^backbone\.(\d+)' if coarse else [
                (r'^backbone\.(\d+)\.(\d+)', None),
                (r'^prediction', (99999,)),
            ],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True):
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def set_distilled_training(self, enable: bool = True):
        """Train mode returns ``(head, dist_head)`` logits when enabled (default, official), else their mean."""
        self.distilled_training = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        """Replace both heads (``dist_head`` too when the model was built with distillation); 0 removes them.
        ``global_pool=''`` keeps the spatial map: ``prediction`` and the heads are 1x1 convs, so they then run
        per position, as timm's conv-head models (FasterNet, MobileNetV3) do."""
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
            self.prediction[0] = _make_pool(global_pool)
        reference = next(self.parameters())
        self.head, self.dist_head = self._make_heads(num_classes)
        for head in (self.head, self.dist_head):
            if head is not None:
                head.to(device=reference.device, dtype=reference.dtype)
        self.train(self.training)

    # forward_intermediates / prune_intermediate_layers: models._features.StageFeatures, through these hooks
    feature_stage_attrs = ('backbone',)

    # TorchScript reaches the stages by literal name only
    def _num_stages(self) -> int:
        return len(self.backbone)

    def _forward_stages(self, x: torch.Tensor, take_indices: List[int], last_index: int):
        return self.backbone.forward_intermediates(x, take_indices, last_index, self.grad_checkpointing)

    def _prune_head(self) -> None:
        # the pre-logits conv belongs to the head: keep only the pooling slot
        for i in (1, 2, 3):
            self.prediction[i] = nn.Identity()
        self.head_hidden_size = self.num_features
        self.reset_classifier(0, '')

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.backbone, x)
        else:
            x = self.backbone(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False):
        x = self.prediction(x)
        pooled = bool(self.global_pool)
        if pre_logits or self.num_classes == 0:
            return x.flatten(1) if pooled else x
        logits = self.head(x)
        if self.dist_head is None:
            return logits.flatten(1) if pooled else logits
        logits_dist = self.dist_head(x)
        if pooled:
            logits, logits_dist = logits.flatten(1), logits_dist.flatten(1)
        if self.training and self.distilled_training and not torch.jit.is_scripting():
            return logits, logits_dist
        return (logits + logits_dist) / 2

    def forward(self, x: torch.Tensor):
        return self.forward_head(self.forward_features(x))


# ----------------------------------------------------------------------------------------------------------------
# checkpoints


def checkpoint_filter_fn(
        state_dict: Dict[str, torch.Tensor],
        model: RapidNet,
        backbone_only: bool = False,
) -> Dict[str, torch.Tensor]:
    """Accept the authors' files and check them against ``model`` (one-line :class:`CheckpointError` on misfit).

    Layouts accepted:
    * classification ``state_dict`` (518 / 754 keys; heads as 1x1 convs) - validated, not renamed;
    * the paper's deployed form (``mixer.cpe.reparam_conv``): the identity is taken back out of the kernel;
    * dense-task backbones (``rapidnet_{m,b}_feat``: no ``prediction``/``head``/``dist_head``), bare or inside an
      MMDetection / MMSegmentation checkpoint (``backbone.`` prefix; neck and heads dropped). These only load into
      ``features_only`` models (``backbone_only=True``); a classifier gets an error saying so.
    Heads: a model built with ``distillation=False`` drops the file's ``dist_head`` (its logits are then ``head``
    alone, not the official mean); a distilled model given a single-head file gets ``dist_head = head``, which
    leaves the eval output equal to ``head``.
    Note: timm's file loader prefers ``state_dict_ema`` when a file has both; the authors' ``--eval`` reads the raw
    ``state_dict`` (``models._checkpoint.load_checkpoint(..., use_ema=False)`` loads that one).
    """
    if not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        state_dict = unwrap_state_dict(state_dict)  # raw container from a url / hub download
    if 'backbone.stem.stem.0.weight' in state_dict:  # detector / segmentor: strip the mm wrapper's prefix
        state_dict = {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')}

    out = {}
    for key, value in state_dict.items():
        if '.cpe.reparam_conv.' in key:
            key = key.replace('.cpe.reparam_conv.', '.cpe.pe.')
            if key.endswith('.weight'):
                value = value - _identity_kernel(value)
        out[key] = value

    variant = model.pretrained_cfg.get('architecture') if hasattr(model, 'pretrained_cfg') else None
    has_heads = any(k.startswith(_HEAD_PREFIXES) for k in out)
    ignore = tuple(classifier_prefixes(model))
    if backbone_only:
        out = {k: v for k, v in out.items() if not k.startswith(_HEAD_PREFIXES)}
        ignore = _HEAD_PREFIXES
    elif not has_heads and 'stem.stem.0.weight' in out:
        raise CheckpointError(
            f'checkpoint holds only a {variant or "RapidNet"} backbone (dense-task layout, no prediction/head); '
            f'load it with features_only=True')
    else:
        if model.dist_head is None:
            out = {k: v for k, v in out.items() if not k.startswith('dist_head.')}
        elif 'head.weight' in out and 'dist_head.weight' not in out:
            out['dist_head.weight'], out['dist_head.bias'] = out['head.weight'], out['head.bias']

    check_state_dict(model, out, variant=variant, ignore_prefixes=ignore)
    return out


def _create_rapidnet(variant: str, pretrained: bool = False, **kwargs) -> RapidNet:
    size = variant.split('_')[-1]
    model_args = dict(MODEL_CFGS[size])
    model_args.update(kwargs)
    return build_model(
        RapidNet, variant, pretrained,
        pretrained_filter_fn=partial(checkpoint_filter_fn, backbone_only=bool(kwargs.get('features_only'))),
        # default wrapper: forward_intermediates; flatten_sequential lets the list / dict / hook wrappers find
        # 'backbone.{i}' too
        feature_cfg=dict(out_indices=(0, 1, 2, 3), feature_cls='getter', flatten_sequential=True),
        **model_args,
    )


def _cfg(url: str = '', **kwargs) -> dict:
    return {
        'url': url,
        'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': (7, 7),
        'crop_pct': 0.9, 'interpolation': 'bicubic',
        'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'stem.stem.0', 'classifier': ('head', 'dist_head'),
        'license': 'apache-2.0',
        'paper_ids': 'arXiv:2412.10995',
        'paper_name': 'RapidNet: Multi-Level Dilated Convolution Based Mobile Backbone',
        'origin_url': 'https://github.com/mmunir127/RapidNet-Official',
        **kwargs,
    }


_HF = 'https://huggingface.co/SLDGroup/RapidNet/resolve/main/'

default_cfgs = generate_default_cfgs({
    'rapidnet_ti.dist_in1k': _cfg(url=_HF + 'RapidNet_Ti.pth'),
    'rapidnet_s.dist_in1k': _cfg(url=_HF + 'RapidNet_S.pth'),
    'rapidnet_m.dist_in1k': _cfg(url=_HF + 'RapidNet_M.pth'),
    'rapidnet_b.dist_in1k': _cfg(url=_HF + 'RapidNet_B.pth'),
})


@register_model
def rapidnet_ti(pretrained: bool = False, **kwargs) -> RapidNet:
    return _create_rapidnet('rapidnet_ti', pretrained, **kwargs)


@register_model
def rapidnet_s(pretrained: bool = False, **kwargs) -> RapidNet:
    return _create_rapidnet('rapidnet_s', pretrained, **kwargs)


@register_model
def rapidnet_m(pretrained: bool = False, **kwargs) -> RapidNet:
    return _create_rapidnet('rapidnet_m', pretrained, **kwargs)


@register_model
def rapidnet_b(pretrained: bool = False, **kwargs) -> RapidNet:
    return _create_rapidnet('rapidnet_b', pretrained, **kwargs)


# the official (case-sensitive) names
register_model_deprecations(__name__, {
    'RapidNet_Ti': 'rapidnet_ti',
    'RapidNet_S': 'rapidnet_s',
    'RapidNet_M': 'rapidnet_m',
    'RapidNet_B': 'rapidnet_b',
})
