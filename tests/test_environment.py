"""The environment entry point is idempotent and fails with one line; the pinned stack is what we verified."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP = os.path.join(ROOT, 'tools', 'setup_env.sh')


def _pins():
    pins = {}
    with open(os.path.join(ROOT, 'requirements', 'lock.txt')) as f:
        for line in f:
            if '==' in line and not line.startswith('#'):
                name, version = line.strip().split('==')
                pins[name.lower()] = version
    return pins


def test_installed_versions_match_lock():
    from importlib.metadata import version
    pins = _pins()
    for name in ('torch', 'torchvision', 'timm', 'mmengine', 'mmdet', 'mmsegmentation', 'numpy', 'setuptools'):
        assert version(name) == pins[name], f'{name}: installed {version(name)}, locked {pins[name]}'
    assert version('mmcv') == '2.1.0'


def test_mmcv_compiled_ops_run():
    import torch
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feats = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0, 0, 0, 4, 4]], dtype=torch.float32)
    pooled = RoIAlign((1, 1), spatial_scale=1.0, sampling_ratio=2, aligned=True)(feats, rois)
    assert pooled.item() == pytest.approx(feats.mean().item(), abs=1e-5)


def test_setup_is_idempotent_on_a_ready_machine():
    out = subprocess.run(['bash', SETUP], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert 'environment ready' in out.stdout and 'compiling' not in out.stdout


def test_setup_failure_is_one_line_with_log_path(tmp_path):
    bad = tmp_path / 'lock.txt'
    bad.write_text('file:///nonexistent/definitely-missing-1.0.tar.gz\n')
    out = subprocess.run(['bash', SETUP], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, LOCK=str(bad)))
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "FAILED at 'requirements'" in lines[0] and 'build/logs/requirements.log' in lines[0]
