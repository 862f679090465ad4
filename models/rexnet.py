"""ReXNet (CVPR 2021) and ReXNet-lite on top of timm's ``RexNet``.

Paper: `Rethinking Channel Dimensions for Efficient Model Design` - https://arxiv.org/abs/2007.00992
Official code and weights: https://github.com/clovaai/rexnet (``rexnetv1.py``, ``rexnetv1_lite.py``, MIT).

timm already implements ReXNet-V1 (``timm.models.rexnet``); this module adds what timm lacks and reuses its classes:

* variants ``rexnet_090`` / ``rexnet_220`` (the widths of the paper's COCO tables) and ``rexnet_lite_100/130/150/200``;
* loading of the authors' ``.pth`` files (``rexnetv1_1.0.pth``, ``rexnet_lite_1.0.pth``, ...; plain state_dicts in a
  flat ``features.N`` layout) through ``checkpoint_filter_fn``, which maps them key by key onto timm's layout;
  timm's own hub files keep loading unchanged;
* conv-BN folding through ``timm.utils.reparameterize_model`` (eval-only deploy form; its conv weights are stored
  channels_last, so the deployed network runs NHWC on CPU; in plain eager CPU inference every conv and its
  activation, ReXNet-lite's depthwise ReLU6 included, is one oneDNN call on a weight pre-packed per input shape and
  thread count, the shared ``models._blocks.DeployConv2d``: same values, ~30-50% lower latency);
* ``features_only=True`` defaulting to the stride 4, 8, 16, 32 levels (see below).

timm's ``rexnet_100/130/150/200/300`` are re-registered here with the same classes, keys, cfgs and hub weights; the
additions (official-file loading, folding) make them a superset of timm's. One deliberate difference:
``features_only=True`` without ``out_indices`` returns the four levels at strides 4/8/16/32 (timm: all five,
starting at stride 2). ``feature_info`` itself is timm's, so ``out_indices=(1, 2, 3, 4)`` selects strides
4/8/16/32 for every ReXNet and ReXNet-lite variant (``out_indices=(0, ..., 4)`` still gives timm's five).

Behaviour vs. the official code (same function unless noted):
* the partial residual (official: in place, ``out[:, :C_in] += x``) is timm's out-of-place slice + cat in the
  training form and in place again in the deploy form; same values;
* stochastic depth (``drop_path_rate``, timm's linear rule) exists only here; the official code has none;
* ReXNet-lite's head: official ``avgpool`` + ``output`` Sequential of 1x1 convs becomes ``head.hidden``
  (1x1 conv + BN + ReLU6) and a ``Linear`` ``head.fc``; the checkpoint's 4-D classifier weight is reshaped.
"""
import warnings
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import ConvNormAct, SEModule, SelectAdaptivePool2d, get_device_dtype, make_divisible
from timm.models import generate_default_cfgs, register_model, register_model_deprecations
from timm.models._efficientnet_builder import efficientnet_init_weights
from timm.models.rexnet import LinearBottleneck, RexNet, _block_cfg, _build_blocks

from ._blocks import fuse_conv_bn, fuse_to_deploy_conv, is_tracing, onednn_post_op
from ._checkpoint import CheckpointError, build_model, check_state_dict, classifier_prefixes

__all__ = ['ReXNet', 'ReXNetLite', 'checkpoint_filter_fn', 'remap_official_state_dict']


# ---------------------------------------------------------------------------------------------------------------
# Deploy form: timm's layers plus fuse()/reparameterize(). The subclasses add methods only (no state), so an
# instance of timm's class is re-typed in place after construction: keys, init and outputs are timm's.
# ---------------------------------------------------------------------------------------------------------------

class FoldableConvNormAct(ConvNormAct):
    """timm's ``ConvNormAct`` with ``fuse()`` (picked up by ``timm.utils.reparameterize_model``)."""

    def fuse(self) -> nn.Module:
        if getattr(self, 'aa', None) is not None or not isinstance(self.bn, nn.BatchNorm2d):
            return self  # anti-aliased or norm-free variants are not used by ReXNet; leave them untouched
        # the shared deploy conv: the activation the norm layer carried becomes a fused oneDNN post-op
        return fuse_to_deploy_conv(self.conv, self.bn, act=self.bn.act)


