"""timm's own model tests on the five families.

``tests/test_models.py`` of the pinned timm release (taken from timm's source distribution on PyPI, cached under
``build/``) parametrizes its generic tests (forward, backward, default_cfgs, TorchScript, features_only,
forward_intermediates, FX, ...) over every registered model. Here each of those tests runs unchanged, as timm's
function, over every variant of the five families. The smallest variant of each family runs in the fast suite; all
31 run under ``-m slow``.
"""
import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile

import pytest
import timm

from tools.zoo import FAMILIES, family_models, import_families

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO_ROOT, 'build', 'timm-tests', timm.__version__)
MEMBER = f'timm-{timm.__version__}/tests/test_models.py'

import_families()
ALL_VARIANTS = family_models()
FAST_VARIANTS = ['fasternet_t0', 'mpvit_tiny', 'rapidnet_ti', 'repnext_m0', 'rexnet_lite_100']


def fetch_timm_test_file() -> str:
    """Path of timm's test_models.py for the installed timm; downloaded once from PyPI (the sdist), atomically."""
    path = os.path.join(CACHE, 'test_models.py')
    if os.path.exists(path):
        return path
    os.makedirs(CACHE, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        cmd = [sys.executable, '-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps',
               '--no-binary', ':all:', f'timm=={timm.__version__}', '-d', tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ['no output'])[-1]
            pytest.fail(f'cannot fetch timm {timm.__version__} sdist from the package registry: {last}', False)
        sdist = os.path.join(tmp, f'timm-{timm.__version__}.tar.gz')
        with tarfile.open(sdist) as tar:  # read one known member; nothing from the archive is written by name
            source = tar.extractfile(MEMBER).read()
        partial = os.path.join(tmp, 'test_models.py')
        with open(partial, 'wb') as f:
            f.write(source)
        os.replace(partial, path)
    return path


def load_timm_tests():
    spec = importlib.util.spec_from_file_location('timm_test_models', fetch_timm_test_file())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TIMM_TESTS = load_timm_tests()


def _model_params(fn):
    """(model list, other parametrize values) of a timm test function, from its pytest marks."""
    models, others = None, {}
    for mark in getattr(fn, 'pytestmark', []):
        if mark.name != 'parametrize':
            continue
        names, values = mark.args[0], mark.args[1]
        if names == 'model_name':
            models = list(values)
        elif isinstance(names, str) and ',' not in names:
            others[names] = list(values)
    return models, others


# generic tests that do not apply to these families, and why
NOT_APPLICABLE = {
    'test_model_default_cfgs_non_std': "for timm's non-standard models (ViTs etc.: NON_STD_FILTERS), none of ours",
    'test_model_load_pretrained': 'downloads released weights from the Hugging Face hub (offline here; the '
                                  "authors' files are loaded by tests/test_<family>.py)",
    'test_model_features_pretrained': 'same: hub downloads',
}


def generic_tests():
    """timm's tests that run over the registry (a model list of at least 100 names), by name."""
    found = {}
    for name in dir(TIMM_TESTS):
        fn = getattr(TIMM_TESTS, name)
        if name.startswith('test_') and callable(fn) and name not in NOT_APPLICABLE:
            models, others = _model_params(fn)
            if models is not None and len(models) >= 100:
                found[name] = (fn, others)
    return found


GENERIC = generic_tests()
FIXTURES = {'cfg_device': lambda: 'meta' if TIMM_TESTS._HAS_DEVICE_CONTEXT else 'cpu'}


def _cases(variants):
    cases = []
    for test_name in sorted(GENERIC):
        marks = [pytest.mark.slow] if variants is ALL_VARIANTS else []
        for model_name in variants:
            if variants is ALL_VARIANTS and model_name in FAST_VARIANTS:
                continue
            cases.append(pytest.param(test_name, model_name, id=f'{test_name}[{model_name}]', marks=marks))
    return cases


def test_battery_is_timms_and_covers_every_family():
    """The file is timm's own, its generic tests are all here, and the variant lists cover the five families."""
    assert TIMM_TESTS.timm.__version__ == timm.__version__
    expected = {'test_model_forward', 'test_model_backward', 'test_model_default_cfgs', 'test_model_forward_torchscript',
                'test_model_forward_features', 'test_model_forward_intermediates',
                'test_model_forward_intermediates_features', 'test_model_forward_fx', 'test_model_backward_fx'}
    assert expected <= set(GENERIC), sorted(expected - set(GENERIC))
    assert set(NOT_APPLICABLE) <= {n for n in dir(TIMM_TESTS) if n.startswith('test_')}  # still timm's names
    assert len(ALL_VARIANTS) == 31
    assert sorted({name.split('_')[0] for name in FAST_VARIANTS}) == sorted(FAMILIES)


@pytest.mark.parametrize('test_name,model_name', _cases(FAST_VARIANTS) + _cases(ALL_VARIANTS))
def test_timm_model_battery(test_name, model_name):
    fn, others = GENERIC[test_name]
    kwargs = {name: values[0] for name, values in others.items()}
    for name, make in FIXTURES.items():
        if name in fn.__code__.co_varnames[:fn.__code__.co_argcount]:
            kwargs[name] = make()
    fn(model_name=model_name, **kwargs)
