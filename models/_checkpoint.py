"""Weights-only loading of checkpoint files, with one-line errors.

Every backbone in this package reaches the authors' released files through timm's own path:
``timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=PATH))``. timm loads the file with
``weights_only=True`` and unwraps ``state_dict_ema`` / ``model_ema`` / ``state_dict`` / ``model`` (EMA first),
then calls the family's ``checkpoint_filter_fn``. This module supplies the two pieces timm lacks:

* :func:`build_model` checks the file before timm touches it, so a missing, truncated or code-carrying file fails
  with one line that names the path instead of a bare ``FileNotFoundError`` or a pickle traceback.
* :func:`check_state_dict` is called at the end of every family's filter: it compares the remapped keys and shapes
  with the model and raises one line naming the variant and the first mismatched keys, where torch would print a
  multi-line ``load_state_dict`` report.

Other tasks (classification resume, dense-task ``init_cfg``, tools) use :func:`load_file` and
:func:`unwrap_state_dict` directly, and write every file they produce through :func:`atomic_output`.
"""
from __future__ import annotations

import contextlib
import inspect
import os
import pickle
import re
import tempfile
import zipfile
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence

import torch
import torch.nn as nn

__all__ = [
    'CheckpointError', 'load_file', 'unwrap_state_dict', 'check_state_dict', 'build_model', 'load_checkpoint',
    'WRAPPER_KEYS', 'atomic_output',
]

