"""Models, teachers and weight files, all through ``timm.create_model`` after ``import models``.

Three ways to put weights into a model, each with one-line errors:

* ``--pretrained-file``: timm's own pretrained path (``pretrained_cfg_overlay=dict(file=...)``), which runs the
  family's ``checkpoint_filter_fn`` -- the way to use the authors' released files. timm drops the classifier when
  ``num_classes`` differs from the file's 1000 classes.
* ``--finetune``: any file (ours, the authors', timm's). Classifier tensors (the names in the model's
  ``pretrained_cfg['classifier']``, distillation heads included) that do not fit the new head are re-initialised;
  every other tensor must fit. Behaviour change vs. the official repos, whose ``--finetune`` deletes head names
  that do not exist in their own models (RapidNet ``head_dist``, RepNeXt ``head.l``) and then fails or keeps a
  mismatched head.
* teacher weights: strict, classifier included.
"""
import os
import sys
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import timm

from . import families  # noqa: F401  (registers the families; must precede models._checkpoint)
from models._checkpoint import CheckpointError, check_state_dict, load_file, unwrap_state_dict

from .errors import ConfigError, UserError

def _one_line(err: BaseException, limit: int = 300) -> str:
    return ' '.join(str(err).split())[:limit]


def classifier_prefixes(model: nn.Module) -> Tuple[str, ...]:
    """``'head.'``-style prefixes of every classifier the model declares (``pretrained_cfg['classifier']``)."""
    names = (getattr(model, 'pretrained_cfg', None) or {}).get('classifier') or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return tuple(n + '.' for n in names)


def family_filter(model: nn.Module):
    """The ``checkpoint_filter_fn`` of the module that defines the model's class, if it has one."""
    return getattr(sys.modules.get(type(model).__module__), 'checkpoint_filter_fn', None)


