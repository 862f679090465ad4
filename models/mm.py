"""One MMDetection / MMSegmentation backbone for every family: a timm model of this package as a feature pyramid.

Configs import this module (``custom_imports=dict(imports=['models.mm'], allow_failed_imports=False)``); importing
it registers :class:`TimmFeatureBackbone` in mmdet's and mmseg's ``MODELS`` registries (whichever is installed).
``models`` itself never imports OpenMMLab.

* The network is ``timm.create_model(name, features_only=True, feature_cls='getter')``: the getter keeps the
  model's own module paths, so a detector's keys are ``backbone.model.<timm key>``.
* Output levels are chosen by stride (default 4, 8, 16, 32), not by index: ReXNet's timm features start at stride 2.
* ``frozen_stages`` / ``norm_eval`` work for any family: stage membership is taken from the order in which modules
  run in one tiny forward pass (MPViT registers its patch embeds of all stages before its encoders, so registration
  order would be wrong).
* ``init_cfg=dict(type='Pretrained', checkpoint=FILE)`` loads the authors' ImageNet file through the classification
  path (timm ``pretrained_cfg_overlay=dict(file=...)`` -> family ``checkpoint_filter_fn`` -> strict load);
  with ``prefix='backbone.'`` it takes the backbone of a detection / segmentation checkpoint instead.
* :func:`load_dense_checkpoint` loads a whole detector / segmentor checkpoint strictly: ours (mmengine), the
  authors' mmdet 2.x / mmseg 0.x files (``backbone.<official key>``) and detectron2 files (MPViT's Mask R-CNN and
  RetinaNet releases).

Behaviour changes vs. the official dense backbones (RapidNet, RepNeXt, FasterNet, MPViT): those ignore
``frozen_stages`` / ``norm_eval`` from the inherited ResNet config, and their "freeze BN" no-ops after an in-place
SyncBN conversion. Here both arguments act; the paper configs set ``frozen_stages=-1, norm_eval=False`` to
reproduce the official (all-trainable, BN-in-train-mode) behaviour.
"""
from __future__ import annotations

import importlib
import os
import tempfile
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import timm
import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

import models  # noqa: F401  (registers the families with timm)
from models._checkpoint import CheckpointError, check_state_dict, load_file, unwrap_state_dict

__all__ = ['TimmFeatureBackbone', 'load_dense_checkpoint', 'convert_dense_state_dict', 'convert_detectron2']

BACKBONE_NAME = 'TimmFeatureBackbone'


