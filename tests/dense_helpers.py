"""Helpers shared by tests/test_detection.py and tests/test_segmentation.py (not a test module).

The fixtures ``synthetic_data`` and ``trained_tiny`` (registered in conftest.py) read the requesting module's
``TASK`` ('detection' / 'segmentation'), ``SYNTHETIC_CONFIG``, ``SYNTHETIC_COUNTS`` and ``TRAIN_OPTIONS``.
"""
import contextlib
import glob
import os
import uuid
from typing import Dict, List

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def paper_configs(task: str) -> List[str]:
    """Every paper-row config of configs/<task>/ (not _base_/ nor synthetic/), repository-relative."""
    paths = sorted(glob.glob(os.path.join(REPO, 'configs', task, '*', '*.py')))
    return [os.path.relpath(p, REPO) for p in paths if os.sep + '_base_' + os.sep not in p
            and os.sep + 'synthetic' + os.sep not in p]


def family_available(model_name: str) -> bool:
    import timm

    import models  # noqa: F401
    return model_name in timm.list_models()


@contextlib.contextmanager
def empty_weights():
    """Parameters are moved to the meta device as they are registered: a model builds with its real structure
    and shapes but without allocating or initialising weights (buffers stay on the CPU)."""
    register = torch.nn.Module.register_parameter

    def register_on_meta(module, name, param):
        register(module, name, param)
        if param is not None and param.device.type != 'meta':
            module._parameters[name] = torch.nn.Parameter(param.to('meta'), requires_grad=param.requires_grad)

    torch.nn.Module.register_parameter = register_on_meta
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = register


def build_on_meta(model_cfg: dict, registry):
    """Build a model from its config with :func:`empty_weights` (structure and shapes only)."""
    with empty_weights():
        return registry.build(model_cfg)


@contextlib.contextmanager
def one_thread():
    """torch on one thread: with ~9 processes on 2 cores, a second OpenMP thread mostly spin-waits (measured:
    5.2 CPU-s per synthetic Mask R-CNN step with 2 threads vs 0.24 with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def unique_name(prefix: str) -> str:
    """mmengine keys its MessageHub / logger instances by experiment name (timestamp to the second)."""
    return f'{prefix}_{uuid.uuid4().hex[:8]}'


def official_backbone(key_list: str, drop_prefixes=(), seed: int = 1) -> Dict[str, torch.Tensor]:
    """Deterministic weights in the authors' recorded key layout (tests/data/keys/<key_list>.txt); seed 0 gives
    the weights the reference outputs in tests/data/reference/ were recorded with."""
    from official_layout import read_key_list, synthetic_state_dict
    state_dict = synthetic_state_dict(read_key_list(key_list), seed=seed)
    return {k: v for k, v in state_dict.items() if not k.startswith(tuple(drop_prefixes))}


def key_list_exists(name: str) -> bool:
    return os.path.isfile(os.path.join(REPO, 'tests', 'data', 'keys', name + '.txt'))


def train_losses(runner) -> List[float]:
    values, _counts = runner.message_hub.get_scalar('train/loss').data
    return [float(v) for v in values]


def load_config(path: str):
    from mmengine.config import Config
    return Config.fromfile(path)


@contextlib.contextmanager
def synthetic_dataset(root: str, task: str, **counts):
    """Generate the synthetic set of ``task`` ('det' or 'seg') under ``root`` and point the synthetic configs at it
    (they read ``$SYNTHETIC_DATA``)."""
    from tools.make_synthetic import generate
    generate(out=root, tasks=(task,), quiet=True, **counts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('SYNTHETIC_DATA', root)
        yield root


def train_tiny(task: str, config: str, work_dir: str, name: str, *options: str):
    """Six iterations of ``config`` with checkpoints at 3 and 6, no validation: the runner."""
    from dense import runner as dense_runner
    return dense_runner.run_train(task, [
        config, '--work-dir', work_dir, '--cfg-options', 'train_cfg.max_iters=6', 'train_cfg.val_begin=100',
        'default_hooks.checkpoint.interval=3', 'default_hooks.logger.interval=1', f'experiment_name={unique_name(name)}',
        *options])


@pytest.fixture(scope='module')
def synthetic_data(request, tmp_path_factory):
    """The module's synthetic set (``SYNTHETIC_COUNTS`` images), its root while the module runs."""
    task = {'detection': 'det', 'segmentation': 'seg'}[request.module.TASK]
    with synthetic_dataset(str(tmp_path_factory.mktemp('synthetic')), task, **request.module.SYNTHETIC_COUNTS) as root:
        yield root


@pytest.fixture(scope='module')
def trained_tiny(request, synthetic_data, tmp_path_factory):
    """Six iterations of the module's ``SYNTHETIC_CONFIG`` (checkpoints at 3 and 6, ``TRAIN_OPTIONS`` added): the
    runner and its work dir."""
    module = request.module
    work_dir = str(tmp_path_factory.mktemp('work'))
    runner = train_tiny(module.TASK, module.SYNTHETIC_CONFIG, work_dir, f'{module.TASK[:3]}_train',
                        *module.TRAIN_OPTIONS)
    return runner, work_dir