def _to_model_layout(model: nn.Module, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A file already in the model's layout is used as is; anything else goes through the family's filter."""
    if set(state_dict) <= set(model.state_dict()):
        return state_dict
    filter_fn = family_filter(model)
    if filter_fn is None:
        return state_dict
    try:
        return filter_fn(state_dict, model)
    except CheckpointError:
        raise
    except Exception as err:  # a filter meeting a layout it does not know
        raise CheckpointError(f'{type(model).__name__} filter cannot read this file: {_one_line(err)}') from None


def create_model(args, num_classes: int, keep_classifier: bool = False) -> nn.Module:
    """``keep_classifier`` (evaluation): the file's classifier must fit ``num_classes`` instead of being dropped
    when ``num_classes`` differs from the pretrained_cfg's 1000."""
    kwargs = dict(num_classes=num_classes, drop_rate=args.drop, drop_path_rate=args.drop_path,
                  **(args.model_kwargs or {}))
    if args.pretrained_file:
        load_file(args.pretrained_file)  # one-line errors for a missing, truncated or code-carrying file
        overlay = dict(file=os.path.abspath(args.pretrained_file))
        if keep_classifier:
            overlay['num_classes'] = num_classes
        kwargs.update(pretrained=True, pretrained_cfg_overlay=overlay)
    elif args.pretrained:
        kwargs.update(pretrained=True)
    return _create(args.model, **kwargs)


def _create(name: str, **kwargs) -> nn.Module:
    if not timm.is_model(name.split('.')[0]):
        close = timm.list_models(f'*{name.split(".")[0].split("_")[0]}*')[:5]
        raise ConfigError(f'unknown model {name!r}' + (f' (did you mean {", ".join(close)}?)' if close else ''))
    try:
        return timm.create_model(name, **kwargs)
    except (CheckpointError, UserError):
        raise
    except (RuntimeError, OSError, ValueError, KeyError) as err:
        what = 'load weights for' if kwargs.get('pretrained') else 'build'
        raise CheckpointError(f'cannot {what} {name}: {_one_line(err)}') from None


def finetune_from(model: nn.Module, path: str, use_ema: bool = True) -> List[str]:
    """Load ``path`` into ``model``, re-initialising classifier tensors that do not fit; returns their names."""
    state_dict = unwrap_state_dict(load_file(path), use_ema=use_ema, source=path)
    state_dict = _to_model_layout(model, state_dict)
    own = model.state_dict()
    heads = classifier_prefixes(model)
    dropped = [k for k, v in state_dict.items()
               if heads and k.startswith(heads) and (k not in own or tuple(v.shape) != tuple(own[k].shape))]
    for key in dropped:
        del state_dict[key]
    reinit = tuple(dropped) + tuple(k for k in own if heads and k.startswith(heads) and k not in state_dict)
    check_state_dict(model, state_dict, variant=f'{type(model).__name__} (fine-tune from {path})',
                     ignore_prefixes=reinit)
    model.load_state_dict(state_dict, strict=False)
    return sorted(set(reinit))


def load_weights_strict(model: nn.Module, path: str, use_ema: bool = True) -> None:
    state_dict = _to_model_layout(model, unwrap_state_dict(load_file(path), use_ema=use_ema, source=path))
    check_state_dict(model, state_dict, variant=f'{type(model).__name__} ({path})')
    model.load_state_dict(state_dict)


def raw_and_ema(path: str) -> Dict[str, Dict[str, torch.Tensor]]:
    """The weight sets in a released file: ``{'weights': sd}`` or ``{'raw': sd, 'ema': sd}``."""
    obj = load_file(path)
    if isinstance(obj, dict):
        has_ema = any(isinstance(obj.get(k), dict) and obj[k] for k in ('state_dict_ema', 'model_ema'))
        has_raw = any(isinstance(obj.get(k), dict) and obj[k] for k in ('state_dict', 'model'))
        if has_ema and has_raw:
            return {'raw': unwrap_state_dict(obj, use_ema=False, source=path),
                    'ema': unwrap_state_dict(obj, use_ema=True, source=path)}
    return {'weights': unwrap_state_dict(obj, source=path)}


def create_with_state_dict(args, num_classes: int, state_dict: Dict[str, torch.Tensor]) -> nn.Module:
    """timm's pretrained path fed an in-memory state_dict (the non-EMA half of a released file)."""
    kwargs = dict(num_classes=num_classes, drop_rate=args.drop, drop_path_rate=args.drop_path,
                  **(args.model_kwargs or {}))
    overlay = dict(state_dict=state_dict, num_classes=num_classes)  # evaluation: the classifier must fit
    return _create(args.model, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)


def file_num_classes(name: str, path: str) -> Optional[int]:
    """Rows of the classifier in a weights file, read after the family's filter (the authors' layouts name their
    heads differently); None when the file has no classifier the model declares."""
    state_dict = unwrap_state_dict(load_file(path), source=path)
    try:
        with torch.device('meta'):  # structure only: no memory, no initialisation cost
            model = timm.create_model(name)
    except Exception:  # a family whose construction touches tensor data
        model = _create(name)
    try:
        state_dict = _to_model_layout(model, state_dict)
    except CheckpointError:
        return None  # the timm path that loads it reports the mismatch in full
    for prefix in classifier_prefixes(model):
        weight = state_dict.get(prefix + 'weight')
        if weight is not None and weight.ndim >= 1:
            return int(weight.shape[0])
    return None


def build_teacher(args, num_classes: int, device: torch.device) -> Optional[nn.Module]:
    if args.distillation_type == 'none':
        return None
    if args.teacher_path:
        teacher = _create(args.teacher_model, num_classes=num_classes)
        load_weights_strict(teacher, args.teacher_path)
    else:
        try:
            teacher = _create(args.teacher_model, pretrained=True, num_classes=num_classes)
        except CheckpointError as err:
            raise CheckpointError(f'{err} (pass --teacher-path FILE when the hub is unreachable)') from None
    teacher.to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def set_distilled_training(model: nn.Module, enable: bool) -> bool:
    """Switch a two-head student to return (cls, dist) in train mode; False when the model has no such head."""
    if hasattr(model, 'set_distilled_training'):
        model.set_distilled_training(enable)
        return True
    return False


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
