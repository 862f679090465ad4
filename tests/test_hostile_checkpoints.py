"""Every loading entry point against crafted checkpoint files (tests/hostile_checkpoints.py).

Each case must run no code (the marker its payload would write stays absent) and end with one line that names the
file and the cause; the command-line entry points exit with status 1 and print no traceback. Entry points: the
loader itself (plain and with mmengine's types), classification ``--resume`` / ``--pretrained-file`` /
``--finetune`` / ``--teacher-path``, ``timm.create_model(pretrained_cfg_overlay=dict(file=...))``,
``tools/convert.py``, ``tools/export.py --checkpoint``, and for detection and segmentation ``test.py CKPT``,
``load_from``, ``--resume CKPT``, the backbone's ``init_cfg=dict(type='Pretrained')`` and the loaders behind them.
"""
import glob
import os
import subprocess
import sys

import pytest
import torch

import hostile_checkpoints as hostile
from classification import main as cls_main
from models._checkpoint import CheckpointError, load_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = list(hostile.CASES)
CAUSE = {name: ('safetensors' if name.startswith('safetensors') else 'truncated' if name.startswith('truncated')
                else 'refused') for name in CASES}
DENSE = {
    'detection': 'configs/detection/synthetic/mask-rcnn_fasternet-t0_fpn_synthetic.py',
    'segmentation': 'configs/segmentation/synthetic/fpn_fasternet-t0_synthetic.py',
}
pytestmark = pytest.mark.usefixtures('single_thread')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """case name -> (file, marker), all written once."""
    directory = str(tmp_path_factory.mktemp('hostile'))
    return {name: hostile.write_case(name, directory) for name in CASES}


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
    from tools.make_synthetic import generate
    root = str(tmp_path_factory.mktemp('syn'))
    generate(root, tasks=('cls',), cls_size=32, train_per_class=2, val_per_class=1, quiet=True)
    return os.path.join(root, 'imagenet')


def assert_refused_in_one_line(text: str, path: str, case: str, marker: str) -> None:
    lines = [line for line in text.splitlines() if line.strip()]
    assert 'Traceback' not in text, text
    naming = [line for line in lines if path in line]
    assert len(naming) == 1, text
    assert CAUSE[case] in naming[0].lower(), naming[0]
    assert not os.path.exists(marker), f'{case}: the payload ran'


def assert_error(err: pytest.ExceptionInfo, path: str, case: str, marker: str) -> None:
    assert_refused_in_one_line(str(err.value), path, case, marker)
    assert '\n' not in str(err.value)


# ------------------------------------------------------------------------------------------------- the loader
@pytest.mark.parametrize('mmengine_state', [False, True], ids=['plain', 'mmengine'])
@pytest.mark.parametrize('case', CASES)
def test_loader_refuses(files, case, mmengine_state):
    path, marker = files[case]
    with pytest.raises(CheckpointError) as err:
        load_file(path, mmengine_state=mmengine_state)
    assert_error(err, path, case, marker)


def test_the_exploit_is_real_without_the_allow_list_fix(tmp_path):
    """The SETITEM case does write its marker when ``builtins.getattr`` itself is allowed (what the dense loaders
    allowed before): the payload is live, so the refusals above are what stop it. Run in a child process, since a
    successful payload rewrites module globals."""
    marker = str(tmp_path / 'ran')
    live = os.path.join(str(tmp_path), 'live.pth')
    with open(live, 'wb') as f:
        f.write(hostile.CASES['setitem_into_module_globals'][1](marker))
    code = ('import torch, sys; torch.serialization.add_safe_globals([getattr])\n'
            'try: torch.load(sys.argv[1], weights_only=True)\nexcept Exception: pass')
    subprocess.run([sys.executable, '-c', code, live], check=True, capture_output=True, timeout=120)
    assert os.path.exists(marker)


