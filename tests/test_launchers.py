"""Real launchers, not faked environments: Open MPI's ``mpirun`` (with and without mpi4py) and a one-node SLURM
cluster on localhost (``srun -n 2`` and a ``classification/submit.py`` job through submitit), each training
classification/main.py on two CPU processes.

Needs Debian's openmpi-bin / slurm-wlm / munge and mpi4py: ``make setup-launchers``. Without them the tests skip,
unless ``REQUIRE_LAUNCHERS=1`` (set by .ci/run, which installs them) turns the skip into a failure.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from slurm_cluster import missing_commands, slurm_cluster

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(REPO, 'classification', 'main.py')


def _require(missing):
    if not missing:
        return
    message = f'missing {", ".join(missing)}: run make setup-launchers'
    if os.environ.get('REQUIRE_LAUNCHERS') == '1':
        pytest.fail(message, False)
    pytest.skip(message)


def _require_mpi():
    has_mpi4py = subprocess.run([sys.executable, '-c', 'import mpi4py.MPI'], capture_output=True).returncode == 0
    _require(([] if shutil.which('mpirun') else ['mpirun']) + ([] if has_mpi4py else ['mpi4py']))


def hide_mpi4py(env, tmp_path):
    """A module named mpi4py that fails to import, ahead of the installed one."""
    (tmp_path / 'hide' / 'mpi4py').mkdir(parents=True)
    (tmp_path / 'hide' / 'mpi4py' / '__init__.py').write_text("raise ImportError('hidden by the test')\n")
    env['PYTHONPATH'] = str(tmp_path / 'hide')


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    from tools.make_synthetic import generate
    root = str(tmp_path_factory.mktemp('syn'))
    generate(root, tasks=('cls',), cls_size=32, train_per_class=6, val_per_class=3, quiet=True)
    return os.path.join(root, 'imagenet')


def main_argv(data, out):
    return ['--model', 'test_efficientnet', '--data-path', data, '--output-dir', str(out), '--input-size', '32',
            '--batch-size', '8', '--workers', '0', '--no-progress', '--no-tensorboard', '--epochs', '1',
            '--warmup-epochs', '0', '--threads', '1', '--seed', '0']


def env_for_children(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_', 'OMPI_', 'PMI_', 'SLURM_'))}
    env.update(OMP_NUM_THREADS='1', **extra)
    return env


def assert_two_rank_run(out, stdout, launcher):
    assert f'2 process(es) ({launcher})' in stdout, stdout[-2000:]
    with open(os.path.join(out, 'log.jsonl')) as f:
        assert [json.loads(line)['epoch'] for line in f] == [0]
    state = torch.load(os.path.join(out, 'checkpoint-last.pth'), map_location='cpu', weights_only=True)
    assert len(state['rng']) == 2  # one RNG state per rank: both ranks took part


def mpirun(*args, env):
    cmd = ['mpirun', '--allow-run-as-root', '--oversubscribe', '-np', '2', *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------------------------------ Open MPI
@pytest.mark.parametrize('with_mpi4py', [True, False], ids=['mpi4py', 'no-mpi4py'])
def test_mpirun_trains_on_two_ranks(dataset, tmp_path, with_mpi4py):
    _require_mpi()
    env = env_for_children()
    if not with_mpi4py:
        hide_mpi4py(env, tmp_path)
    out = tmp_path / 'run'
    done = mpirun(sys.executable, MAIN, *main_argv(dataset, out), env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert_two_rank_run(out, done.stdout, 'openmpi')


@pytest.mark.parametrize('with_mpi4py', [True, False], ids=['mpi4py', 'no-mpi4py'])
def test_mpirun_across_nodes_needs_mpi4py_or_master_addr(dataset, tmp_path, with_mpi4py):
    """Each rank told it is alone on its node (local size 1): mpi4py shares rank 0's host, else one line."""
    _require_mpi()
    env = env_for_children()
    if not with_mpi4py:
        hide_mpi4py(env, tmp_path)
    out = tmp_path / 'run'
    pretend = ("import os, runpy, sys; os.environ['OMPI_COMM_WORLD_LOCAL_SIZE'] = '1'; "
               f"sys.argv = [{MAIN!r}] + sys.argv[1:]; runpy.run_path({MAIN!r}, run_name='__main__')")
    done = mpirun(sys.executable, '-c', pretend, *main_argv(dataset, out), env=env)
    if with_mpi4py:
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        assert_two_rank_run(out, done.stdout, 'openmpi')
    else:
        assert done.returncode != 0
        errors = [line for line in done.stderr.splitlines() if line.startswith('error:')]
        assert errors and 'MASTER_ADDR' in errors[0] and 'Traceback' not in done.stderr, done.stderr[-2000:]


# --------------------------------------------------------------------------------------------------------- SLURM
@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    _require(missing_commands())
    with slurm_cluster(str(tmp_path_factory.mktemp('slurm'))) as env:
        yield env


def test_srun_trains_on_two_tasks(slurm, dataset, tmp_path):
    out = tmp_path / 'run'
    env = env_for_children(SLURM_CONF=slurm['SLURM_CONF'])
    done = subprocess.run(['srun', '-n', '2', '--cpus-per-task', '1', sys.executable, MAIN, *main_argv(dataset, out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert_two_rank_run(out, done.stdout, 'slurm')


def test_submit_py_job_runs_on_slurm(slurm, dataset, tmp_path, monkeypatch):
    """classification/submit.py -> submitit -> sbatch -> srun: two tasks train, both finish with status 0."""
    from classification import submit
    for key in [k for k in os.environ if k.startswith('SLURM_')]:
        monkeypatch.delenv(key)
    monkeypatch.setenv('SLURM_CONF', slurm['SLURM_CONF'])
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    out = tmp_path / 'run'
    job = submit.main(['--cluster', 'slurm', '--ngpus', '0', '--tasks-per-node', '2', '--cpus-per-task', '1',
                       '--timeout', '10', '--job-dir', str(tmp_path / 'jobs'), '--', *main_argv(dataset, out)])
    assert job.results() == [0, 0]
    logs = ''.join(open(p).read() for p in sorted((tmp_path / 'jobs' / str(job.job_id)).glob('*_log.out')))
    assert_two_rank_run(out, logs, 'torchrun')  # submitit exports the torch.distributed variables