class TimmFeatureBackbone(BaseModule):
    """A registered timm model returning feature maps at the requested strides (NCHW list, shallow to deep).

    Args:
        model_name: timm name, e.g. ``'repnext_m3'``, ``'fasternet_s'``, ``'mpvit_small'``, ``'rexnet_100'``.
        out_strides: strides of the returned levels (each must exist in the model's ``feature_info``).
        out_indices: explicit timm feature indices instead of ``out_strides``.
        frozen_stages: -1 trains everything; 0 freezes the stem; k freezes the stem and the first k stages
            (stage k ends at the level of stride ``4 * 2 ** (k - 1)``), weights and BN statistics.
        norm_eval: keep every BatchNorm (SyncBatchNorm included) in eval mode while training.
        norm_cfg: ``dict(type='BN' | 'SyncBN', requires_grad=True)``; SyncBN converts the model's BatchNorms
            (mmengine reverts them in non-distributed runs).
        model_kwargs: passed to ``timm.create_model`` (``drop_path_rate``, FasterNet's ``output_norms=True``, ...).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH[, prefix='backbone.'])``; anything else keeps timm's
            random initialisation.
    """

    def __init__(
            self,
            model_name: str,
            out_strides: Sequence[int] = (4, 8, 16, 32),
            out_indices: Optional[Sequence[int]] = None,
            frozen_stages: int = -1,
            norm_eval: bool = False,
            norm_cfg: Optional[dict] = None,
            model_kwargs: Optional[dict] = None,
            init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        self.model_name = model_name
        self.model_kwargs = dict(model_kwargs or {})
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._requested_indices = tuple(out_indices) if out_indices is not None else None

        features = self._create_features(pretrained_file=None)
        self.model = features.model  # keys stay the model's own: backbone.model.<timm key>
        if out_indices is None:
            reductions = features.feature_info.reduction()
            missing = [s for s in out_strides if s not in reductions]
            if missing:
                raise ValueError(f'{model_name}: no feature level with stride {missing} (has {reductions}); '
                                 f'pass out_indices explicitly')
            # the last level of each stride (a model may list several taps per stride)
            picked = [max(i for i, r in enumerate(reductions) if r == s) for s in out_strides]
        else:
            picked = list(range(len(features.out_indices)))
        self.out_indices = [features.out_indices[i] for i in picked]
        self.out_channels = [features.feature_info.channels()[i] for i in picked]
        self.out_strides = [features.feature_info.reduction()[i] for i in picked]

        # stage membership is measured before a SyncBN conversion (SyncBN cannot run a CPU forward pass)
        frozen_names = self._modules_to_freeze(frozen_stages)
        norm_cfg = dict(norm_cfg or dict(type='BN', requires_grad=True))
        if norm_cfg.get('type', 'BN') == 'SyncBN':
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        elif norm_cfg.get('type', 'BN') != 'BN':
            raise ValueError(f"norm_cfg type must be 'BN' or 'SyncBN', got {norm_cfg['type']!r}")
        if not norm_cfg.get('requires_grad', True):
            for module in self.model.modules():
                if isinstance(module, _BatchNorm):
                    module.requires_grad_(False)

        # names, not modules: mmengine swaps SyncBN modules for BN ones in non-distributed runs
        self._frozen_names: List[str] = frozen_names
        for module in self._frozen_modules():
            for param in module.parameters(recurse=False):
                param.requires_grad = False
        self.train()

    # ----------------------------------------------------------------------------------------------- building
    def _create_features(self, pretrained_file: Optional[str]) -> nn.Module:
        kwargs = dict(features_only=True, feature_cls='getter', **self.model_kwargs)
        if self._requested_indices is not None:
            kwargs['out_indices'] = self._requested_indices
        if pretrained_file is not None:
            kwargs.update(pretrained=True, pretrained_cfg_overlay=dict(file=pretrained_file))
        return timm.create_model(self.model_name, **kwargs)

    def _modules_to_freeze(self, frozen_stages: int) -> List[str]:
        """Names of the modules that run before the end of stage ``frozen_stages`` (the stem for 0)."""
        if frozen_stages < 0:
            return []
        infos = list(self.model.feature_info)
        ends = {}  # stride -> module path of the last tap at that stride
        for info in infos:
            ends[info['reduction']] = info['module']
        if frozen_stages == 0:
            # the stem ends with the last tap finer than stride 4, or right before the stride-4 stage starts
            finer = [r for r in ends if r < 4]
            stop_after, stop_before = (ends[max(finer)], None) if finer else (None, ends[4])
        else:
            stride = 4 * 2 ** (frozen_stages - 1)
            if stride not in ends:
                raise ValueError(f'{self.model_name}: frozen_stages={frozen_stages} needs a stride-{stride} level')
            stop_after, stop_before = ends[stride], None
        modules = dict(self.model.named_modules())
        started, finished = [], []

        def on_start(name):
            def hook(module, args):
                if name == stop_before and not finished:
                    finished.append(name)
                if not finished and name not in started:
                    started.append(name)
            return hook

        def on_end(name):
            def hook(module, args, output):
                if name == stop_after and not finished:
                    finished.append(name)
            return hook

        handles = []
        for name, module in modules.items():
            if name:  # the root is not part of any stage
                handles.append(module.register_forward_pre_hook(on_start(name)))
                handles.append(module.register_forward_hook(on_end(name)))
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                self.model.forward_intermediates(torch.zeros(1, 3, 64, 64), indices=self.out_indices,
                                                 intermediates_only=True)
        finally:
            for handle in handles:
                handle.remove()
            self.model.train(was_training)
        return started

    # ---------------------------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return list(self.model.forward_intermediates(x, indices=self.out_indices, intermediates_only=True))

    def _frozen_modules(self) -> List[nn.Module]:
        modules = dict(self.model.named_modules())
        return [modules[name] for name in self._frozen_names]

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            for module in self._frozen_modules():
                module.training = False  # per module: a frozen container must not switch later stages
            if self.norm_eval:
                for module in self.model.modules():
                    if isinstance(module, _BatchNorm):
                        module.eval()
        return self

    # ------------------------------------------------------------------------------------------ checkpoints
    def init_weights(self):
        """Load ``init_cfg``'s checkpoint (see class docstring); never re-initialises timm's own weights."""
        cfg = self.init_cfg or {}
        if isinstance(cfg, (list, tuple)):
            cfg = next((c for c in cfg if c.get('type') == 'Pretrained'), {})
        if cfg.get('type') == 'Pretrained':
            path, prefix = cfg['checkpoint'], cfg.get('prefix')
            if prefix:
                state_dict = unwrap_state_dict(load_file(path, mmengine_state=True), use_ema=False,
                                               source=str(path))
                sub = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
                if not sub:
                    raise CheckpointError(f'{path}: no keys start with {prefix!r}')
                state_dict = self.convert_state_dict(sub)
            else:
                pretrained = self._create_features(pretrained_file=path)
                state_dict = {'model.' + k: v for k, v in pretrained.model.state_dict().items()}
            check_state_dict(self, state_dict, variant=self.model_name)
            self.load_state_dict(state_dict, strict=True)
        self._is_init = True

    def convert_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Backbone keys without the detector's ``backbone.`` prefix -> this module's keys.

        Ours (``model.*``) pass through. The authors' dense layouts (classification keys minus the head, FasterNet's
        output norms, MPViT's aliases) take the classification path: a ``features_only`` model is built from them
        (saved with the ``backbone.`` prefix of a released dense file) with ``pretrained_cfg_overlay=dict(file=...)``,
        so the family's ``checkpoint_filter_fn`` remaps and checks them exactly as it does an ImageNet file
        (one-line ``CheckpointError`` on any misfit).
        """
        if state_dict and all(k.startswith('model.') for k in state_dict):
            return dict(state_dict)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'backbone.pth')
            # as the released dense files hold it: the filters recognise the layout by the mmdet prefix
            torch.save({'state_dict': {'backbone.' + k: v for k, v in state_dict.items()}}, path)
            features = self._create_features(pretrained_file=path)
        return {'model.' + k: v for k, v in features.model.state_dict().items()}


# --------------------------------------------------------------------------------------- whole checkpoints
def _bare(model: nn.Module) -> nn.Module:
    """The detector inside DDP and / or a TTA wrapper."""
    while isinstance(getattr(model, 'module', None), nn.Module):
        model = model.module
    return model


def _is_detectron2(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith(('backbone.bottom_up.', 'proposal_generator.', 'roi_heads.', 'head.cls_subnet'))
               for k in state_dict)


def _rename(state_dict: Mapping[str, torch.Tensor], table: Iterable[tuple]) -> Dict[str, torch.Tensor]:
    out = {}
    for key, value in state_dict.items():
        for old, new in table:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


# mmdet 2.x and mmseg 0.x already use the 3.x / 1.x names for every head these configs build (Mask / Faster R-CNN,
# RetinaNet, Semantic FPN, UperNet + FCN auxiliary); the table exists so that a future rename is one line.
MM_LEGACY_RENAMES: tuple = ()

# detectron2 (MPViT's releases) -> mmdet 3.x, Mask R-CNN FPN and RetinaNet FPN.
D2_RENAMES = (
    ('proposal_generator.rpn_head.conv.', 'rpn_head.rpn_conv.'),
    ('proposal_generator.rpn_head.objectness_logits.', 'rpn_head.rpn_cls.'),
    ('proposal_generator.rpn_head.anchor_deltas.', 'rpn_head.rpn_reg.'),
    ('roi_heads.box_head.fc1.', 'roi_head.bbox_head.shared_fcs.0.'),
    ('roi_heads.box_head.fc2.', 'roi_head.bbox_head.shared_fcs.1.'),
    ('roi_heads.box_predictor.cls_score.', 'roi_head.bbox_head.fc_cls.'),
    ('roi_heads.box_predictor.bbox_pred.', 'roi_head.bbox_head.fc_reg.'),
    ('roi_heads.mask_head.deconv.', 'roi_head.mask_head.upsample.'),
    ('roi_heads.mask_head.predictor.', 'roi_head.mask_head.conv_logits.'),
    *[(f'roi_heads.mask_head.mask_fcn{i + 1}.', f'roi_head.mask_head.convs.{i}.conv.') for i in range(4)],
    *[(f'head.cls_subnet.{2 * i}.', f'bbox_head.cls_convs.{i}.conv.') for i in range(4)],
    *[(f'head.bbox_subnet.{2 * i}.', f'bbox_head.reg_convs.{i}.conv.') for i in range(4)],
    ('head.cls_score.', 'bbox_head.retina_cls.'),
    ('head.bbox_pred.', 'bbox_head.retina_reg.'),
    ('backbone.top_block.p6.', 'neck.fpn_convs.3.conv.'),
    ('backbone.top_block.p7.', 'neck.fpn_convs.4.conv.'),
)


def _d2_fpn_renames(first_level: int, num_levels: int) -> List[tuple]:
    """detectron2 names FPN convs by pyramid level (p2..p5); mmdet by position from ``start_level``."""
    table = []
    for i in range(num_levels):
        table.append((f'backbone.fpn_lateral{first_level + i}.', f'neck.lateral_convs.{i}.conv.'))
        table.append((f'backbone.fpn_output{first_level + i}.', f'neck.fpn_convs.{i}.conv.'))
    return table


def _anchor_order_d2_to_mmdet(num_scales: int, num_ratios: int) -> List[int]:
    """mmdet anchor a = ratio * num_scales + scale; detectron2 anchor = scale * num_ratios + ratio."""
    return [s * num_ratios + r for r in range(num_ratios) for s in range(num_scales)]


def _permute_anchors(weight: torch.Tensor, order: List[int]) -> torch.Tensor:
    per_anchor = weight.shape[0] // len(order)
    blocks = weight.reshape(len(order), per_anchor, *weight.shape[1:])
    return blocks[order].reshape(weight.shape)


def convert_detectron2(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """detectron2 Mask R-CNN / RetinaNet (FPN) keys -> this mmdet model's keys (backbone left as ``backbone.*``).

    RetinaNet's detectron2 anchors are size-major while mmdet's are ratio-major, so the classification and
    regression convolutions are re-ordered anchor by anchor. Requires ``relu_before_extra_convs=True`` in the
    RetinaNet neck (detectron2's P7 takes ReLU(P6)).
    """
    model = _bare(model)
    retina = any(k.startswith('head.cls_subnet') for k in state_dict)
    neck = getattr(model, 'neck', None)
    start = getattr(neck, 'start_level', 0)
    num = len(getattr(neck, 'lateral_convs', [])) or 4
    table = list(D2_RENAMES) + _d2_fpn_renames(2 + start, num)
    out = {}
    prefix = 'backbone.bottom_up.backbone.'
    for key, value in state_dict.items():
        if key.startswith(prefix):
            out['backbone.' + key[len(prefix):]] = value
        else:
            out.update(_rename({key: value}, table))
    if retina:
        generator = model.bbox_head.prior_generator
        order = _anchor_order_d2_to_mmdet(len(generator.scales), len(generator.ratios))
        for name in ('bbox_head.retina_cls.weight', 'bbox_head.retina_cls.bias',
                     'bbox_head.retina_reg.weight', 'bbox_head.retina_reg.bias'):
            if name in out:
                out[name] = _permute_anchors(out[name], order)
    return out


def convert_dense_state_dict(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Any supported detector / segmentor layout -> ``model``'s keys (no check; see :func:`load_dense_checkpoint`)."""
    model = _bare(model)
    if _is_detectron2(state_dict):
        state_dict = convert_detectron2(state_dict, model)
    backbone = getattr(model, 'backbone', None)
    own, rest = {}, {}
    for key, value in state_dict.items():
        (own if key.startswith('backbone.') else rest)[key] = value
    out = _rename(rest, MM_LEGACY_RENAMES)
    if isinstance(backbone, TimmFeatureBackbone):
        converted = backbone.convert_state_dict({k[len('backbone.'):]: v for k, v in own.items()})
        out.update({'backbone.' + k: v for k, v in converted.items()})
    else:
        out.update(own)
    return out


def load_dense_checkpoint(model: nn.Module, path: str, variant: Optional[str] = None) -> dict:
    """Strictly load a detector / segmentor checkpoint file (weights-only) into ``model``; returns the file's dict
    (``meta``, ``optimizer``, ... for a resume).

    Raises :class:`CheckpointError` with one line naming the file and the first mismatched keys.
    """
    obj = load_file(path, mmengine_state=True)
    state_dict = unwrap_state_dict(obj, use_ema=False, source=str(path))
    target = _bare(model)
    converted = convert_dense_state_dict(state_dict, target)
    try:
        check_state_dict(target, converted, variant=variant or str(path))
    except CheckpointError as err:
        raise CheckpointError(f'{path}: {err}') from None
    target.load_state_dict(converted, strict=True)
    return obj if isinstance(obj, dict) else {'state_dict': state_dict}


def _register() -> None:
    registered = []
    for package in ('mmdet', 'mmseg'):
        try:
            registry = importlib.import_module(f'{package}.registry').MODELS
        except (ImportError, AssertionError):  # not installed, or its mmcv version assert failed
            continue
        registry.register_module(name=BACKBONE_NAME, module=TimmFeatureBackbone, force=True)
        registered.append(package)
    if not registered:
        raise ImportError('models.mm needs mmdet or mmseg (with a compiled mmcv) to register its backbone')


_register()
