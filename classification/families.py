"""Registers the project's backbone families with timm on import (import this before ``models._checkpoint``).

``import models`` imports all five families. While one family file is missing or broken (the families are written
in parallel), the others are imported one by one instead of losing all of them: the package ``__init__`` is
bypassed with a bare package object for ``models``.
"""
import importlib
import importlib.util
import os
import sys
import types
from typing import List

FAMILIES = ('fasternet', 'mpvit', 'rapidnet', 'repnext', 'rexnet')
_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'models')


def import_families() -> List[str]:
    """Import every family that can be imported; returns their names."""
    try:
        import models  # noqa: F401
        return list(FAMILIES)
    except Exception:
        pass
    if 'models' not in sys.modules:
        package = types.ModuleType('models')
        package.__path__ = [_MODELS_DIR]
        package.__file__ = os.path.join(_MODELS_DIR, '__init__.py')
        sys.modules['models'] = package
    loaded = []
    for family in FAMILIES:
        if importlib.util.find_spec(f'models.{family}') is None:
            continue
        try:
            importlib.import_module(f'models.{family}')
            loaded.append(family)
        except Exception as err:
            print(f'warning: models/{family}.py does not import ({type(err).__name__}: {err}); its models are '
                  f'unavailable', file=sys.stderr)
    return loaded


LOADED = import_families()
