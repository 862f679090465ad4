"""Official checkpoint layouts as test data: key/shape lists recorded from the authors' code, turned into
deterministic synthetic checkpoints in the authors' wrapper format.

Key list files live in tests/data/keys/<name>.txt, one ``key<TAB>shape<TAB>dtype`` line per state_dict entry, in the
authors' order (shape as comma-separated ints, empty for scalars; dtype as torch names, e.g. ``float32``).
Reference outputs recorded from the authors' code on :func:`synthetic_state_dict` weights and :func:`reference_input`
live in tests/data/reference/<name>.json.
"""
import json
import math
import os
from collections import OrderedDict
from typing import Callable, Dict, List, Tuple

import torch

DATA_DIR = os.path.join(os.path.dirname(__file__), 'data')
KEYS_DIR = os.path.join(DATA_DIR, 'keys')
REFERENCE_DIR = os.path.join(DATA_DIR, 'reference')

KeyList = List[Tuple[str, Tuple[int, ...], torch.dtype]]


def read_key_list(name: str) -> KeyList:
    rows = []
    with open(os.path.join(KEYS_DIR, name + '.txt')) as f:
        for line in f:
            key, shape, dtype = line.rstrip('\n').split('\t')
            dims = tuple(int(d) for d in shape.split(',') if d)
            rows.append((key, dims, getattr(torch, dtype)))
    return rows


def write_key_list(name: str, state_dict: Dict[str, torch.Tensor]) -> str:
    """Record a state_dict's layout (used once, by hand, against the authors' code)."""
    os.makedirs(KEYS_DIR, exist_ok=True)
    path = os.path.join(KEYS_DIR, name + '.txt')
    with open(path, 'w') as f:
        for key, value in state_dict.items():
            dtype = str(value.dtype).replace('torch.', '')
            f.write(f"{key}\t{','.join(str(d) for d in value.shape)}\t{dtype}\n")
    return path


def synthetic_state_dict(keys: KeyList, seed: int = 0) -> 'OrderedDict[str, torch.Tensor]':
    """Deterministic weights for a key list: fan-in scaled weights, non-trivial BN statistics, so that folding
    and remapping errors change the outputs."""
    gen = torch.Generator().manual_seed(seed)
    out = OrderedDict()
    for key, shape, dtype in keys:
        if not dtype.is_floating_point:
            out[key] = torch.zeros(shape, dtype=dtype)
            continue
        leaf = key.rsplit('.', 1)[-1]
        if leaf == 'running_var':
            value = torch.rand(shape, generator=gen) * 0.5 + 0.5
        elif leaf == 'running_mean':
            value = torch.randn(shape, generator=gen) * 0.1
        elif len(shape) <= 1 and leaf == 'weight':  # norm scales
            value = 1.0 + torch.randn(shape, generator=gen) * 0.1
        elif len(shape) <= 1:  # biases, 1-d parameters
            value = torch.randn(shape, generator=gen) * 0.02
        elif len(shape) == 3 and shape[1:] == (1, 1) or 'scale' in leaf or 'gamma' in leaf:  # layer scales
            value = 0.1 + torch.rand(shape, generator=gen) * 0.1
        else:
            fan_in = math.prod(shape[1:])
            value = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        out[key] = value.to(dtype)
    return out


def save_official_checkpoint(path: str, state_dict: Dict[str, torch.Tensor], wrapper=None, extra=None) -> str:
    """Save as the authors do: ``wrapper`` is None (bare state_dict) or a key (``'model'``, ``'state_dict'``)
    or a tuple of keys that all get the same weights (``('state_dict', 'state_dict_ema')``)."""
    if wrapper is None:
        obj = dict(state_dict)
    else:
        names = (wrapper,) if isinstance(wrapper, str) else wrapper
        obj = {name: dict(state_dict) for name in names}
        obj.update(extra or {})
    torch.save(obj, path)
    return path


def official_files(root, key_list: str = '{}', wrapper=None, seed: int = 0) -> Callable[..., str]:
    """``make(name, wrapper=wrapper)``: path of the variant's synthetic checkpoint in the authors' layout under
    ``root`` (:func:`synthetic_state_dict` of key list ``key_list.format(name)``, saved in ``wrapper``), written on
    first use."""
    def make(name: str, wrapper=wrapper) -> str:
        path = os.path.join(str(root), f'{name}_{wrapper or "bare"}.pth')
        if not os.path.exists(path):
            keys = read_key_list(key_list.format(name))
            save_official_checkpoint(path, synthetic_state_dict(keys, seed=seed), wrapper=wrapper)
        return path
    return make


def load_pretrained(name: str, file: str, **kwargs) -> torch.nn.Module:
    """``name`` with weights from ``file``, through timm's pretrained-file path (the checkpoint filter included)."""
    import timm
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(file)), **kwargs)


def reference_input(size: int = 64, batch: int = 2, seed: int = 123) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=gen)


def read_reference(name: str) -> dict:
    with open(os.path.join(REFERENCE_DIR, name + '.json')) as f:
        return json.load(f)


def write_reference(name: str, **values) -> str:
    os.makedirs(REFERENCE_DIR, exist_ok=True)
    path = os.path.join(REFERENCE_DIR, name + '.json')
    with open(path, 'w') as f:
        json.dump(values, f)
    return path
