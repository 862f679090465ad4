"""Which backbones exist: the five families registered with timm by ``import models``, plus timm's own references.

Shared by the benchmark, export and conversion tools so that all three see the same list of models.
"""
import fnmatch
import importlib
import os
import sys
import types
from typing import Dict, Iterable, List, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:  # the tools run as scripts (python tools/x.py) as well as modules
    sys.path.insert(0, REPO_ROOT)

import timm  # noqa: E402
import torch.nn as nn  # noqa: E402

from tools.paper_numbers import CLAIMS  # noqa: E402

FAMILIES = ('fasternet', 'mpvit', 'rapidnet', 'repnext', 'rexnet')
TIMM_FAMILIES = ('fasternet', 'rexnet')  # timm ships its own (unfolded) implementation of these two

_import_errors: Optional[Dict[str, str]] = None


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f'{type(err).__name__}: {lines[0][:160]}' if lines else type(err).__name__


def import_families() -> Dict[str, str]:
    """Import the project's model package (registers the families with timm). Returns {family: error} for the
    families that could not be imported; when ``models/__init__.py`` itself fails (a family file missing), the
    family modules that do exist are imported one by one under a bare ``models`` package."""
    global _import_errors
    if _import_errors is not None:
        return _import_errors
    try:
        importlib.import_module('models')
        _import_errors = {}
        return _import_errors
    except Exception:  # a family file is missing or broken: import the others
        pass
    models_dir = os.path.join(REPO_ROOT, 'models')
    package = types.ModuleType('models')
    package.__path__ = [models_dir]
    package.__package__ = 'models'
    sys.modules['models'] = package
    errors = {}
    for family in FAMILIES:
        if not os.path.isfile(os.path.join(models_dir, f'{family}.py')):
            errors[family] = f'models/{family}.py not found'
            continue
        try:
            importlib.import_module(f'models.{family}')
        except Exception as err:
            errors[family] = _one_line(err)
    _import_errors = errors
    return errors


def atomic_output(path: str, suffix: str = ''):
    """``models._checkpoint.atomic_output`` (write a temp file, replace ``path`` in one step), imported after the
    families so that a broken family file does not break the tools."""
    import_families()
    from models._checkpoint import atomic_output as _atomic_output
    return _atomic_output(path, suffix)


def family_of(model_name: str) -> Optional[str]:
    """The family a registered model belongs to: the project module that registers it, or timm's module for the
    timm-provided families."""
    try:
        module = timm.models.model_entrypoint(model_name.split('.', 1)[0]).__module__
    except RuntimeError:
        return None
    parts = module.split('.')
    if parts[0] == 'models' and len(parts) == 2 and parts[1] in FAMILIES:
        return parts[1]
    if module.startswith('timm.models.') and parts[-1] in TIMM_FAMILIES:
        return parts[-1]
    return None


def is_project_model(model_name: str) -> bool:
    try:
        return timm.models.model_entrypoint(model_name).__module__.startswith('models.')
    except RuntimeError:
        return False


def family_models(families: Iterable[str] = FAMILIES) -> List[str]:
    """Every model the project registers for ``families``, plus timm's own entries that are paper variants (so a
    family still appears while its file is being written); timm-only extras such as ``rexnetr_*`` are left out."""
    import_families()
    wanted = set(families)
    names = []
    for name in timm.list_models():
        family = family_of(name)
        if family not in wanted:
            continue
        if is_project_model(name) or name in CLAIMS:
            names.append(name)
    order = {f: i for i, f in enumerate(FAMILIES)}
    return sorted(names, key=lambda n: (order[family_of(n)], _variant_key(n)))


def _variant_key(name: str):
    """Sort variants small to large: paper order when claimed, else by name."""
    keys = list(CLAIMS)
    return (keys.index(name) if name in keys else len(keys), name)


def resolve_models(patterns: Optional[Iterable[str]] = None, families: Iterable[str] = FAMILIES) -> List[str]:
    """Model names for command-line patterns (exact names or shell globs); all family models when None."""
    available = family_models(families)
    if not patterns:
        return available
    out = []
    for pattern in patterns:
        if any(ch in pattern for ch in '*?['):
            matched = [n for n in available if fnmatch.fnmatch(n, pattern)]
        else:
            matched = [pattern]  # any timm name is accepted as is (e.g. a reference model such as resnet18)
        if not matched:
            raise SystemExit(f'no registered model of the five families matches {pattern!r}')
        out.extend(m for m in matched if m not in out)
    return out


def timm_reference(model_name: str) -> Optional[nn.Module]:
    """timm's own (unfolded) implementation of a FasterNet/ReXNet variant, built from timm's module even when the
    project has re-registered the name; None when timm has no such variant."""
    family = family_of(model_name)
    if family not in TIMM_FAMILIES:
        return None
    module = importlib.import_module(f'timm.models.{family}')
    builder = getattr(module, model_name, None)
    if builder is None or not getattr(builder, '__module__', '').startswith('timm.'):
        return None
    return builder(pretrained=False)
