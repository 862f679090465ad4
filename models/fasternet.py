"""FasterNet (CVPR 2023, "Run, Don't Walk: Chasing Higher FLOPS for Faster Neural Networks") on timm's classes.

timm 1.0.31 ships the architecture (``timm.models.fasternet``); this module re-registers its six names with the
same class (a subclass adding methods only), the same keys, the same pretrained cfgs (plus the authors' release
urls) and adds what timm lacks:

* loaders for the authors' files: the release ``.pth`` files (bare state_dict in the official key layout),
  Lightning ``.ckpt`` state_dicts (``model.`` prefix) and MMDetection checkpoints (``backbone.`` prefix, with the
  output norms of the official dense backbone). timm's own hub files (timm layout) load unchanged;
* ``output_norms=True``: the BatchNorm that the official ``fork_feat`` backbone puts on every dense output, under
  the official key names ``norm0 / norm2 / norm4 / norm6`` (indices of the official interleaved ``stages``
  Sequential), applied by ``forward_intermediates`` and therefore by ``features_only`` models;
* a deploy form reached through ``timm.utils.reparameterize_model``: conv-BN folding everywhere; each stage keeps
  one channels-last buffer that its blocks update in place, the 1x1 convs run as matmuls (the residual add inside
  the second one) and the partial conv is written in place over the first channels ("slicing") without the
  whole-input copy of the official code and without corrupting the shortcut (:class:`FasterNetStage`,
  :class:`FasterNetDeployBlock`);
* ``pconv_fw_type='slicing'`` that falls back to ``split_cat`` whenever autograd needs the graph (the official
  slicing form fails in backward).

Behaviour vs. the authors' code (all documented where it happens):

* outputs and keys are identical (after the key remap) for every variant; drop-path schedule identical;
* the official detection backbones load the ImageNet file with ``strict=False`` and leave the output norms at
  BatchNorm defaults; here a classification file loads strictly into an ``output_norms`` model and only that
  absent group is kept at its initialisation (likewise the absent head when a detection file is loaded);
* the official detection code builds FasterNet-S with ``drop_path_rate=0.15`` (classification: 0.1); the
  registered default is the classification one, dense configs pass 0.15.
"""
import logging
import re
import warnings
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models import fasternet as timm_fasternet
from timm.models import checkpoint_seq, generate_default_cfgs, register_model
from timm.models._features import FeatureGetterNet

from ._blocks import fuse_conv_bn, is_tracing, plain_eager
from ._checkpoint import CheckpointError, build_model, check_state_dict, classifier_prefixes
from ._features import StageFeatures

__all__ = ['FasterNet', 'FasterNetStage', 'FasterNetDeployBlock', 'checkpoint_filter_fn', 'remap_official_state_dict']

_logger = logging.getLogger(__name__)


def _needs_autograd(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """True when the in-place forms must not run: autograd is recording, or the forward is being traced / scripted /
    compiled (tracers record in-place writes on views unreliably, e.g. ONNX export drops them)."""
    return not plain_eager() or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))


# ---------------------------------------------------------------------------------------------------------------
# timm's layers with the methods deployment needs (no new state: timm builds them, we adopt them, see _adopt)
# ---------------------------------------------------------------------------------------------------------------

class PartialConv(timm_fasternet.Partial_conv3):
    """timm's / the authors' partial conv (3x3 conv on the first ``dim // n_div`` channels).

    ``mode`` replaces the per-instance ``forward`` binding of the authors' code, so it can change after
    construction: ``'split_cat'`` (training form) or ``'slicing'`` (the official inference form: clone, then write
    in place). Unlike the official code, ``'slicing'`` falls back to ``split_cat`` whenever autograd is recording
    (the in-place write would make backward fail); both forms give identical outputs.
    """
    mode: str = 'split_cat'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == 'slicing' and not _needs_autograd(x, self.partial_conv3.weight):
            return self.forward_slicing(x)
        return self.forward_split_cat(x)