class FoldableSEModule(SEModule):
    """timm's ``SEModule`` whose BN (between ``fc1`` and the ReLU, official ReXNet SE) folds into ``fc1``."""

    @torch.no_grad()
    def reparameterize(self) -> None:
        if isinstance(self.bn, nn.BatchNorm2d):
            self.fc1 = fuse_conv_bn(self.fc1, self.bn)
            self.bn = nn.Identity()


class DeployableBottleneck(LinearBottleneck):
    """timm's ``LinearBottleneck``; once reparameterized (inference only) it works in place like the official
    block: the depthwise activation overwrites its input and the partial residual is ``x[:, :C_in] += shortcut``
    instead of timm's slice + ``torch.cat`` copy of the whole output (fewer full-size tensors per block).
    ``forward`` restates timm's (TorchScript has no ``super()``); the training path is timm's, unchanged."""

    def reparameterize(self) -> None:
        if (self.se is None and isinstance(self.conv_dw, FoldableConvNormAct)
                and isinstance(self.conv_dw.bn.act, nn.Identity) and onednn_post_op(self.act_dw) is not None):
            # no SE in between (ReXNet-lite): the depthwise activation becomes the dw conv's fused post-op
            self.conv_dw.bn.act = self.act_dw
            self.act_dw = nn.Identity()
        elif hasattr(self.act_dw, 'inplace'):
            self.act_dw.inplace = True  # its input (dw conv output or SE product) is a fresh tensor
        self.deployed = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        if self.conv_exp is not None:
            x = self.conv_exp(x)
        x = self.conv_dw(x)
        if self.se is not None:
            x = self.se(x)
        x = self.act_dw(x)
        x = self.conv_pwl(x)
        if self.use_shortcut:
            if self.deployed and not is_tracing():
                x[:, :self.in_channels] += shortcut  # x is the projection conv's own output
            else:  # (also the ONNX export graph: Slice + Add + Concat, not the ScatterND the in-place add traces to)
                if self.drop_path is not None:
                    x = self.drop_path(x)
                x = torch.cat([x[:, 0:self.in_channels] + shortcut, x[:, self.in_channels:]], dim=1)
        return x


_FOLDABLE_TYPES = {
    ConvNormAct: FoldableConvNormAct,
    SEModule: FoldableSEModule,
    LinearBottleneck: DeployableBottleneck,
}


def _adopt_deploy_layers(model: nn.Module) -> None:
    for module in model.modules():
        new_type = _FOLDABLE_TYPES.get(type(module))
        if new_type is not None:
            module.__class__ = new_type
            if new_type is DeployableBottleneck:
                module.deployed = False  # an instance attribute, so that TorchScript sees it


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------