# Containers seen in the five families' releases and in our own training checkpoints, in timm's preference order.
WRAPPER_KEYS = ('state_dict_ema', 'model_ema', 'state_dict', 'model', 'module', 'net')
_MAX_LISTED = 3


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message is one line and names the file and the cause."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def _fsync_path(path: str, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, 'O_DIRECTORY', 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # e.g. a file system without fsync on directories
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = '') -> Iterator[str]:
    """A temporary file next to ``path`` to write; when the block ends without error it is flushed to disk and
    replaces ``path`` in one step (with the permissions a new file gets under the umask), otherwise it is removed
    and ``path`` is left as it was: a reader never sees a half-written file."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.', suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)  # mkstemp creates 0600; give the file what open() would have
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        _fsync_path(tmp)
        os.replace(tmp, path)
        _fsync_path(directory, directory=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------- what unpickling may build
# torch's weights-only unpickler builds tensors and plain containers. mmengine's own checkpoints (our dense-task
# training files and the authors' mmdet / mmseg releases) add message-hub buffers and numpy metadata: those few
# types are allowed by qualified name, for the duration of one load only (never process-wide), and the loaded
# object is checked afterwards. No allowed callable returns arbitrary objects: pickle names HistoryBuffer's
# statistics methods through ``getattr``, so ``builtins.getattr`` maps to a stand-in that answers only those.
_HISTORY_STATISTICS = ('min', 'max', 'current', 'mean')
_HISTORY_ATTRIBUTES = {'max_length', '_log_history', '_count_history', 'statistics_methods'}
_NUMPY_DTYPES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float16',
                 'float32', 'float64')


def _history_buffer_class():
    try:
        from mmengine.logging.history_buffer import HistoryBuffer
    except ImportError:  # the models alone, without the dense-task stack
        return None
    return HistoryBuffer


def _history_statistic(owner: Any, name: Any) -> Callable:
    """The stand-in for ``builtins.getattr``: only ``HistoryBuffer.<min|max|current|mean>``."""
    history_buffer = _history_buffer_class()
    if owner is history_buffer and name in _HISTORY_STATISTICS:
        return getattr(history_buffer, name)
    owner_name = 'getattr' if owner is _history_statistic else getattr(owner, '__name__', type(owner).__name__)
    raise pickle.UnpicklingError(f'getattr({owner_name}, {name!r}) is not allowed (only HistoryBuffer statistics)')


def _numpy_dtype(spec: Any, align: bool = False, copy: bool = True):
    """``numpy.dtype`` as pickle calls it, always a fresh numeric dtype (never numpy's shared instances)."""
    import numpy as np
    dtype = np.dtype(spec, align=bool(align), copy=True)
    if dtype.kind not in 'biuf':
        raise pickle.UnpicklingError(f'numpy dtype {dtype} is not allowed (only bool, int, uint, float)')
    return dtype


def _mmengine_globals() -> list:
    """``(object, 'module.name')`` pairs for ``torch.serialization.safe_globals``, numpy 1 and 2 spellings."""
    import numpy as np
    multiarray = np.core.multiarray if np.__version__ < '2' else np._core.multiarray
    allowed = [(_history_statistic, 'builtins.getattr'), (_numpy_dtype, 'numpy.dtype'), np.ndarray]
    for package in ('numpy.core', 'numpy._core'):
        allowed += [(multiarray._reconstruct, f'{package}.multiarray._reconstruct'),
                    (multiarray.scalar, f'{package}.multiarray.scalar')]
    allowed += [type(np.dtype(name)) for name in _NUMPY_DTYPES]  # BUILD sets a dtype's state: its type must be allowed
    history_buffer = _history_buffer_class()
    if history_buffer is not None:
        allowed.append(history_buffer)
    return allowed


def _check_mmengine_objects(obj: Any, path: str) -> None:
    """Refuse a loaded object whose message-hub buffers or arrays hold anything mmengine does not write."""
    import numpy as np
    history_buffer = _history_buffer_class()
    statistics = {name: getattr(history_buffer, name) for name in _HISTORY_STATISTICS} if history_buffer else {}
    seen, todo = set(), [obj]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, (torch.Tensor, str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(item))
        if isinstance(item, Mapping):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            todo.extend(item)
        elif isinstance(item, np.ndarray) and item.dtype.kind in 'biuf':
            continue
        elif isinstance(item, np.generic) and item.dtype.kind in 'biuf':
            continue
        elif history_buffer is not None and type(item) is history_buffer:
            state = vars(item)
            methods = state.get('statistics_methods', {})
            if (not set(state) <= _HISTORY_ATTRIBUTES or not isinstance(state.get('max_length', 0), int)
                    or not all(isinstance(state.get(k, np.zeros(0)), np.ndarray)
                               for k in ('_log_history', '_count_history'))
                    or not isinstance(methods, dict)
                    or any(statistics.get(k) is not v for k, v in methods.items())):
                raise CheckpointError(f'refused to load {path}: a message-hub HistoryBuffer holds attributes '
                                      f'mmengine never writes ({sorted(state)[:6]})')
            todo.extend(v for k, v in state.items() if k != 'statistics_methods')
        elif isinstance(item, torch.Size) or type(item) in (torch.device, torch.dtype) or \
                isinstance(item, np.dtype):
            continue
        else:
            raise CheckpointError(f'refused to load {path}: it holds a {type(item).__module__}.'
                                  f'{type(item).__qualname__} object, which is not a tensor or plain container')


def _refusal(path: str, err: BaseException) -> CheckpointError:
    """One line naming what the unpickler refused (torch's message is a page of advice)."""
    text = str(err)
    refused_global = re.search(r'(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)', text)
    detail = re.search(r'WeightsUnpickler error:\s*(\S[^\n]*)', text)
    cause = (f'it pickles {refused_global.group(1)}' if refused_global else
             detail.group(1).strip() if detail else _first_line(err))
    return CheckpointError(f'refused to load {path}: {cause[:200]} (weights-only loading allows tensors and plain '
                           f'containers; re-save it as a plain state_dict)')


def load_file(path: str | os.PathLike, map_location: str | torch.device = 'cpu', mmengine_state: bool = False) -> Any:
    """Load ``path`` without running pickled code (``weights_only=True``); safetensors files are supported.

    ``mmengine_state``: also accept what mmengine writes beside the weights (message-hub buffers, numpy metadata),
    for dense-task checkpoints; the allowance lasts for this one load.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint not found: {path}')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'checkpoint is empty (0 bytes): {path}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file as load_safetensors
        try:
            return load_safetensors(path, device=str(map_location))
        except Exception as err:  # safetensors raises its own error types
            raise CheckpointError(f'unreadable safetensors file {path}: {_first_line(err)}') from None
    allowed = _mmengine_globals() if mmengine_state else []
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' in str(err) or 'Unsupported' in str(err):
            raise _refusal(path, err) from None
        raise CheckpointError(f'corrupt checkpoint {path}: {_first_line(err)}') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, TypeError, KeyError, AttributeError,
            IndexError) as err:
        raise CheckpointError(f'unreadable or truncated checkpoint {path}: {_first_line(err)}') from None
    if mmengine_state:
        _check_mmengine_objects(obj, path)
    return obj


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def unwrap_state_dict(obj: Any, use_ema: bool = True, source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """Find the tensor dict inside a training checkpoint and strip DDP's ``module.`` prefix.

    ``use_ema`` follows timm: EMA weights first when present. Pass ``use_ema=False`` to get the raw weights the
    authors' ``--eval`` scripts evaluate.
    """
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        keys = WRAPPER_KEYS if use_ema else tuple(k for k in WRAPPER_KEYS if 'ema' not in k) + ('state_dict_ema',
                                                                                                    'model_ema')
        for key in keys:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and len(inner) > 0:
                return unwrap_state_dict(inner, use_ema=use_ema, source=source)
    if not _is_state_dict(obj):
        found = sorted(obj.keys())[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(f'{source}: no state_dict found (expected tensors or one of {WRAPPER_KEYS}, '
                              f'found {found})')
    if all(k.startswith('module.') for k in obj):
        obj = {k[len('module.'):]: v for k, v in obj.items()}
    return dict(obj)


def _listed(keys: Sequence[str]) -> str:
    more = f', +{len(keys) - _MAX_LISTED} more' if len(keys) > _MAX_LISTED else ''
    return ', '.join(keys[:_MAX_LISTED]) + more


def check_state_dict(
        model: nn.Module,
        state_dict: Mapping[str, torch.Tensor],
        variant: Optional[str] = None,
        ignore_prefixes: Iterable[str] = (),
) -> None:
    """Raise a one-line :class:`CheckpointError` unless ``state_dict`` fits ``model`` exactly.

    Keys under ``ignore_prefixes`` (e.g. a classifier timm is about to drop because ``num_classes`` changed)
    are not compared. The first conv (``pretrained_cfg['first_conv']``) may differ in its input channels only:
    timm adapts it to ``in_chans`` after the filter.
    """
    ignore = tuple(ignore_prefixes)
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith(ignore)}
    given = {k: v for k, v in state_dict.items() if not k.startswith(ignore)}
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    first_conv = (getattr(model, 'pretrained_cfg', None) or {}).get('first_conv')
    adaptable = (first_conv + '.weight',) if isinstance(first_conv, str) else ()

    def fits(key: str) -> bool:
        a, b = tuple(given[key].shape), tuple(expected[key].shape)
        return a == b or (key in adaptable and len(a) == len(b) == 4 and a[0] == b[0] and a[2:] == b[2:])

    shapes = [f'{k} {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}'
              for k in expected if k in given and not fits(k)]
    if not (missing or unexpected or shapes):
        return
    name = variant or getattr(model, 'pretrained_cfg', {}).get('architecture') or type(model).__name__
    parts = []
    if missing:
        parts.append(f'{len(missing)} missing keys ({_listed(missing)})')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected keys ({_listed(unexpected)})')
    if shapes:
        parts.append(f'{len(shapes)} shape mismatches ({_listed(shapes)})')
    raise CheckpointError(f'checkpoint does not fit {name}: ' + '; '.join(parts))


def classifier_prefixes(model: nn.Module) -> tuple:
    """Classifier key prefixes timm will drop because the model's ``num_classes`` differs from its pretrained cfg."""
    cfg = getattr(model, 'pretrained_cfg', None) or {}
    classifier = cfg.get('classifier')
    if not classifier or getattr(model, 'num_classes', None) == cfg.get('num_classes', 1000):
        return ()
    names = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    return tuple(n + '.' for n in names)


def build_model(
        model_cls: Callable[..., nn.Module],
        variant: str,
        pretrained: bool = False,
        pretrained_filter_fn: Optional[Callable] = None,
        **kwargs,
) -> nn.Module:
    """``timm.models.build_model_with_cfg`` with the pretrained file checked first (one-line errors).

    timm's factory arguments ``device`` / ``dtype`` reach model classes that take them (timm's own); for ours the
    model is built under ``torch.device(device)`` and cast to ``dtype``, so every parameter and buffer is created
    where asked (e.g. ``device='meta'``)."""
    from timm.models import build_model_with_cfg
    overlay = kwargs.get('pretrained_cfg_overlay') or {}
    if pretrained and overlay.get('file'):
        load_file(overlay['file'])  # raises CheckpointError naming the path; timm then loads it again
    device = dtype = None
    if not _takes_factory_kwargs(model_cls):
        device, dtype = kwargs.pop('device', None), kwargs.pop('dtype', None)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = build_model_with_cfg(
            model_cls, variant, pretrained, pretrained_filter_fn=pretrained_filter_fn, **kwargs)
    return model.to(dtype=dtype) if dtype is not None else model


def _takes_factory_kwargs(model_cls: Callable[..., nn.Module]) -> bool:
    params = inspect.signature(model_cls.__init__).parameters.values()
    return any(p.name == 'device' or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def load_checkpoint(
        model: nn.Module,
        path: str | os.PathLike,
        filter_fn: Optional[Callable] = None,
        use_ema: bool = True,
        strict: bool = True,
        variant: Optional[str] = None,
) -> nn.Module:
    """Load a file into an already built model: weights-only, unwrapped, remapped by ``filter_fn``, checked."""
    state_dict = unwrap_state_dict(load_file(path), use_ema=use_ema, source=os.fspath(path))
    if filter_fn is not None:
        state_dict = filter_fn(state_dict, model)
    if strict:
        check_state_dict(model, state_dict, variant)
    model.load_state_dict(state_dict, strict=strict)
    return model
