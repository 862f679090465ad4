import os

import pytest
import torch

# Keep CPU tests deterministic and inside the 2-core budget.
torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_collection_modifyitems(config, items):
    """`slow` tests run only when asked for with `-m slow` (or RUN_SLOW=1)."""
    if os.environ.get('RUN_SLOW') == '1' or 'slow' in (config.getoption('-m') or ''):
        return
    skip = pytest.mark.skip(reason='slow: run with `-m slow` or RUN_SLOW=1')
    for item in items:
        if 'slow' in item.keywords:
            item.add_marker(skip)