class ReXNet(RexNet):
    """ReXNet-V1: timm's ``RexNet`` (same layers, keys and outputs) with foldable conv-BN pieces.

    The channel schedule (``round`` half-to-even, 11.25 channels per block at width 1) and the SE widths
    (``C // 12``) of timm's ``RexNet`` equal the official code for every width 0.9 ... 3.0 (checked by the
    parameter-count tests against the authors' code).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        _adopt_deploy_layers(self)

    @torch.jit.ignore
    def no_weight_decay(self) -> set:
        return set()  # no embeddings or scales; timm's optimizer factory already skips norms and biases


class LiteClassifierHead(nn.Module):
    """ReXNet-lite head: global pool -> 1x1 conv (bias) + BN + ReLU6 hidden layer -> dropout -> linear.

    The hidden layer is a conv so that the head also runs on unpooled maps (``global_pool=''``).
    """

    def __init__(
            self,
            in_features: int,
            num_classes: int,
            hidden_size: int = 1024,
            pool_type: str = 'avg',
            drop_rate: float = 0.2,
            act_layer: str = 'relu6',
            device=None,
            dtype=None,
    ):
        super().__init__()
        dd = {'device': device, 'dtype': dtype}
        self.in_features = in_features
        self.global_pool = SelectAdaptivePool2d(pool_type=pool_type)
        self.hidden = FoldableConvNormAct(
            in_features * self.global_pool.feat_mult(), hidden_size, 1, bias=True, act_layer=act_layer, **dd)
        self.num_features = hidden_size
        self.flatten = nn.Flatten(1) if pool_type else nn.Identity()
        self.drop = nn.Dropout(drop_rate)
        self.fc = self._make_fc(num_classes, pool_type, **dd)

    def _make_fc(self, num_classes: int, pool_type: str, device=None, dtype=None) -> nn.Module:
        if not num_classes:
            return nn.Identity()
        if not pool_type:  # no pooling: logits per position, as timm's conv-classifier heads give them
            return nn.Conv2d(self.num_features, num_classes, 1, device=device, dtype=dtype)
        return nn.Linear(self.num_features, num_classes, device=device, dtype=dtype)

    def reset(
            self,
            num_classes: int,
            pool_type: Optional[str] = None,
            in_features: Optional[int] = None,
            device=None,
            dtype=None,
    ) -> None:
        dd = get_device_dtype(self, device=device, dtype=dtype)
        if in_features is not None and in_features != self.in_features:
            # the trunk was pruned: the hidden layer is sized for the removed final features, drop it
            self.in_features = self.num_features = in_features
            self.hidden = nn.Identity()
        if pool_type is not None and pool_type != self.global_pool.pool_type:
            self.global_pool = SelectAdaptivePool2d(pool_type=pool_type)
            self.flatten = nn.Flatten(1) if pool_type else nn.Identity()
        self.fc = self._make_fc(num_classes, self.global_pool.pool_type, **dd)
        self.fc.train(self.training)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        x = self.hidden(x)
        x = self.flatten(x)
        x = self.drop(x)
        return x if pre_logits else self.fc(x)


def _lite_block_cfg(multiplier: float, initial_chs: int = 16, final_chs: int = 164, ch_div: int = 8):
    """ReXNet-lite block table: V1's strides and expansions (timm's ``_block_cfg``), but the channel increment is
    ``final_chs / (num_blocks - 1)`` (V1: ``/ num_blocks``) and every width is rounded to a multiple of 8."""
    v1_cfg = _block_cfg(multiplier, 1.0, initial_chs, final_chs, se_ratio=0., ch_div=ch_div)
    step = final_chs / (len(v1_cfg) - 1)
    chs = initial_chs / multiplier if multiplier < 1.0 else initial_chs
    cfg = []
    for _, exp_ratio, stride, se_ratio in v1_cfg:
        cfg.append((make_divisible(round(chs * multiplier), ch_div), exp_ratio, stride, se_ratio))
        chs += step  # accumulate in the official order: the widths depend on float rounding at .5
    return cfg


class ReXNetLite(RexNet):
    """ReXNet-lite: timm's ReXNet blocks without SE and SiLU (ReLU6 everywhere), channels rounded to multiples of
    8, a 1024-wide hidden layer in the head, and pen width 1280 for multipliers <= 1 (official ``fix_head_stem``
    is False; ``kernel_conf`` '333333').

    Only ``__init__`` and the head differ from timm's ``RexNet``; forward, features, intermediates, pruning and
    grad checkpointing are inherited.
    """

    def __init__(
            self,
            in_chans: int = 3,
            num_classes: int = 1000,
            global_pool: str = 'avg',
            output_stride: int = 32,
            initial_chs: int = 16,
            final_chs: int = 164,
            width_mult: float = 1.0,
            ch_div: int = 8,
            head_hidden_size: int = 1024,
            act_layer: str = 'relu6',
            drop_rate: float = 0.2,
            drop_path_rate: float = 0.,
            device=None,
            dtype=None,
    ):
        nn.Module.__init__(self)  # RexNet.__init__ would build the V1 channel table; build the lite one instead
        dd = {'device': device, 'dtype': dtype}
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate
        self.grad_checkpointing = False
        assert output_stride in (32, 16, 8)

        stem_chs = make_divisible(round(32 * width_mult), ch_div) if width_mult >= 1.0 else 32
        self.stem = ConvNormAct(in_chans, stem_chs, 3, stride=2, act_layer=act_layer, **dd)
        block_cfg = _lite_block_cfg(width_mult, initial_chs, final_chs, ch_div)
        # timm sizes the final conv as make_divisible(1280 * width_mult); lite keeps 1280 for width_mult <= 1
        features, self.feature_info = _build_blocks(
            block_cfg, stem_chs, max(width_mult, 1.0), ch_div, output_stride,
            act_layer=act_layer, dw_act_layer=act_layer, drop_path_rate=drop_path_rate, **dd)
        self.num_features = features[-1].out_channels
        self.features = nn.Sequential(*features)
        self.stage_ends = [int(info['module'].split('.')[-1]) for info in self.feature_info]

        self.head = LiteClassifierHead(
            self.num_features, num_classes, head_hidden_size, global_pool, drop_rate, act_layer, **dd)
        self.head_hidden_size = self.head.num_features
        efficientnet_init_weights(self)
        _adopt_deploy_layers(self)

    @torch.jit.ignore
    def no_weight_decay(self) -> set:
        return set()

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None, device=None, dtype=None) -> None:
        self.num_classes = num_classes
        self.head.reset(num_classes, global_pool, in_features=self.num_features, device=device, dtype=dtype)
        self.head_hidden_size = self.head.num_features


# ---------------------------------------------------------------------------------------------------------------
# Official checkpoints -> timm layout
# ---------------------------------------------------------------------------------------------------------------

_BN_LEAVES = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def _is_official_layout(state_dict: Dict[str, torch.Tensor]) -> bool:
    stem = state_dict.get('features.0.weight')
    return stem is not None and stem.ndim == 4 and 'stem.conv.weight' not in state_dict


def _official_key_map(model: RexNet, lite: bool) -> List[Tuple[str, str, str]]:
    """(official key, timm key, role) for every tensor, derived from the model's own structure.

    Official layout: ``features`` = stem conv (0), BN (1), act (2), the blocks (3 ...), final conv, BN, act
    [, pool]; inside a block ``out`` = [expand conv, BN, act,] dw conv, BN, [SE,] act, project conv, BN.
    """
    rows: List[Tuple[str, str, str]] = []

    def conv(off: str, ours: str, module: nn.Conv2d) -> None:
        rows.append((f'{off}.weight', f'{ours}.weight', 'conv'))
        if module.bias is not None:
            rows.append((f'{off}.bias', f'{ours}.bias', 'bias'))

    def bn(off: str, ours: str) -> None:
        rows.extend((f'{off}.{leaf}', f'{ours}.{leaf}', 'bn') for leaf in _BN_LEAVES)

    def conv_bn(off_conv: str, off_bn: str, ours: str, module: ConvNormAct) -> None:
        conv(off_conv, f'{ours}.conv', module.conv)
        bn(off_bn, f'{ours}.bn')

    conv_bn('features.0', 'features.1', 'stem', model.stem)
    blocks = [m for m in model.features if isinstance(m, LinearBottleneck)]
    for i, block in enumerate(blocks):
        off, ours, k = f'features.{3 + i}.out', f'features.{i}', 0
        if block.conv_exp is not None:
            conv_bn(f'{off}.{k}', f'{off}.{k + 1}', f'{ours}.conv_exp', block.conv_exp)
            k += 3  # conv, BN, act
        conv_bn(f'{off}.{k}', f'{off}.{k + 1}', f'{ours}.conv_dw', block.conv_dw)
        k += 2  # V1: SE (if any) then ReLU6 follow; lite: ReLU6 follows. The project conv comes next either way
        if block.se is not None:
            conv(f'{off}.{k}.fc.0', f'{ours}.se.fc1', block.se.fc1)
            bn(f'{off}.{k}.fc.1', f'{ours}.se.bn')
            conv(f'{off}.{k}.fc.3', f'{ours}.se.fc2', block.se.fc2)
            k += 1
        k += 1  # ReLU6
        conv_bn(f'{off}.{k}', f'{off}.{k + 1}', f'{ours}.conv_pwl', block.conv_pwl)
    n = len(blocks)
    if len(model.features) > n:
        conv_bn(f'features.{3 + n}', f'features.{4 + n}', f'features.{n}', model.features[n])
    if lite:
        head = model.head
        if isinstance(head.hidden, ConvNormAct):
            conv_bn('output.0', 'output.1', 'head.hidden', head.hidden)
        rows += [('output.4.weight', 'head.fc.weight', 'classifier'), ('output.4.bias', 'head.fc.bias', 'bias')]
    else:
        rows += [('output.1.weight', 'head.fc.weight', 'classifier'), ('output.1.bias', 'head.fc.bias', 'bias')]
    return rows


def _variant(model: nn.Module) -> str:
    return (getattr(model, 'pretrained_cfg', None) or {}).get('architecture') or type(model).__name__


def remap_official_state_dict(state_dict: Dict[str, torch.Tensor], model: RexNet) -> Dict[str, torch.Tensor]:
    """Map an official ReXNet / ReXNet-lite state_dict onto ``model``'s (timm) keys; one-line errors.

    Every official key must be claimed by exactly one model tensor of the same role: conv weights 4-D, BN and
    bias tensors 1-D (``num_batches_tracked`` 0-D); the 1x1-conv classifier weight becomes a Linear weight.
    Shapes are then compared with the model by ``check_state_dict``.
    """
    lite = isinstance(model, ReXNetLite)
    file_lite = 'output.4.weight' in state_dict
    name = _variant(model)
    if lite != file_lite:
        kind = 'ReXNet-lite' if file_lite else 'ReXNet-V1'
        raise CheckpointError(f'checkpoint does not fit {name}: it is an official {kind} checkpoint')
    rows = _official_key_map(model, lite)
    out: Dict[str, torch.Tensor] = {}
    missing, bad_role = [], []
    for off_key, our_key, role in rows:
        tensor = state_dict.get(off_key)
        if tensor is None:
            if off_key.endswith('num_batches_tracked'):  # files saved by torch < 0.4.1 lack the counter
                tensor = torch.zeros((), dtype=torch.long)
            else:
                missing.append(off_key)
                continue
        ndim_ok = {'conv': tensor.ndim == 4, 'classifier': tensor.ndim == 4 and tensor.shape[2:] == (1, 1),
                   'bias': tensor.ndim == 1,
                   'bn': tensor.ndim == (0 if off_key.endswith('num_batches_tracked') else 1)}[role]
        if not ndim_ok:
            bad_role.append(f'{off_key} {tuple(tensor.shape)} is not a {role} tensor')
            continue
        out[our_key] = tensor.flatten(1) if role == 'classifier' else tensor
    claimed = {row[0] for row in rows}
    unexpected = [k for k in state_dict if k not in claimed]
    if missing or unexpected or bad_role:
        parts = [f'{len(missing)} missing official keys ({", ".join(missing[:3])})' if missing else '',
                 f'{len(unexpected)} unexpected official keys ({", ".join(unexpected[:3])})' if unexpected else '',
                 '; '.join(bad_role[:2])]
        raise CheckpointError(f'official checkpoint does not fit {name}: ' + '; '.join(p for p in parts if p))
    return out


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: RexNet) -> Dict[str, torch.Tensor]:
    """timm's pretrained filter: official files are remapped, timm-layout files pass through; both are checked."""
    if _is_official_layout(state_dict):
        state_dict = remap_official_state_dict(state_dict, model)
    check_state_dict(model, state_dict, _variant(model), ignore_prefixes=classifier_prefixes(model))
    return state_dict


