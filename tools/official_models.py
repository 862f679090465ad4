"""Build the authors' own models from local clones of their repositories, for side-by-side timing.

``--official-root DIR`` must contain (any subset of) ``RapidNet-Official/``, ``RepNeXt/``, ``MPViT/``, ``FasterNet/``
and ``rexnet/``: plain clones of the public repositories. Nothing of that code lives in this repository; it is
imported from DIR at run time, with:

* mmdet / mmcv / mmseg / mmengine / detectron2 imports blocked (the classification files only use them inside
  ``try/except ImportError``), so a half-installed OpenMMLab cannot break the import;
* a minimal ``einops.rearrange`` stand-in when einops is not installed (MPViT uses two reshaping patterns);
* timm's ``register_model`` made a no-op while the file is imported, so the authors' ``repnext_m1`` or
  ``mpvit_tiny`` never replace the project's entries in timm's registry;
* the authors' prints and deprecation warnings silenced.

Each model is built in the authors' best deployment form, the one their own latency/eval scripts use:

========== ==============================================================================================
rapidnet   ``reparameterize_model`` (RepCPE folded); no conv-BN fusion exists in the official code
repnext    ``RepNext.fuse()`` (the same walk as ``utils.replace_batchnorm``)
fasternet  ``pconv_fw_type='slicing'`` (with the clone) + ``utils/fuse_conv_bn.fuse_conv_bn``
mpvit      none (the official code has no deploy form)
rexnet     none (the official code has no deploy form)
========== ==============================================================================================
"""
import contextlib
import importlib.util
import io
import logging
import math
import os
import re
import sys
import types
import warnings
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn

__all__ = ['OFFICIAL_DIRS', 'OfficialModels', 'OfficialError', 'rearrange']

OFFICIAL_DIRS = {
    'rapidnet': 'RapidNet-Official', 'repnext': 'RepNeXt', 'mpvit': 'MPViT', 'fasternet': 'FasterNet',
    'rexnet': 'rexnet',
}
_BLOCKED = ('mmdet', 'mmcv', 'mmseg', 'mmengine', 'detectron2')


class OfficialError(RuntimeError):
    """The official model cannot be built (repository missing, variant unknown, import failure); one line."""


# ----------------------------------------------------------------------------------------------- einops stand-in
def _parse_axes(side: str):
    groups, current = [], None
    for token in re.findall(r'\(|\)|[A-Za-z_][A-Za-z0-9_]*', side):
        if token == '(':
            current = []
        elif token == ')':
            groups.append(current)
            current = None
        elif current is not None:
            current.append(token)
        else:
            groups.append([token])
    return groups


def rearrange(tensor: torch.Tensor, pattern: str, **sizes: int) -> torch.Tensor:
    """``einops.rearrange`` for pure reshape/transpose patterns such as ``'B h (H W) C -> B (h C) H W'``."""
    left, right = (_parse_axes(side) for side in pattern.split('->'))
    if len(left) != tensor.dim():
        raise ValueError(f'pattern {pattern!r} expects {len(left)} dims, got {tensor.dim()}')
    known = dict(sizes)
    for group, dim in zip(left, tensor.shape):
        unknown = [a for a in group if a not in known]
        if len(unknown) > 1:
            raise ValueError(f'cannot infer sizes of {unknown} in {pattern!r}')
        if unknown:
            known[unknown[0]] = dim // math.prod(known[a] for a in group if a != unknown[0])
    elementary = [a for group in left for a in group]
    x = tensor.reshape([known[a] for a in elementary])
    order = [a for group in right for a in group]
    x = x.permute([elementary.index(a) for a in order])
    return x.reshape([math.prod(known[a] for a in group) for group in right])


def _einops_stub() -> types.ModuleType:
    module = types.ModuleType('einops')
    module.rearrange = rearrange
    module.__stub__ = True
    return module


# ------------------------------------------------------------------------------------------------ import guard
def _noop_register(fn=None, **_):
    return fn if fn is not None else (lambda f: f)


@contextlib.contextmanager
def _import_guard(repo_dir: str):
    """Import the authors' files without side effects on this process (see the module docstring)."""
    import timm.models
    import timm.models._registry as registry
    patched = [(mod, 'register_model', getattr(mod, 'register_model'))
               for mod in (timm.models, registry) if hasattr(mod, 'register_model')]
    try:
        import timm.models.registry as legacy_registry  # deprecated alias module some official files use
        patched.append((legacy_registry, 'register_model', legacy_registry.register_model))
    except ImportError:
        pass
    # blocked even when already imported (e.g. by the dense tests): hide the loaded modules for the duration,
    # so the authors' optional registrations behave the same in every process
    blocked = [name for name in sys.modules if name.split('.')[0] in _BLOCKED] + [
        name for name in _BLOCKED if name not in sys.modules]
    hidden = {name: sys.modules[name] for name in blocked if sys.modules.get(name) is not None}
    added_einops = False
    try:
        import einops  # noqa: F401
    except ImportError:
        sys.modules['einops'] = _einops_stub()
        added_einops = True
    for mod, attr, _ in patched:
        setattr(mod, attr, _noop_register)
    for name in blocked:
        sys.modules[name] = None  # "import mmdet" raises ImportError
    sys.path.insert(0, repo_dir)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter('ignore')
            yield
    finally:
        sys.path.remove(repo_dir)
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
        sys.modules.update(hidden)
        for mod, attr, original in patched:
            setattr(mod, attr, original)
        if added_einops:
            sys.modules.pop('einops', None)


