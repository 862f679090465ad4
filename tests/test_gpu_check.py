"""tools/gpu_check.py on a CPU machine: one line per check, GPU checks skipped, the CPU-runnable ones ok."""
import os
import re
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'tools', 'gpu_check.py')
sys.path.insert(0, ROOT)

from tools import gpu_check  # noqa: E402

LINE = re.compile(r'^(?P<name>[\w/.-]+): (?P<status>ok|FAIL|skipped)(?:[: ] ?(?P<text>.*))?$')
GPU_ONLY = ('train_bf16', 'train_fp16', 'ema_teacher_eval', 'compile', 'nccl', 'deploy', 'features', 'mmcv_ops',
            'det_step', 'seg_step')


def _run(*args, timeout=120):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, SCRIPT, '--tiny', *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    parsed = {}
    for line in lines:
        m = LINE.match(line)
        assert m, f'not a check line: {line!r}\n{proc.stderr[-2000:]}'
        parsed[m['name']] = (m['status'], m['text'] or '')
    return proc.returncode, parsed


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU-machine behaviour')
def test_cpu_machine_skips_every_gpu_check_and_runs_the_rest():
    rc, lines = _run()
    assert rc == 0, lines
    for name in GPU_ONLY:
        assert lines[name] == ('skipped', 'no CUDA'), (name, lines.get(name))
    for name in ('env', 'data', 'train_cpu'):
        assert lines[name][0] == 'ok', (name, lines[name])
    first, last = map(float, re.search(r'loss ([\d.]+) -> ([\d.]+)', lines['train_cpu'][1]).groups())
    assert last < first
    assert re.search(r'\d+ img/s', lines['train_cpu'][1])
    assert lines['gpu_check'][0] == 'ok'


def test_gpu_logic_runs_on_the_cpu_and_fails_loudly():
    """--device cpu: the deploy / features code on the CPU; a zero tolerance turns deploy lines into FAIL (after
    the bf16 autocast forward of FasterNet's deploy form, which used to raise a dtype mismatch)."""
    rc, lines = _run('--device', 'cpu', '--only', 'env', 'deploy', 'features', '--models', 'fasternet_t0',
                     '--fold-tol', '0')
    assert rc == 1
    status, text = lines['deploy/fasternet_t0']
    assert status == 'FAIL' and re.search(r'fp32 rel max diff \S+ \(tol 0e\+00\), bf16 autocast vs fp32', text), text
    status, text = lines['features/fasternet']
    assert status == 'ok' and 'strides [4, 8, 16, 32]' in text, text
    assert 'throughput/fasternet_t0' not in lines  # GPU only
    assert lines['gpu_check'] == ('FAIL', '1 failed, ' + lines['gpu_check'][1].split(', ')[1])


def test_a_crashing_check_is_one_fail_line_and_the_run_goes_on(capsys, monkeypatch):
    def boom(ctx):
        raise RuntimeError('first line\nCUDA error: an illegal memory access')

    def fine(ctx):
        return 'numbers'

    monkeypatch.setattr(gpu_check, 'CHECKS', [('boom', False, False, boom), ('fine', False, False, fine),
                                              ('gpu', True, False, fine)])
    assert gpu_check.main(['--tiny', '--device', 'cpu']) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'boom: FAIL RuntimeError: CUDA error: an illegal memory access'
    assert out[1].startswith('fine: ok numbers (')
    assert out[2] == 'gpu: skipped: no CUDA'


def test_paper_gpu_figure_in_images_per_second():
    assert gpu_check._paper_gpu('47 ms Xeon E5-2630v4 / 21 ms V100 b64') == '21 ms V100 b64 = 3048 img/s'
    assert gpu_check._paper_gpu('0.86 ms iPhone 12') == 'no GPU figure in tools/paper_numbers.py'
    assert gpu_check._paper_gpu(None) == 'no GPU figure in tools/paper_numbers.py'


def test_each_rank_gets_its_own_gpu_for_a_bare_cuda_device(monkeypatch):
    """``--device cuda`` under torchrun: cuda:<local rank>, not cuda:0 for all (NCCL refuses a shared GPU)."""
    from classification.distributed import resolve_device
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 4)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert resolve_device('cuda', 5) == torch.device('cuda', 1)
    assert resolve_device(None, 2) == torch.device('cuda', 2)
    assert resolve_device('cuda:3', 0) == torch.device('cuda', 3)
    assert resolve_device('cpu', 2) == torch.device('cpu')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert resolve_device(None, 2) == torch.device('cpu')


@pytest.mark.parametrize('name', ['mpvit_tiny'])  # FasterNet: through gpu_check above
def test_deploy_forms_run_under_autocast(name):
    """The in-place / out= inference fast paths step aside under AMP (they used to raise a dtype mismatch)."""
    import timm
    from timm.utils import reparameterize_model

    import models  # noqa: F401
    from models._blocks import plain_eager
    torch.manual_seed(0)
    model = reparameterize_model(timm.create_model(name).eval()).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        reference = model(x)
        assert plain_eager()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert not plain_eager()
            for batch in (2, 1):  # MPViT runs other paths for one image
                y = model(x[:batch].contiguous(memory_format=torch.channels_last))
                assert y.dtype == torch.bfloat16
                rel = ((y.float() - reference[:batch]).abs().max() / reference[:batch].abs().max()).item()
                assert rel < 0.05, (batch, rel)


def _build_mmcv(*args, **env):
    run_env = {k: v for k, v in os.environ.items() if k not in ('MMCV_CUDA', 'FORCE_CUDA', 'TORCH_CUDA_ARCH_LIST')}
    run_env.update(CUDA_VISIBLE_DEVICES='', PY=sys.executable, **env)
    return subprocess.run(['bash', os.path.join(ROOT, 'tools', 'build_mmcv.sh'), *args], capture_output=True,
                          text=True, env=run_env, timeout=120)


def test_build_mmcv_tags_cpu_and_cuda_wheels_apart():
    """The wheelhouse tag names torch, its CUDA and the arch list, or 'cpu'; a CUDA build without a GPU needs an
    explicit arch list (one line); the ops check refuses a CPU-only mmcv when CUDA ops are asked for."""
    torch_version = torch.__version__.split('+')[0]
    out = _build_mmcv('--tag')
    assert out.returncode == 0 and out.stdout.strip() == f'mmcv2.1.0-torch{torch_version}-cpu'
    if torch.version.cuda:
        out = _build_mmcv('--tag', MMCV_CUDA='1', TORCH_CUDA_ARCH_LIST='8.0;9.0+PTX')
        assert out.stdout.strip() == f'mmcv2.1.0-torch{torch_version}-cu{torch.version.cuda}-sm80-sm90+PTX'
        out = _build_mmcv(MMCV_CUDA='1')
        assert out.returncode == 1
        assert out.stderr.strip().splitlines() == [
            "[setup] FAILED at 'mmcv-probe': no GPU visible: set TORCH_CUDA_ARCH_LIST (e.g. 9.0) to build CUDA ops"]
        out = _build_mmcv('--check', MMCV_CUDA='1', TORCH_CUDA_ARCH_LIST='9.0')
        assert out.returncode == 1 and 'tag:' not in out.stdout