# ---------------------------------------------------------------------------------------------------------------
# Builders, cfgs, registration
# ---------------------------------------------------------------------------------------------------------------

# timm feature_info levels are strides 2, 4, 8, 16, 32; dense tasks want the last four.
DENSE_OUT_INDICES = (1, 2, 3, 4)


def _create(model_cls, variant: str, pretrained: bool = False, **kwargs) -> RexNet:
    return build_model(
        model_cls, variant, pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(flatten_sequential=True, out_indices=DENSE_OUT_INDICES),
        **kwargs)


_PAPER = dict(
    license='mit', paper_ids='arXiv:2007.00992',
    paper_name='Rethinking Channel Dimensions for Efficient Model Design',
    origin_url='https://github.com/clovaai/rexnet')


def _cfg(url: str = '', **kwargs) -> dict:
    return {
        'url': url, 'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': (7, 7),
        'crop_pct': 0.875, 'interpolation': 'bicubic', 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'stem.conv', 'classifier': 'head.fc', **_PAPER, **kwargs,
    }


_LITE_NOTE = ('Authors\' weights (README "Pretrained Models", Google Drive, updated files): rexnet_lite_{m}.pth; '
              'load with pretrained_cfg_overlay=dict(file=PATH).')

default_cfgs = generate_default_cfgs({
    'rexnet_090.untrained': _cfg(notes='width of the COCO tables; no ImageNet weights were released'),
    # timm's hub files are the authors' weights, remapped by timm in 2020; the authors' .pth files load too
    'rexnet_100.nav_in1k': _cfg(hf_hub_id='timm/'),
    'rexnet_130.nav_in1k': _cfg(hf_hub_id='timm/'),
    'rexnet_150.nav_in1k': _cfg(hf_hub_id='timm/'),
    'rexnet_200.nav_in1k': _cfg(
        hf_hub_id='timm/',
        notes='README first table says 1.8B FLOPs / 19M params for ReXNet_2.0; the model table and the code give '
              '1.5B / 16M (measured 1.56 GMACs, 16,366,620 params); 1.88 GMACs / 19.49M is width 2.2'),
    'rexnet_220.untrained': _cfg(
        notes='width of the COCO tables (ReXNet_2.2-FPN); 19,485,308 params, 1.88 GMACs; no ImageNet weights'),
    'rexnet_300.nav_in1k': _cfg(hf_hub_id='timm/'),
    'rexnet_lite_100.nav_in1k': _cfg(notes=_LITE_NOTE.format(m='1.0')),
    'rexnet_lite_130.nav_in1k': _cfg(notes=_LITE_NOTE.format(m='1.3')),
    'rexnet_lite_150.nav_in1k': _cfg(notes=_LITE_NOTE.format(m='1.5')),
    'rexnet_lite_200.nav_in1k': _cfg(notes=_LITE_NOTE.format(m='2.0')),
})


