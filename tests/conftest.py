import os

import pytest
import torch

from dense_helpers import one_thread
from dense_helpers import synthetic_data, trained_tiny  # noqa: F401  (fixtures of test_detection / test_segmentation)
from official_layout import load_pretrained

# Keep CPU tests deterministic and inside the 2-core budget.
torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_configure(config):
    """The markers of timm's own tests/test_models.py, which test_timm_battery.py imports (strict markers)."""
    for name in ('base', 'forward', 'backward', 'cfg', 'cfg_nonstd', 'torchscript', 'features', 'fxforward',
                 'fxbackward', 'timeout'):
        config.addinivalue_line('markers', f'{name}: marker of timm\'s tests/test_models.py')


def pytest_collection_modifyitems(config, items):
    """`slow` tests run only when asked for with `-m slow` (or RUN_SLOW=1)."""
    if os.environ.get('RUN_SLOW') == '1' or 'slow' in (config.getoption('-m') or ''):
        return
    skip = pytest.mark.skip(reason='slow: run with `-m slow` or RUN_SLOW=1')
    for item in items:
        if 'slow' in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope='module')
def single_thread():
    """One intra-op thread for a module (``pytestmark = pytest.mark.usefixtures('single_thread')``): on a shared,
    oversubscribed 2-core machine two OpenMP threads mostly spin-wait for each other."""
    with one_thread():
        yield


@pytest.fixture(scope='module')
def ckpt_dir(tmp_path_factory):
    """A directory for a module's checkpoint files."""
    return tmp_path_factory.mktemp('ckpt')


class LoadedModels(dict):
    """``loaded(name)``: the variant built once through timm's pretrained-file path from ``official_file(name)``,
    in eval mode; a test that changes a model in place drops it with ``loaded.pop(name)``."""

    def __init__(self, official_file):
        super().__init__()
        self.official_file = official_file

    def __call__(self, name: str) -> torch.nn.Module:
        if name not in self:
            self[name] = load_pretrained(name, self.official_file(name)).eval()
        return self[name]


@pytest.fixture(scope='module')
def loaded(official_file):
    """Per module, from that module's ``official_file`` fixture (see :class:`LoadedModels`)."""
    return LoadedModels(official_file)