def _load_file(path: str, module_name: str, repo_dir: str) -> types.ModuleType:
    if not os.path.isfile(path):
        raise OfficialError(f'official file not found: {path}')
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    with _import_guard(repo_dir):
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as err:
            sys.modules.pop(module_name, None)
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            raise OfficialError(f'importing {path} failed: {type(err).__name__}: {first}') from None
    return module


# ----------------------------------------------------------------------------------------------- model builders
def _variant(pattern: str, name: str) -> Optional[re.Match]:
    return re.fullmatch(pattern, name.split('.', 1)[0].lower())


class OfficialModels:
    """Builds official models from ``root`` (one clone per family), caching the imported modules."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self._modules: Dict[str, types.ModuleType] = {}

    def repo_dir(self, family: str) -> str:
        path = os.path.join(self.root, OFFICIAL_DIRS[family])
        if not os.path.isdir(path):
            raise OfficialError(f'no {OFFICIAL_DIRS[family]}/ under {self.root}')
        return path

    def module(self, family: str, rel_path: str) -> types.ModuleType:
        key = f'{family}:{rel_path}'
        if key not in self._modules:
            repo = self.repo_dir(family)
            tag = re.sub(r'\W', '_', rel_path[:-3])
            self._modules[key] = _load_file(os.path.join(repo, rel_path), f'_official_{family}_{tag}', repo)
        return self._modules[key]

    def build(self, model_name: str, family: str) -> Tuple[nn.Module, str]:
        """(model in its official deploy form, eval mode; a short description of that form)."""
        builders: Dict[str, Callable[[str], Tuple[nn.Module, str]]] = {
            'rapidnet': self._rapidnet, 'repnext': self._repnext, 'mpvit': self._mpvit,
            'fasternet': self._fasternet, 'rexnet': self._rexnet,
        }
        if family not in builders:
            raise OfficialError(f'no official builder for family {family!r}')
        timm_logger = logging.getLogger('timm')
        level = timm_logger.level
        timm_logger.setLevel(logging.ERROR)  # "No pretrained configuration specified" for the authors' names
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter('ignore')
                model, form = builders[family](model_name)
        finally:
            timm_logger.setLevel(level)
        return model.eval(), form

    def _rapidnet(self, name):
        match = _variant(r'rapidnet_(ti|s|m|b)', name)
        if not match:
            raise OfficialError(f'{name}: not an official RapidNet variant')
        module = self.module('rapidnet', 'models/rapidnet.py')
        model = getattr(module, f'RapidNet_{match.group(1).capitalize()}')().eval()
        return module.reparameterize_model(model), 'reparameterize_model (RepCPE)'

    def _repnext(self, name):
        match = _variant(r'repnext_m(\d)', name)
        if not match:
            raise OfficialError(f'{name}: not an official RepNeXt variant')
        module = self.module('repnext', 'model/repnext.py')
        builder = getattr(module, f'repnext_m{match.group(1)}', None)
        if builder is None:
            raise OfficialError(f'{name}: the official RepNeXt file has no repnext_m{match.group(1)}')
        model = builder().eval()
        model.fuse()
        return model, 'fuse() (replace_batchnorm)'

    def _mpvit(self, name):
        match = _variant(r'mpvit_(tiny|xsmall|small|base)', name)
        if not match:
            raise OfficialError(f'{name}: not an official MPViT variant')
        module = self.module('mpvit', 'mpvit.py')
        return getattr(module, f'mpvit_{match.group(1)}')(), 'as trained (no official deploy form)'

    def _fasternet(self, name):
        match = _variant(r'fasternet_(t0|t1|t2|s|m|l)', name)
        if not match:
            raise OfficialError(f'{name}: not an official FasterNet variant')
        import yaml
        module = self.module('fasternet', 'models/fasternet.py')
        fuse = self.module('fasternet', 'utils/fuse_conv_bn.py').fuse_conv_bn
        cfg_path = os.path.join(self.repo_dir('fasternet'), 'cfg', f'fasternet_{match.group(1)}.yaml')
        with open(cfg_path) as f:
            cfg = yaml.safe_load(f)
        keys = ('mlp_ratio', 'embed_dim', 'depths', 'feature_dim', 'patch_size', 'patch_stride', 'patch_size2',
                'patch_stride2', 'layer_scale_init_value', 'drop_path_rate', 'norm_layer', 'act_layer', 'n_div')
        model = module.FasterNet(**{k: cfg[k] for k in keys if k in cfg}, pconv_fw_type='slicing').eval()
        return fuse(model), "pconv 'slicing' + fuse_conv_bn"

    def _rexnet(self, name):
        lite = _variant(r'rexnet_lite_(\d{3})', name)
        v1 = _variant(r'rexnet_(\d{3})', name)
        if lite:
            module = self.module('rexnet', 'rexnetv1_lite.py')
            return module.ReXNetV1_lite(multiplier=int(lite.group(1)) / 100), 'as trained (no official deploy form)'
        if v1:
            module = self.module('rexnet', 'rexnetv1.py')
            return module.ReXNetV1(width_mult=int(v1.group(1)) / 100), 'as trained (no official deploy form)'
        raise OfficialError(f'{name}: not an official ReXNet variant')