@pytest.mark.mm_stack
def test_mmengine_state_is_allowed_for_one_load_only(tmp_path):
    """mmengine's message hub loads with ``mmengine_state=True`` and is refused without it: nothing is left
    allowed process-wide after the load."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('hostile_test')
    hub.update_scalar('train/loss', 1.5)
    path = str(tmp_path / 'hub.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}, 'message_hub': hub.state_dict()}, path)
    loaded = load_file(path, mmengine_state=True)
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 1.5
    with pytest.raises(CheckpointError, match='refused to load .*HistoryBuffer'):
        load_file(path)
    with pytest.raises(Exception, match='getattr|HistoryBuffer'):
        torch.load(path, weights_only=True)


# ------------------------------------------------------------------------------------------- classification
def _classification_argv(imagenet, out, flag, path):
    argv = ['--model', 'test_efficientnet', '--data-path', imagenet, '--output-dir', str(out), '--input-size', '32',
            '--batch-size', '4', '--workers', '0', '--no-progress', '--no-tensorboard', '--epochs', '1',
            '--threads', '1', flag, path]
    if flag == '--teacher-path':
        argv += ['--distillation-type', 'hard', '--teacher-model', 'test_efficientnet']
    return argv


@pytest.mark.parametrize('flag', ['--resume', '--pretrained-file', '--finetune', '--teacher-path'])
@pytest.mark.parametrize('case', CASES)
def test_classification_flags(files, imagenet, tmp_path, capsys, case, flag):
    path, marker = files[case]
    assert cls_main.main(_classification_argv(imagenet, tmp_path, flag, path)) == 1
    assert_refused_in_one_line(capsys.readouterr().err, path, case, marker)


# -------------------------------------------------------------------------------------------- timm and tools
@pytest.mark.parametrize('case', CASES)
def test_timm_create_model_file_overlay(files, case):
    import timm

    import models  # noqa: F401
    path, marker = files[case]
    with pytest.raises(CheckpointError) as err:
        timm.create_model('repnext_m0', pretrained=True, pretrained_cfg_overlay=dict(file=path))
    assert_error(err, path, case, marker)


@pytest.mark.parametrize('case', CASES)
def test_convert_tool(files, tmp_path, capsys, case):
    from tools import convert
    path, marker = files[case]
    dst = tmp_path / 'out.safetensors'
    assert convert.main(['repnext_m0', path, str(dst)]) == 1
    assert_refused_in_one_line(capsys.readouterr().err, path, case, marker)
    assert not dst.exists() and not glob.glob(str(tmp_path / '.out*'))  # nothing half-written either


@pytest.mark.parametrize('case', CASES)
def test_export_tool(files, tmp_path, capsys, case):
    from tools import export
    path, marker = files[case]
    assert export.main(['repnext_m0', '--checkpoint', path, '--out-dir', str(tmp_path)]) == 1
    assert_refused_in_one_line(capsys.readouterr().err, path, case, marker)
    assert not os.listdir(tmp_path)


# -------------------------------------------------------------------------------- detection and segmentation
def _dense_argv(task, mode, how, path, work_dir):
    config = DENSE[task]
    common = ['--work-dir', str(work_dir), '--cfg-options', 'train_cfg.max_iters=1']
    if mode == 'test':
        return [config, path, '--work-dir', str(work_dir)]
    if how == 'load_from':
        return [config, *common, f'load_from={path}']
    if how == 'resume':
        return [config, '--resume', path, *common]
    return [config, *common, 'model.backbone.init_cfg.type=Pretrained', f'model.backbone.init_cfg.checkpoint={path}']


@pytest.mark.parametrize('mode, how', [('test', 'checkpoint'), ('train', 'load_from'), ('train', 'resume'),
                                       ('train', 'init_cfg')])
@pytest.mark.parametrize('task', list(DENSE))
@pytest.mark.parametrize('case', CASES)
def test_dense_entry_points(files, tmp_path, capsys, case, task, mode, how):
    pytest.importorskip('mmcv.ops', reason='mmcv with compiled ops is required (tests/test_mm_stack.py)')
    from dense import runner as dense_runner
    path, marker = files[case]
    assert dense_runner.main(task, mode, _dense_argv(task, mode, how, path, tmp_path / 'work')) == 1
    assert_refused_in_one_line(capsys.readouterr().err, path, case, marker)


@pytest.mark.parametrize('task', list(DENSE))
def test_dense_missing_checkpoint(tmp_path, capsys, task):
    pytest.importorskip('mmcv.ops', reason='mmcv with compiled ops is required (tests/test_mm_stack.py)')
    from dense import runner as dense_runner
    path = str(tmp_path / 'nowhere.pth')
    for mode, how in (('test', 'checkpoint'), ('train', 'load_from'), ('train', 'init_cfg')):
        assert dense_runner.main(task, mode, _dense_argv(task, mode, how, path, tmp_path / 'work')) == 1
        err = capsys.readouterr().err
        assert 'Traceback' not in err and f'error: checkpoint not found: {path}' in err.splitlines()


@pytest.fixture(scope='module')
def detector():
    pytest.importorskip('mmcv.ops', reason='mmcv with compiled ops is required (tests/test_mm_stack.py)')
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from dense_helpers import load_config
    register_all_modules()
    return MODELS.build(load_config(os.path.join(REPO, DENSE['detection'])).model)


@pytest.mark.parametrize('case', CASES)
def test_dense_loaders_behind_the_runner(files, detector, case):
    """What the runner calls once the files passed its check: the strict dense loader and the backbone's
    ``init_weights`` (with and without ``prefix``)."""
    from mmdet.registry import MODELS

    from models.mm import load_dense_checkpoint
    path, marker = files[case]
    with pytest.raises(CheckpointError) as err:
        load_dense_checkpoint(detector, path)
    assert_error(err, path, case, marker)
    for prefix in (None, 'backbone.'):
        init_cfg = dict(type='Pretrained', checkpoint=path, **({'prefix': prefix} if prefix else {}))
        backbone = MODELS.build(dict(type='TimmFeatureBackbone', model_name='fasternet_t0', init_cfg=init_cfg))
        with pytest.raises(CheckpointError) as err:
            backbone.init_weights()
        assert path in str(err.value) and '\n' not in str(err.value) and not os.path.exists(marker)


# ------------------------------------------------------------------------------- the scripts, as users run them
SCRIPTS = {
    'classification/main.py': lambda path, tmp, imagenet: _classification_argv(imagenet, tmp, '--finetune', path),
    'tools/convert.py': lambda path, tmp, imagenet: ['repnext_m0', path, str(tmp / 'out.pth')],
    'tools/export.py': lambda path, tmp, imagenet: ['repnext_m0', '--checkpoint', path, '--out-dir', str(tmp)],
    'detection/test.py': lambda path, tmp, imagenet: [DENSE['detection'], path, '--work-dir', str(tmp)],
    'detection/train.py': lambda path, tmp, imagenet: [DENSE['detection'], '--resume', path, '--work-dir', str(tmp)],
    'segmentation/test.py': lambda path, tmp, imagenet: [DENSE['segmentation'], path, '--work-dir', str(tmp)],
}


@pytest.mark.parametrize('script', list(SCRIPTS))
def test_scripts_exit_1_with_one_line(files, imagenet, tmp_path, script):
    if script.startswith(('detection', 'segmentation')):
        pytest.importorskip('mmcv.ops', reason='mmcv with compiled ops is required (tests/test_mm_stack.py)')
    case = 'setitem_into_module_globals'
    path, marker = files[case]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    proc = subprocess.run([sys.executable, script, *SCRIPTS[script](path, tmp_path, imagenet)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert_refused_in_one_line(proc.stderr, path, case, marker)
