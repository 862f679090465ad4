"""The project seen by other people's tools: after setup, the venv's python imports it from any directory (a .pth
file that tools/setup_env.sh writes), so MMDetection's and MMSegmentation's own tools/train.py and tools/test.py
(shipped in their wheels under ``.mim/tools/``) run our configs unchanged, without PYTHONPATH."""
import json
import os
import subprocess
import sys

import pytest
import torch

from dense_helpers import unique_name

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {
    'mmdet': 'configs/detection/synthetic/mask-rcnn_fasternet-t0_fpn_synthetic.py',
    'mmseg': 'configs/segmentation/synthetic/fpn_fasternet-t0_synthetic.py',
}
SYNTHETIC = {'mmdet': dict(tasks=('det',), det_train=4, det_val=2), 'mmseg': dict(tasks=('seg',), seg_train=4,
                                                                                     seg_val=2)}
METRIC = {'mmdet': 'coco/bbox_mAP', 'mmseg': 'mIoU'}


def upstream_tool(package: str, name: str) -> str:
    module = __import__(package)
    path = os.path.join(os.path.dirname(module.__file__), '.mim', 'tools', name)
    assert os.path.isfile(path), f'{package} ships no {name} at {path}'
    return path


def foreign_env(**extra) -> dict:
    """The environment of a user in another directory: no PYTHONPATH, one thread."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(OMP_NUM_THREADS='1', **extra)
    return env


def run(cmd, cwd, env, timeout=600):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    tail = '\n'.join((done.stdout + done.stderr).strip().splitlines()[-25:])
    assert done.returncode == 0, f'{cmd[1]} exited {done.returncode}:\n{tail}'
    return done


def test_project_imports_from_any_directory(tmp_path):
    """What a notebook or timm's train.py would do: import the project from elsewhere and build a model."""
    code = ('import timm, models, dense.runner, classification.main; '
            'm = timm.create_model("rapidnet_ti", num_classes=3); print(m.__class__.__module__)')
    done = run([sys.executable, '-c', code], cwd=str(tmp_path), env=foreign_env())
    assert done.stdout.strip() == 'models.rapidnet'


def test_path_file_names_this_checkout():
    import sysconfig
    path = os.path.join(sysconfig.get_paths()['purelib'], 'efficient_backbones.pth')
    assert os.path.isfile(path), 'setup did not write the .pth file (run make setup)'
    with open(path) as f:
        assert os.path.realpath(f.read().strip()) == os.path.realpath(REPO)


@pytest.mark.parametrize('package', ['mmdet', 'mmseg'])
def test_upstream_train_and_test_tools_run_our_configs(package, tmp_path):
    """Two iterations with mmdet's / mmseg's own train.py, then their test.py on the trained weights."""
    from models._checkpoint import load_file
    from tools.make_synthetic import generate

    data = tmp_path / 'data'
    generate(out=str(data), quiet=True, **SYNTHETIC[package])
    elsewhere = tmp_path / 'cwd'
    elsewhere.mkdir()
    work = tmp_path / 'work'
    config = os.path.join(REPO, CONFIGS[package])
    env = foreign_env(SYNTHETIC_DATA=str(data))
    run([sys.executable, upstream_tool(package, 'train.py'), config, '--work-dir', str(work), '--cfg-options',
         'train_cfg.max_iters=2', 'train_cfg.val_begin=100', 'default_hooks.checkpoint.interval=2',
         'default_hooks.logger.interval=1', f'experiment_name={unique_name(package)}'], str(elsewhere), env)
    checkpoint = work / 'iter_2.pth'
    assert checkpoint.is_file(), sorted(os.listdir(work))
    scalars = [json.loads(line) for line in open(next(work.glob('*/vis_data/scalars.json')))]
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))

    # mmengine's own loader (torch.load, weights-only on current torch) reads plain state dicts, not the message-hub
    # objects of a training checkpoint: hand test.py the weights, as a released file would be
    weights = tmp_path / 'weights.pth'
    torch.save({'state_dict': load_file(str(checkpoint), mmengine_state=True)['state_dict']}, weights)
    done = run([sys.executable, upstream_tool(package, 'test.py'), config, str(weights), '--work-dir',
                str(tmp_path / 'test')], str(elsewhere), env)
    assert METRIC[package] in done.stdout + done.stderr