def _register_over_timm(fn):
    """``register_model`` for a name timm already registers: ours replaces it quietly (same model, plus loaders)."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message=f'Overwriting {fn.__name__} in registry')
        return register_model(fn)


@register_model
def rexnet_090(pretrained: bool = False, **kwargs) -> ReXNet:
    """ReXNet-V1 0.9x (4.09M params)."""
    return _create(ReXNet, 'rexnet_090', pretrained, width_mult=0.9, **kwargs)


@_register_over_timm
def rexnet_100(pretrained: bool = False, **kwargs) -> ReXNet:
    """ReXNet-V1 1.0x (4.80M params)."""
    return _create(ReXNet, 'rexnet_100', pretrained, **kwargs)


@_register_over_timm
def rexnet_130(pretrained: bool = False, **kwargs) -> ReXNet:
    """ReXNet-V1 1.3x (7.56M params)."""
    return _create(ReXNet, 'rexnet_130', pretrained, width_mult=1.3, **kwargs)


@_register_over_timm
def rexnet_150(pretrained: bool = False, **kwargs) -> ReXNet:
    """ReXNet-V1 1.5x (9.73M params)."""
    return _create(ReXNet, 'rexnet_150', pretrained, width_mult=1.5, **kwargs)


@_register_over_timm
def rexnet_200(pretrained: bool = False, **kwargs) -> ReXNet:
    """ReXNet-V1 2.0x (16.37M params, 1.56 GMACs). The README's first table ("1.8B/19M") is wrong for 2.0: those
    are the numbers of width 2.2; its model table ("1.5B/16M") matches the code."""
    return _create(ReXNet, 'rexnet_200', pretrained, width_mult=2.0, **kwargs)


@register_model
def rexnet_220(pretrained: bool = False, **kwargs) -> ReXNet:
    """ReXNet-V1 2.2x (19.49M params), the detection backbone of the paper's COCO tables."""
    return _create(ReXNet, 'rexnet_220', pretrained, width_mult=2.2, **kwargs)


