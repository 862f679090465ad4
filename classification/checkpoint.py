"""Training checkpoints that survive crashes and load weights-only.

* Written atomically (``models._checkpoint.atomic_output``): a hidden temp file in the same folder, fsync,
  ``os.replace``, fsync the folder. A kill at any moment leaves either the old file or the new one, never a
  half-written one under the real name.
* ``checkpoint-last.pth`` is the newest epoch; the one it replaces becomes ``checkpoint-prev.pth``;
  ``checkpoint-best.pth`` is the best top-1 so far. ``--resume auto`` takes the newest readable one of the three.
* Only tensors and plain Python values are stored (args as a dict, RNG states as tensors), so every file loads
  with ``torch.load(weights_only=True)``; a file that pickles code is refused (``models._checkpoint.load_file``).
* RNG state is stored per rank (python, numpy, torch, CUDA), so a resumed run draws the same random numbers as an
  uninterrupted one.
"""
import io
import os
import random
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from . import families  # noqa: F401  (must precede models._checkpoint)
from models._checkpoint import CheckpointError, atomic_output, load_file

FORMAT = 'classification-checkpoint'
VERSION = 1
LAST, PREV, BEST = 'checkpoint-last.pth', 'checkpoint-prev.pth', 'checkpoint-best.pth'


# ---------------------------------------------------------------------------------------------------- RNG state
def capture_rng() -> Dict[str, Any]:
    version, state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    out = dict(
        python=dict(version=version, state=torch.tensor(state, dtype=torch.int64), gauss=gauss),
        numpy=dict(name=np_name, keys=torch.from_numpy(np_keys.astype(np.int64)), pos=int(np_pos),
                   has_gauss=int(np_has_gauss), gauss=float(np_gauss)),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out['cuda'] = torch.cuda.get_rng_state_all()
    return out


def restore_rng(state: Dict[str, Any]) -> None:
    py = state['python']
    random.setstate((py['version'], tuple(int(v) for v in py['state'].tolist()), py['gauss']))
    npy = state['numpy']
    np.random.set_state((npy['name'], npy['keys'].numpy().astype(np.uint32), npy['pos'], npy['has_gauss'],
                         npy['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        # saved from all GPUs of the writing node; a node with fewer GPUs restores those it has
        for device, cuda_state in enumerate(state['cuda'][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)


# --------------------------------------------------------------------------------------------------- atomic files
def atomic_write(path: str, data: bytes) -> None:
    with atomic_output(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)


def serialise(payload: Dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_training_state(output_dir: str, payload: Dict[str, Any], is_best: bool) -> str:
    """Write ``last`` (keeping the previous one as ``prev``) and, when ``is_best``, ``best``."""
    data = serialise(payload)
    last = os.path.join(output_dir, LAST)
    with atomic_output(last) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)
        if os.path.exists(last):  # only once the new file is complete
            os.replace(last, os.path.join(output_dir, PREV))
    if is_best:
        atomic_write(os.path.join(output_dir, BEST), data)  # a copy, not a link: damage to one spares the other
    return last


# ------------------------------------------------------------------------------------------------------- loading
def read_training_state(path: str) -> Dict[str, Any]:
    """Load one of our checkpoints; one-line CheckpointError for anything else."""
    state = load_file(path)
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise CheckpointError(f'{path} is not a training checkpoint of this project (use --finetune or '
                              f'--pretrained-file for plain weight files)')
    if state.get('version', 0) > VERSION:
        raise CheckpointError(f'{path} was written by a newer version (format {state["version"]} > {VERSION})')
    return state


def is_training_checkpoint(path: str) -> bool:
    """Whether ``path`` is one of our training checkpoints (a missing or refused file raises its one-line error)."""
    state = load_file(path)
    return isinstance(state, dict) and state.get('format') == FORMAT


def find_resume(output_dir: str) -> Tuple[Optional[str], Optional[Dict[str, Any]], List[str]]:
    """Newest readable checkpoint in ``output_dir``: (path, state, warnings). (None, None, warnings) if none."""
    warnings, best = [], (None, None)
    for name in (LAST, PREV, BEST):
        path = os.path.join(output_dir, name)
        if not os.path.exists(path):
            continue
        try:
            state = read_training_state(path)
        except CheckpointError as err:
            warnings.append(f'skipping {err}')
            continue
        if best[1] is None or state['epoch'] > best[1]['epoch']:
            best = (path, state)
    if best[0] is None and warnings:
        raise CheckpointError(f'--resume auto: no readable checkpoint in {output_dir} ({warnings[0]})')
    return best[0], best[1], warnings


def check_compatible(state: Dict[str, Any], path: str, model_name: str, num_classes: int) -> None:
    """A checkpoint for another model or class count is an error before any tensor is touched."""
    if state.get('model_name') != model_name:
        raise CheckpointError(f'{path} was trained with model {state.get("model_name")!r}, not {model_name!r}')
    if state.get('num_classes') != num_classes:
        raise CheckpointError(f'{path} has {state.get("num_classes")} classes but this run has {num_classes} '
                              f'(use --finetune to start from it with a new classifier)')