class PatchEmbed(timm_fasternet.PatchEmbed):
    def fuse(self) -> nn.Conv2d:
        return fuse_conv_bn(self.proj, self.norm) if isinstance(self.norm, nn.BatchNorm2d) else self.proj


class PatchMerging(timm_fasternet.PatchMerging):
    def fuse(self) -> nn.Conv2d:
        return fuse_conv_bn(self.reduction, self.norm) if isinstance(self.norm, nn.BatchNorm2d) else self.reduction


class MLPBlock(timm_fasternet.MLPBlock):
    """timm's block ``x + drop_path(mlp(pconv(x)))``; ``fuse()`` gives :class:`FasterNetDeployBlock`."""

    def fuse(self) -> nn.Module:
        return FasterNetDeployBlock.from_block(self)


# ---------------------------------------------------------------------------------------------------------------
# Deploy form
# ---------------------------------------------------------------------------------------------------------------

class FasterNetDeployBlock(nn.Module):
    """Inference form of one FasterNet block, built by ``MLPBlock.fuse()``.

    Same function as the block, ``x + fc2(act(fc1(pconv(x))))``, with the BatchNorm folded into ``fc1`` and the
    layer scale (if any) into ``fc2``. The block works on channels-last (NHWC) tensors, where the 1x1 convs are
    plain matmuls over pixels.

    The shortcut: the official in-place "slicing" form overwrites the first channels of the very tensor that the
    residual adds back (the paper-v1 timing bug), and the released fix clones the whole input first. Here only the
    first ``dim // n_div`` channels are copied (the conv needs them contiguous anyway), the conv result is written
    in place over them, ``fc1`` reads the mixed tensor, and the saved channels are written back before the residual
    matmul ``x += h @ fc2.T`` (:meth:`forward_nhwc_`). When autograd is recording, a copy-based form (concatenate,
    no in-place writes) runs instead, so a deploy model still backpropagates. Drop path is not part of the deploy
    form.
    """

    def __init__(self, dim: int, dim_conv: int, hidden_dim: int, act_layer: nn.Module, device=None, dtype=None):
        dd = {'device': device, 'dtype': dtype}
        super().__init__()
        self.dim_conv = dim_conv
        self.partial_conv3 = nn.Conv2d(dim_conv, dim_conv, 3, 1, 1, bias=False, **dd)
        self.fc1 = nn.Linear(dim, hidden_dim, **dd)
        self.act = act_layer
        self.fc2 = nn.Linear(hidden_dim, dim, bias=False, **dd)

    @classmethod
    @torch.no_grad()
    def from_block(cls, block: timm_fasternet.MLPBlock) -> 'FasterNetDeployBlock':
        conv1, norm, act, conv2 = block.mlp
        if not isinstance(norm, nn.BatchNorm2d):
            raise NotImplementedError(f'cannot fold {type(norm).__name__} into the FasterNet deploy block')
        pconv = block.spatial_mixing.partial_conv3
        deploy = cls(conv1.in_channels, pconv.in_channels, conv1.out_channels, act,
                     device=conv1.weight.device, dtype=conv1.weight.dtype)
        # stored channels-last like its input, so the conv does not re-layout the weight on every call
        deploy.partial_conv3.weight.data = pconv.weight.detach().clone(memory_format=torch.channels_last)
        fused = fuse_conv_bn(conv1, norm)
        deploy.fc1.weight.copy_(fused.weight.flatten(1))
        deploy.fc1.bias.copy_(fused.bias)
        fc2 = conv2.weight.flatten(1)
        if block.layer_scale is not None:
            fc2 = fc2 * block.layer_scale[:, None]
        deploy.fc2.weight.copy_(fc2)
        return deploy.train(block.training)

    def _pconv_nhwc(self, x1: torch.Tensor) -> torch.Tensor:
        # x1 is contiguous NHWC: its NCHW view is channels-last, which the conv keeps for its output
        return F.conv2d(x1.permute(0, 3, 1, 2), self.partial_conv3.weight, None, 1, 1).permute(0, 2, 3, 1)

    def forward_nhwc(self, x: torch.Tensor) -> torch.Tensor:
        """Copy-based form (any NHWC input, autograd-safe): ``x + fc2(act(fc1([pconv(x1), x2])))``."""
        c = self.dim_conv
        mixed = torch.cat((self._pconv_nhwc(x[..., :c].contiguous()), x[..., c:]), dim=-1)
        return x + F.linear(self.act(F.linear(mixed, self.fc1.weight, self.fc1.bias)), self.fc2.weight)

    def forward_nhwc_(self, x: torch.Tensor) -> torch.Tensor:
        """In-place form: ``x`` (contiguous NHWC, owned by the caller's stage) becomes the block output."""
        if _needs_autograd(x, self.fc1.weight):
            return self.forward_nhwc(x)
        c = self.dim_conv
        first = x.narrow(-1, 0, c)
        x1 = first.contiguous()  # the conv input, and the residual's first channels
        first.copy_(self._pconv_nhwc(x1))  # slicing: the partial conv in place on the first channels
        hidden = self.act(F.linear(x, self.fc1.weight, self.fc1.bias))
        first.copy_(x1)  # the shortcut needs the block input back
        x.view(-1, x.shape[-1]).addmm_(hidden.view(-1, hidden.shape[-1]), self.fc2.weight.t())
        return x

    def forward_nchw(self, x: torch.Tensor) -> torch.Tensor:
        """The export graph (``FasterNetStage.export_layout = 'nchw'``): the 1x1 convs as convs on NCHW
        tensors, the partial conv on a channel slice, concatenated back (no transposes)."""
        c = self.dim_conv
        mixed = torch.cat((F.conv2d(x[:, :c], self.partial_conv3.weight, None, 1, 1), x[:, c:]), dim=1)
        hidden = self.act(F.conv2d(mixed, self.fc1.weight[:, :, None, None], self.fc1.bias))
        return x + F.conv2d(hidden, self.fc2.weight[:, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW in and out (channels-last strides out); the caller's tensor is left untouched."""
        x = x.permute(0, 2, 3, 1)
        if _needs_autograd(x, self.fc1.weight):
            return self.forward_nhwc(x.contiguous()).permute(0, 3, 1, 2)
        return self.forward_nhwc_(x.clone(memory_format=torch.contiguous_format)).permute(0, 3, 1, 2)


class PatchMergingMatmul(nn.Linear):
    """Inference form of :class:`PatchMerging` on NHWC tensors: the k x k stride-k conv (BN folded) as one matmul
    over gathered k x k patches (weight ordered ``(row, column, channel)``)."""
    patch_size: int = 2

    @classmethod
    @torch.no_grad()
    def from_merging(cls, merging: timm_fasternet.PatchMerging) -> 'PatchMergingMatmul':
        conv = merging.fuse() if isinstance(merging, PatchMerging) else merging.reduction
        k = conv.kernel_size[0]
        if conv.kernel_size != (k, k) or conv.stride != (k, k) or conv.padding != (0, 0):
            raise NotImplementedError(f'patch merging as a matmul needs kernel == stride, got {conv}')
        out_chs, in_chs = conv.weight.shape[:2]
        layer = cls(k * k * in_chs, out_chs, device=conv.weight.device, dtype=conv.weight.dtype)
        layer.patch_size = k
        layer.weight.copy_(conv.weight.permute(0, 2, 3, 1).reshape(out_chs, k * k * in_chs))
        layer.bias.copy_(conv.bias if conv.bias is not None else 0.)
        return layer.train(merging.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        k = self.patch_size
        h, w = h // k, w // k  # a stride-k conv drops the incomplete last rows / columns
        patches = x[:, :k * h, :k * w].reshape(n, h, k, w, k, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h, w, k * k * c)
        return F.linear(patches, self.weight, self.bias)

    def forward_nchw(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW in and out: the k x k stride-k conv itself (the export graph)."""
        k = self.patch_size
        weight = self.weight.view(self.out_features, k, k, -1).permute(0, 3, 1, 2)
        return F.conv2d(x, weight, self.bias, stride=k)


class FasterNetStage(timm_fasternet.Block):
    """timm's stage (``downsample`` then ``blocks``); ``reparameterize()`` switches it in place to its deploy form:
    one channels-last buffer per stage (the merging output, or a copy of the input for the first stage) that the
    blocks update in place. Input and output stay NCHW (the output has channels-last strides)."""
    deploy: bool = False
    # The deploy graph a trace (ONNX export) records: 'nchw', 1x1 convs on NCHW tensors with no transposes or patch
    # gathers, measured faster than the eager 'nhwc' layout (matmuls over pixels) in both ONNX Runtime and OpenVINO
    # (1-thread CPU time, FasterNet-T0 / S: ORT 8.9 vs 9.5 / 91 vs 98 ms, OpenVINO 8.7 vs 9.8 / 90 vs 104 ms)
    export_layout: str = 'nchw'

    @torch.no_grad()
    def reparameterize(self) -> None:
        if self.deploy:
            return
        if not isinstance(self.downsample, nn.Identity):
            self.downsample = PatchMergingMatmul.from_merging(self.downsample)
        self.blocks = nn.Sequential(*[block.fuse() for block in self.blocks])
        self.deploy = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self._forward_deploy(x)
        # timm's Block.forward, spelled out: TorchScript has no super()
        x = self.downsample(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(self.blocks, x)
        return self.blocks(x)

    @torch.jit.unused  # the deploy form is eager / traced / exported; TorchScript compiles the training form
    def _forward_deploy(self, x: torch.Tensor) -> torch.Tensor:
        if self.export_layout == 'nchw' and is_tracing():
            if not isinstance(self.downsample, nn.Identity):
                x = self.downsample.forward_nchw(x)
            for block in self.blocks:
                x = block.forward_nchw(x)
            return x
        x = x.permute(0, 2, 3, 1)
        if isinstance(self.downsample, nn.Identity):
            x = x.clone(memory_format=torch.contiguous_format)  # own the buffer the blocks write into
        else:
            x = self.downsample(x)
        for block in self.blocks:
            x = block.forward_nhwc_(x)
        return x.permute(0, 3, 1, 2)


_ADOPTED_TYPES = {
    timm_fasternet.Block: FasterNetStage,
    timm_fasternet.Partial_conv3: PartialConv,
    timm_fasternet.PatchEmbed: PatchEmbed,
    timm_fasternet.PatchMerging: PatchMerging,
    timm_fasternet.MLPBlock: MLPBlock,
}


def _adopt(model: nn.Module, pconv_mode: str) -> None:
    """timm builds its layers by name; give them our subclasses (methods only, so weights/init/keys are timm's)."""
    for module in model.modules():
        new_type = _ADOPTED_TYPES.get(type(module))
        if new_type is not None:
            module.__class__ = new_type
        if isinstance(module, FasterNetStage):
            module.deploy = False  # an instance attribute: TorchScript does not see class attributes
        if isinstance(module, PartialConv):
            vars(module).pop('forward', None)  # timm binds forward per instance; ours dispatches on mode
            module.mode = pconv_mode


# ---------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------

class FasterNet(StageFeatures, timm_fasternet.FasterNet):
    """timm's ``FasterNet`` (same layers, keys and outputs) plus output norms, ``slicing`` mode and deployment.

    Args (in addition to timm's ``FasterNet`` arguments):
        output_norms: add the official dense backbone's BatchNorm per output (keys ``norm0/2/4/6``); they are
            applied to the features returned by ``forward_intermediates`` / ``features_only``, not to the
            classification path.
        pconv_fw_type: ``'split_cat'`` or ``'slicing'`` (see :class:`PartialConv`); can be changed later with
            :meth:`set_pconv_mode`.
    """

    def __init__(self, *args, output_norms: bool = False, pconv_fw_type: str = 'split_cat', **kwargs):
        if pconv_fw_type not in ('split_cat', 'slicing'):
            raise ValueError(f"pconv_fw_type must be 'split_cat' or 'slicing', got {pconv_fw_type!r}")
        super().__init__(*args, pconv_fw_type='split_cat', **kwargs)
        _adopt(self, pconv_fw_type)
        self.output_norms = output_norms
        if output_norms:
            norm_layer = kwargs.get('norm_layer', nn.BatchNorm2d)
            dd = {'device': kwargs.get('device'), 'dtype': kwargs.get('dtype')}
            for i, info in enumerate(self.feature_info):
                self.add_module(self._output_norm_name(i), norm_layer(info['num_chs'], **dd))

    @staticmethod
    def _output_norm_name(stage_index: int) -> str:
        # official names index its interleaved stages Sequential: block stage i is entry 2 * i
        return f'norm{2 * stage_index}'

    def _output_norm(self, stage_index: int) -> Optional[nn.Module]:
        return getattr(self, self._output_norm_name(stage_index), None) if self.output_norms else None

    def set_pconv_mode(self, mode: str) -> None:
        if mode not in ('split_cat', 'slicing'):
            raise ValueError(f"mode must be 'split_cat' or 'slicing', got {mode!r}")
        for module in self.modules():
            if isinstance(module, PartialConv):
                module.mode = mode

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, Any]:
        matcher = super().group_matcher(coarse)
        if not coarse:
            matcher['blocks'] = matcher['blocks'] + [(r'^norm(\d+)', (99999,))]
        return matcher

    # forward_intermediates / prune_intermediate_layers: models._features.StageFeatures (replacing timm's, same
    # semantics), through these hooks; each taken stage output goes through its output norm when output_norms is set

    def _forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_embed(x)

    def _forward_stages(self, x: torch.Tensor, take_indices: List[int], last_index: int):
        x, intermediates = super()._forward_stages(x, take_indices, last_index)
        if self.output_norms:  # the intermediates come in stage order, once each
            intermediates = [self._output_norm(i)(y) for i, y in zip(sorted(set(take_indices)), intermediates)]
        return x, intermediates

    def _truncate_stages(self, num_kept: int) -> None:
        # the output norms of removed stages go too; those of kept stages stay (they belong to the outputs, not to a
        # final norm, so prune_norm does not remove them)
        super()._truncate_stages(num_kept)
        if self.output_norms:
            for i in range(num_kept, len(self.feature_info)):
                if hasattr(self, self._output_norm_name(i)):
                    delattr(self, self._output_norm_name(i))

    def _prune_head(self) -> None:
        # as timm's: the pre-logits conv is part of the head
        self.conv_head = nn.Identity()
        self.act = nn.Identity()
        self.head_hidden_size = self.num_features
        self.reset_classifier(0, '')


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------------

_OFFICIAL_HEAD = {
    'avgpool_pre_head.1.weight': 'conv_head.weight',
    'head.weight': 'classifier.weight',
    'head.bias': 'classifier.bias',
}
_OFFICIAL_STAGE = re.compile(r'^stages\.(\d+)\.(.*)$')
_OFFICIAL_MARKERS = re.compile(r'^(avgpool_pre_head\.|head\.|stages\.\d+\.(reduction|norm)\.)')


def _official_key(key: str) -> str:
    """Official key -> timm key: stages ``2i`` (blocks) -> ``stages.i``, ``2i-1`` (merging) ->
    ``stages.i.downsample``; head renamed; ``patch_embed.*`` and the output norms ``norm{0,2,4,6}.*`` unchanged."""
    if key in _OFFICIAL_HEAD:
        return _OFFICIAL_HEAD[key]
    match = _OFFICIAL_STAGE.match(key)
    if match is None:
        return key
    index, rest = int(match.group(1)), match.group(2)
    if index % 2:
        return f'stages.{(index + 1) // 2}.downsample.{rest}'
    return f'stages.{index // 2}.{rest}'


def _strip_wrappers(state_dict: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], str]:
    """Remove the prefix of a detector (``backbone.``) or a Lightning module (``model.``) around the network."""
    if any(k.startswith('backbone.') for k in state_dict):  # MMDetection: neck and heads are not ours
        return {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')}, 'detection'
    if state_dict and all(k.startswith(('model.', 'criterion.')) for k in state_dict):  # Lightning (+ teacher)
        return {k[len('model.'):]: v for k, v in state_dict.items() if k.startswith('model.')}, 'lightning'
    return dict(state_dict), 'plain'


def remap_official_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Authors' layout (classification ``.pth``, Lightning or MMDetection prefixes) -> timm layout; timm-layout
    dicts pass through unchanged."""
    state_dict, _ = _strip_wrappers(state_dict)
    if not any(_OFFICIAL_MARKERS.match(k) for k in state_dict):
        return state_dict
    return {_official_key(k): v for k, v in state_dict.items()}


def _fill_absent_group(state_dict: Dict[str, torch.Tensor], model: nn.Module, prefixes: Iterable[str]) -> None:
    """Keep the model's own tensors for a group of keys the file cannot have (all absent, never partly)."""
    prefixes = tuple(prefixes)
    own = {k: v for k, v in model.state_dict().items() if k.startswith(prefixes)}
    if own and not any(k.startswith(prefixes) for k in state_dict):
        _logger.info(f'checkpoint has no {", ".join(prefixes)} weights; keeping their initialisation')
        state_dict.update(own)


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Remap the authors' files to timm's layout and check them against ``model`` (one-line error on mismatch).

    * classification ``.pth`` / Lightning ``model.*``: official keys; into an ``output_norms`` model the output
      norms (absent from these files) keep their initialisation, as in the official detection training;
    * MMDetection ``backbone.*`` (with ``norm0/2/4/6``): neck and heads dropped; the classification head (absent)
      keeps its initialisation; ``features_only`` models prune it anyway;
    * timm's own layout (hub files, our checkpoints): unchanged.
    """
    state_dict, source = _strip_wrappers(state_dict)
    out = remap_official_state_dict(state_dict)
    has_norms = any(k.startswith(FasterNet._output_norm_name(0) + '.') for k in out)
    if has_norms and not getattr(model, 'output_norms', False):
        name = getattr(model, 'pretrained_cfg', {}).get('architecture') or type(model).__name__
        raise CheckpointError(f'checkpoint for {name} has the dense-output norms (norm0/2/4/6) of the official '
                              f'detection backbone: build the model with output_norms=True')
    if getattr(model, 'output_norms', False):
        _fill_absent_group(out, model, [FasterNet._output_norm_name(i) + '.' for i in range(len(model.stages))])
    if source == 'detection':
        _fill_absent_group(out, model, ('conv_head.', 'classifier.'))
    check_state_dict(model, out, ignore_prefixes=classifier_prefixes(model))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------------------------

def _create_fasternet(variant: str, pretrained: bool = False, **kwargs: Any) -> FasterNet:
    feature_cfg = dict(out_indices=(0, 1, 2, 3), flatten_sequential=True)
    if kwargs.get('features_only') and kwargs.get('output_norms'):
        # the output norms live in forward_intermediates; module-walking extractors would skip them
        feature_cls = kwargs.get('feature_cls', 'getter')
        getter = feature_cls == 'getter' or isinstance(feature_cls, type) and issubclass(feature_cls, FeatureGetterNet)
        if not getter:
            raise ValueError(f"{variant}: output_norms=True needs feature_cls='getter' (got {feature_cls!r})")
        feature_cfg['feature_cls'] = 'getter'
    return build_model(
        FasterNet, variant, pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=feature_cfg,
        **kwargs,
    )


_RELEASE_URL = 'https://github.com/JierunChen/FasterNet/releases/download/v1.0/'
_RELEASES = {
    'fasternet_t0': 'fasternet_t0-epoch.281-val_acc1.71.9180.pth',
    'fasternet_t1': 'fasternet_t1-epoch.291-val_acc1.76.2180.pth',
    'fasternet_t2': 'fasternet_t2-epoch.289-val_acc1.78.8860.pth',
    'fasternet_s': 'fasternet_s-epoch.299-val_acc1.81.2840.pth',
    'fasternet_m': 'fasternet_m-epoch.291-val_acc1.82.9620.pth',
    'fasternet_l': 'fasternet_l-epoch.299-val_acc1.83.5060.pth',
}


def _cfg(variant: str, **kwargs: Any) -> Dict[str, Any]:
    """timm's cfg for ``variant`` (same metadata), plus the authors' release url (timm's hub copy is preferred by
    timm when both are set; the filter loads either layout)."""
    return timm_fasternet._cfg(
        url=_RELEASE_URL + _RELEASES[variant], hf_hub_id='timm/',
        notes=('timm hub weights are the authors\' release re-saved in timm layout; the release .pth '
               '(official layout) loads via pretrained_cfg_overlay=dict(file=PATH)',),
        **kwargs,
    )


default_cfgs = generate_default_cfgs({f'{name}.in1k': _cfg(name) for name in _RELEASES})

# variant table (cfg/fasternet_*.yaml of the official repo; timm uses the same values)
_VARIANTS = {
    'fasternet_t0': dict(embed_dim=40, depths=(1, 2, 8, 2), drop_path_rate=0.0, act_layer=nn.GELU),
    'fasternet_t1': dict(embed_dim=64, depths=(1, 2, 8, 2), drop_path_rate=0.02, act_layer=nn.GELU),
    'fasternet_t2': dict(embed_dim=96, depths=(1, 2, 8, 2), drop_path_rate=0.05),
    'fasternet_s': dict(embed_dim=128, depths=(1, 2, 13, 2), drop_path_rate=0.1),
    'fasternet_m': dict(embed_dim=144, depths=(3, 4, 18, 3), drop_path_rate=0.2),
    'fasternet_l': dict(embed_dim=192, depths=(3, 4, 18, 3), drop_path_rate=0.3),
}


def _register_over_timm(fn):
    """``register_model`` for a name timm already registers: ours replaces it quietly (same class, plus loaders)."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message=f'Overwriting {fn.__name__} in registry')
        return register_model(fn)


def _variant(name: str, pretrained: bool, kwargs: Dict[str, Any]) -> FasterNet:
    return _create_fasternet(name, pretrained=pretrained, **dict(_VARIANTS[name], **kwargs))


@_register_over_timm
def fasternet_t0(pretrained: bool = False, **kwargs: Any) -> FasterNet:
    return _variant('fasternet_t0', pretrained, kwargs)


@_register_over_timm
def fasternet_t1(pretrained: bool = False, **kwargs: Any) -> FasterNet:
    return _variant('fasternet_t1', pretrained, kwargs)


@_register_over_timm
def fasternet_t2(pretrained: bool = False, **kwargs: Any) -> FasterNet:
    return _variant('fasternet_t2', pretrained, kwargs)


@_register_over_timm
def fasternet_s(pretrained: bool = False, **kwargs: Any) -> FasterNet:
    return _variant('fasternet_s', pretrained, kwargs)


@_register_over_timm
def fasternet_m(pretrained: bool = False, **kwargs: Any) -> FasterNet:
    return _variant('fasternet_m', pretrained, kwargs)


@_register_over_timm
def fasternet_l(pretrained: bool = False, **kwargs: Any) -> FasterNet:
    return _variant('fasternet_l', pretrained, kwargs)