@_register_over_timm
def rexnet_300(pretrained: bool = False, **kwargs) -> ReXNet:
    """ReXNet-V1 3.0x (34.71M params)."""
    return _create(ReXNet, 'rexnet_300', pretrained, width_mult=3.0, **kwargs)


@register_model
def rexnet_lite_100(pretrained: bool = False, **kwargs) -> ReXNetLite:
    """ReXNet-lite 1.0x (4.74M params)."""
    return _create(ReXNetLite, 'rexnet_lite_100', pretrained, width_mult=1.0, **kwargs)


@register_model
def rexnet_lite_130(pretrained: bool = False, **kwargs) -> ReXNetLite:
    """ReXNet-lite 1.3x (6.75M params)."""
    return _create(ReXNetLite, 'rexnet_lite_130', pretrained, width_mult=1.3, **kwargs)


@register_model
def rexnet_lite_150(pretrained: bool = False, **kwargs) -> ReXNetLite:
    """ReXNet-lite 1.5x (8.33M params)."""
    return _create(ReXNetLite, 'rexnet_lite_150', pretrained, width_mult=1.5, **kwargs)


@register_model
def rexnet_lite_200(pretrained: bool = False, **kwargs) -> ReXNetLite:
    """ReXNet-lite 2.0x (12.97M params)."""
    return _create(ReXNetLite, 'rexnet_lite_200', pretrained, width_mult=2.0, **kwargs)


# The authors' class names (ReXNetV1(width_mult=...), ReXNetV1_lite(multiplier=...)) as timm names.
register_model_deprecations(__name__, {
    **{f'rexnetv1_{w}': f'rexnet_{w}' for w in ('090', '100', '130', '150', '200', '220', '300')},
    **{f'rexnetv1_lite_{m}': f'rexnet_lite_{m}' for m in ('100', '130', '150', '200')},
})
