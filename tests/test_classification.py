"""classification/: distributed training and evaluation, crash-safe resume, one-line errors, recipes.

Runs on CPU with tiny synthetic data (32x32 images) and timm's 0.1M-parameter ``test_efficientnet``. Separate
processes are forked from the test process (no second interpreter start-up): two gloo ranks for DDP, a child that
is SIGKILLed for resume.
"""
import glob
import json
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import time

import pytest
import torch
import torch.nn as nn

from classification import checkpoint as ckpt
from classification import data as cls_data
from classification import families
from classification import main as cls_main
from classification.config import ConfigError, load_recipe, parse_args
from classification.distributed import detect_launcher, first_slurm_host
from classification.engine import StepOptions, train_one_epoch
from classification.errors import one_line
from classification.losses import DistillationLoss
from tools.make_synthetic import generate

import timm

MODEL = 'test_efficientnet'
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = sorted(glob.glob(os.path.join(REPO, 'configs', 'classification', '**', '*.yaml'), recursive=True))
FORK = multiprocessing.get_context('fork')


# ------------------------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    """8 classes, 6 train / 3 val images per class at 32x32, minus one val image (23: odd, so 2 ranks differ)."""
    root = str(tmp_path_factory.mktemp('syn'))
    generate(root, tasks=('cls',), cls_size=32, train_per_class=6, val_per_class=3, quiet=True)
    os.remove(sorted(glob.glob(os.path.join(root, 'imagenet', 'val', '*', '*.JPEG')))[0])
    return os.path.join(root, 'imagenet')


def base_argv(data_path, out, *extra):
    return ['--model', MODEL, '--data-path', data_path, '--output-dir', str(out), '--input-size', '32',
            '--batch-size', '8', '--workers', '0', '--no-progress', '--no-tensorboard', '--epochs', '2',
            '--warmup-epochs', '0', '--lr', '0.01', '--smoothing', '0.0', '--seed', '1', '--threads', '1', *extra]


def run_main(argv):
    """main.py in this process; one intra-op thread (two spin-waiting threads crawl on a loaded 2-core box)."""
    threads = torch.get_num_threads()
    try:
        return cls_main.main([str(a) for a in argv])
    finally:
        torch.set_num_threads(threads)


def _child(argv, env):
    os.environ.update(env)
    for key in [k for k in os.environ if k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK') and k not in env]:
        del os.environ[key]
    torch.set_num_threads(1)
    try:
        code = cls_main.main([str(a) for a in argv])
    except BaseException:  # noqa: the parent only needs the status
        code = 3
    os._exit(code)


def fork_main(argv, env=None):
    proc = FORK.Process(target=_child, args=(argv, env or {}))
    proc.start()
    return proc


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def read_log(out):
    with open(os.path.join(out, 'log.jsonl')) as f:
        return [json.loads(line) for line in f]


def stderr_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope='module')
def trained(dataset, tmp_path_factory):
    """A finished 2-epoch single-process run (checkpoint-last, -prev, -best)."""
    out = tmp_path_factory.mktemp('trained')
    assert run_main(base_argv(dataset, out)) == 0
    return str(out)


# ------------------------------------------------------------------------------------------------------- recipes
def _family_of(path):
    return os.path.basename(os.path.dirname(path))


@pytest.mark.parametrize('path', [p for p in RECIPES if not os.path.basename(p).startswith('_')],
                         ids=lambda p: os.path.relpath(p, os.path.join(REPO, 'configs', 'classification')))
def test_recipe_resolves_to_a_model(path):
    args = parse_args(['--config', path, '--data-path', 'unused'])
    family = _family_of(path)
    if family in families.FAMILIES and family not in families.LOADED:
        pytest.skip(f'models/{family}.py is not importable yet')
    assert timm.is_model(args.model), args.model
    assert args.epochs > 0 and args.batch_size > 0
    assert family not in families.FAMILIES or args.model.startswith(family + '_')


def test_recipe_values_match_the_papers():
    def get(name):
        return parse_args(['--config', os.path.join(REPO, 'configs', 'classification', name), '--data-path', 'x'])
    ti = get('rapidnet/ti.yaml')
    assert (ti.model, ti.lr_base, ti.lr_base_size, ti.weight_decay, ti.warmup_epochs, ti.crop_pct) == \
        ('rapidnet_ti', 2e-3, 1024, 0.05, 20, 0.9)
    assert ti.model_ema and ti.distillation_type == 'hard' and ti.teacher_model.startswith('regnety_160')
    m1 = get('repnext/m1.yaml')
    assert (m1.lr_base, m1.lr_base_size, m1.weight_decay, m1.clip_grad, m1.clip_mode) == (1e-3, 512, 0.025, 0.02,
                                                                                            'agc')
    t0, fl = get('fasternet/t0.yaml'), get('fasternet/l.yaml')
    assert (t0.weight_decay, t0.mixup, t0.aa, t0.filter_bias_and_bn) == (0.005, 0.05, None, False)
    assert (fl.lr_base, fl.lr_base_size, fl.clip_grad, fl.drop_path) == (2e-3, 2048, 0.01, 0.3)
    r = get('rexnet/lite_150.yaml')
    assert (r.model, r.opt, r.lr_base, r.lr_base_size, r.epochs, r.drop) == ('rexnet_lite_150', 'sgd', 0.5, 512,
                                                                              400, 0.2)
    assert get('mpvit/base.yaml').drop_path == 0.3 and get('mpvit/tiny.yaml').lr_base == 5e-4


def test_flags_override_recipe_and_bad_recipes_fail(tmp_path):
    base = tmp_path / 'base.yaml'
    base.write_text('model: resnet18\nlr_base: 1e-3\nmodel_kwargs: {a: 1}\nscale: [0.5, 1.0]\n')
    child = tmp_path / 'child.yaml'
    child.write_text('_base_: base.yaml\nweight_decay: 0.1\nmodel_kwargs: {b: 2}\n')
    args = parse_args(['--config', str(child), '--data-path', 'x', '--weight-decay', '0.2'])
    assert args.lr_base == 1e-3 and isinstance(args.lr_base, float)  # YAML reads 1e-3 as a string
    assert args.weight_decay == 0.2 and args.model_kwargs == {'a': 1, 'b': 2} and args.scale == [0.5, 1.0]
    assert parse_args(['--config', str(child), '--data-path', 'x', '--model-kwargs', 'b=3']).model_kwargs == \
        {'a': 1, 'b': 3}
    (tmp_path / 'typo.yaml').write_text('model: resnet18\nweight_decy: 0.1\n')
    with pytest.raises(ConfigError, match='weight_decy .did you mean weight_decay'):
        parse_args(['--config', str(tmp_path / 'typo.yaml'), '--data-path', 'x'])
    (tmp_path / 'loop.yaml').write_text('_base_: loop.yaml\n')
    with pytest.raises(ConfigError, match='loops back'):
        load_recipe(str(tmp_path / 'loop.yaml'))


# ---------------------------------------------------------------------------------------------------- launchers
LAUNCH_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE',
               'OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_SIZE', 'PMI_RANK', 'PMI_SIZE', 'MPI_LOCALRANKID',
               'MPI_LOCALNRANKS', 'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID', 'SLURM_STEP_ID',
               'SLURM_STEP_NUM_TASKS', 'SLURM_STEP_NODELIST', 'SLURM_JOB_NODELIST', 'MASTER_ADDR', 'MASTER_PORT')


@pytest.mark.parametrize('env, expected', [
    ({}, (0, 1, 0, 'none')),
    ({'RANK': '3', 'WORLD_SIZE': '8', 'LOCAL_RANK': '1'}, (3, 8, 1, 'torchrun')),
    ({'OMPI_COMM_WORLD_RANK': '5', 'OMPI_COMM_WORLD_SIZE': '6', 'OMPI_COMM_WORLD_LOCAL_RANK': '2',
      'OMPI_COMM_WORLD_LOCAL_SIZE': '6'}, (5, 6, 2, 'openmpi')),
    ({'PMI_RANK': '1', 'PMI_SIZE': '2', 'MPI_LOCALRANKID': '1', 'MPI_LOCALNRANKS': '2'}, (1, 2, 1, 'pmi')),
    ({'SLURM_PROCID': '9', 'SLURM_STEP_ID': '0', 'SLURM_STEP_NUM_TASKS': '16', 'SLURM_LOCALID': '1',
      'SLURM_STEP_NODELIST': 'gpu[07-08]'}, (9, 16, 1, 'slurm')),
    ({'SLURM_PROCID': '0', 'SLURM_NTASKS': '8'}, (0, 1, 0, 'none')),  # inside sbatch but not srun: one process
])
def test_launcher_detection(monkeypatch, env, expected):
    for key in LAUNCH_VARS:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # no mpi4py here: importing mpi4py.MPI would start Open MPI in the test process (a singleton orted);
    # tests/test_launchers.py covers it under real mpirun
    monkeypatch.setitem(sys.modules, 'mpi4py', None)
    found = detect_launcher()
    assert (found.rank, found.world_size, found.local_rank, found.launcher) == expected
    if found.launcher in ('openmpi', 'pmi'):
        assert os.environ['MASTER_ADDR'] == '127.0.0.1'  # single node: no address needed
    if found.launcher == 'slurm':
        assert os.environ['MASTER_ADDR'] == 'gpu07' and os.environ['MASTER_PORT'] == '29500'


def test_multinode_mpi_without_master_addr_is_a_one_line_error(monkeypatch):
    for key in LAUNCH_VARS:
        monkeypatch.delenv(key, raising=False)
    for key, value in dict(OMPI_COMM_WORLD_RANK='0', OMPI_COMM_WORLD_SIZE='16', OMPI_COMM_WORLD_LOCAL_SIZE='8').items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(sys.modules, 'mpi4py', None)  # without mpi4py (tests/test_launchers.py runs it with)
    with pytest.raises(ConfigError, match='MASTER_ADDR'):
        detect_launcher()
    assert first_slurm_host('node[003-005,9],gpu1') == 'node003' and first_slurm_host('solo') == 'solo'


# ------------------------------------------------------------------------------------------------- the training
def test_two_process_ddp_trains_and_eval_counts_exactly(dataset, tmp_path):
    out = tmp_path / 'ddp'
    env = dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()), WORLD_SIZE='2')
    argv = base_argv(dataset, out, '--epochs', '4', '--lr', '0.02', '--amp', '--amp-dtype', 'bfloat16',
                     '--channels-last', '--tensorboard')
    procs = [fork_main(argv, dict(env, RANK=str(r), LOCAL_RANK=str(r))) for r in range(2)]
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0, 0]
    log = read_log(out)
    assert [r['epoch'] for r in log] == [0, 1, 2, 3]
    assert log[-1]['train_loss'] < 0.8 * log[0]['train_loss'], [r['train_loss'] for r in log]
    assert glob.glob(str(out / 'tb' / 'events.out.tfevents.*'))
    # --eval of the saved checkpoint on 2 ranks: 23 val images split 12/11, counted once each
    env['MASTER_PORT'] = str(free_port())
    eval_argv = base_argv(dataset, out, '--eval', '--resume', out / 'checkpoint-last.pth', '--amp',
                          '--channels-last')
    procs = [fork_main(eval_argv, dict(env, RANK=str(r), LOCAL_RANK=str(r))) for r in range(2)]
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    result = json.load(open(out / 'eval.json'))['results']['model']
    assert result['count'] == 23
    assert result['acc1'] == pytest.approx(log[-1]['val_acc1']) and result['loss'] == pytest.approx(
        log[-1]['val_loss'], rel=1e-5)


def test_sigkill_then_resume_matches_an_uninterrupted_run(dataset, tmp_path):
    # every random consumer is on: RandAugment (python), mixup/cutmix (numpy), erasing + drop path (torch), EMA,
    # repeated augmentation, gradient accumulation
    extra = ['--epochs', '3', '--aa', 'rand-m9-mstd0.5', '--mixup', '0.4', '--cutmix', '1.0', '--reprob', '0.5',
             '--drop-path', '0.1', '--model-ema', '--model-ema-decay', '0.9', '--repeated-aug',
             '--grad-accum-steps', '2', '--batch-size', '4', '--warmup-epochs', '1', '--clip-grad', '0.02',
             '--clip-mode', 'agc']
    ref, crash = tmp_path / 'ref', tmp_path / 'crash'
    proc = fork_main(base_argv(dataset, ref, *extra))
    killed = fork_main(base_argv(dataset, crash, *extra))
    deadline = time.time() + 240
    while time.time() < deadline and killed.is_alive():
        if os.path.exists(crash / 'log.jsonl') and len(read_log(crash)) >= 1:
            os.kill(killed.pid, signal.SIGKILL)  # somewhere in epoch 1 (maybe while writing its checkpoint)
            break
        time.sleep(0.02)
    killed.join(30)
    proc.join(240)
    assert killed.exitcode == -signal.SIGKILL, 'the run finished before it could be killed'
    assert proc.exitcode == 0
    done_before = len(read_log(crash))
    assert done_before < 3
    resumed = fork_main(base_argv(dataset, crash, *extra, '--resume', 'auto'))
    resumed.join(240)
    assert resumed.exitcode == 0
    strip = lambda log: [{k: v for k, v in r.items() if 'time' not in k and 'per_s' not in k} for r in log]
    assert strip(read_log(crash)) == strip(read_log(ref))
    a, b = (ckpt.read_training_state(str(d / ckpt.LAST)) for d in (ref, crash))
    for part in ('model', 'model_ema'):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert a['num_updates'] == b['num_updates'] and a['epoch'] == b['epoch'] == 3


# ----------------------------------------------------------------------------------------------- one-line errors
def _assert_one_line(capsys, rc, *fragments):
    line = stderr_line(capsys)
    assert rc == 1 and line.startswith('error: '), line
    for fragment in fragments:
        assert fragment in line, line
    return line


def test_data_errors_are_one_line(dataset, tmp_path, capsys):
    assert run_main(base_argv(tmp_path / 'nope', tmp_path / 'o')) == 1
    _assert_one_line(capsys, 1, 'data path not found')
    (tmp_path / 'empty').mkdir()
    _assert_one_line(capsys, run_main(base_argv(tmp_path / 'empty', tmp_path / 'o')), 'data path is empty')
    bad = tmp_path / 'bad'
    shutil.copytree(dataset, bad)
    shutil.rmtree(bad / 'train' / 'cross_red')
    (bad / 'train' / 'cross_red').mkdir()
    _assert_one_line(capsys, run_main(base_argv(bad, tmp_path / 'o')), 'class folder has no images',
                     'cross_red')
    shutil.rmtree(bad)
    shutil.copytree(dataset, bad)
    broken = sorted(glob.glob(str(bad / 'train' / 'square_red' / '*.JPEG')))[0]
    with open(broken, 'wb') as f:
        f.write(b'\xff\xd8\xff\xe0 not really a jpeg')
    _assert_one_line(capsys, run_main(base_argv(bad, tmp_path / 'o', '--epochs', '1')), 'unreadable image',
                     broken)
    # the same from a DataLoader worker process, whose exception arrives wrapped in a traceback text
    _assert_one_line(capsys, run_main(base_argv(bad, tmp_path / 'o', '--epochs', '1', '--workers', '1')),
                     'unreadable image', broken)


def test_checkpoint_errors_are_one_line(dataset, trained, tmp_path, capsys):
    last = os.path.join(trained, ckpt.LAST)
    _assert_one_line(capsys, run_main(base_argv(dataset, tmp_path / 'a', '--model', 'test_byobnet',
                                                '--resume', last)), "trained with model 'test_efficientnet'")
    _assert_one_line(capsys, run_main(base_argv(dataset, tmp_path / 'b', '--num-classes', '10', '--eval',
                                                '--resume', last)), 'has 8 classes but this run has 10')
    # truncated: explicit --resume fails in one line; --resume auto falls back to the previous checkpoint
    run = tmp_path / 'trunc'
    shutil.copytree(trained, run)
    with open(run / ckpt.LAST, 'r+b') as f:
        f.truncate(os.path.getsize(run / ckpt.LAST) // 2)
    _assert_one_line(capsys, run_main(base_argv(dataset, run, '--resume', run / ckpt.LAST)), 'truncated',
                     str(run / ckpt.LAST))
    os.remove(run / ckpt.BEST)
    assert run_main(base_argv(dataset, run, '--resume', 'auto', '--epochs', '2')) == 0
    out = capsys.readouterr().out
    assert 'skipping' in out and 'resumed from' in out and ckpt.PREV in out
    # a pickle that would run code is refused, and the code does not run
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'model': _RunsCode(str(marker))}, evil)
    _assert_one_line(capsys, run_main(base_argv(dataset, tmp_path / 'c', '--finetune', evil)), 'refused')
    assert not marker.exists()


class _RunsCode:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(dataset, tmp_path, capsys):
    # epoch 0 runs at the warm-up lr; epoch 1 jumps to lr 1e30 and diverges
    run = tmp_path / 'nan'
    rc = run_main(base_argv(dataset, run, '--epochs', '3', '--warmup-epochs', '1', '--warmup-lr', '1e-4',
                            '--lr', '1e30', '--opt', 'sgd'))
    _assert_one_line(capsys, rc, 'loss is', 'at epoch 1', 'training stopped', ckpt.LAST)
    assert [r['epoch'] for r in read_log(run)] == [0]
    assert ckpt.read_training_state(str(run / ckpt.LAST))['epoch'] == 1


def test_usage_errors_are_one_line(dataset, tmp_path, capsys):
    _assert_one_line(capsys, run_main(base_argv(dataset, tmp_path, '--model', 'no_such_net')), 'unknown model')
    _assert_one_line(capsys, run_main(base_argv(dataset, tmp_path, '--eval')), '--eval needs weights')


# ------------------------------------------------------------------------------------- weights: eval, fine-tune
def test_eval_of_a_released_file_reports_raw_and_ema(dataset, trained, tmp_path, capsys):
    state = ckpt.read_training_state(os.path.join(trained, ckpt.LAST))
    raw = state['model']
    ema = {k: (v * 0.5 if v.is_floating_point() else v) for k, v in raw.items()}
    release = tmp_path / 'release.pth'
    torch.save({'state_dict': raw, 'state_dict_ema': ema}, release)  # the RapidNet release wrapper
    assert run_main(base_argv(dataset, tmp_path / 'e', '--eval', '--pretrained-file', release)) == 0
    results = json.load(open(tmp_path / 'e' / 'eval.json'))['results']
    assert set(results) == {'raw', 'ema'} and results['raw']['count'] == 23
    assert results['raw']['acc1'] == pytest.approx(state['history'][-1]['val_acc1'])
    assert results['raw']['loss'] != pytest.approx(results['ema']['loss'])
    # a released file with another class count: one line, not a silently random classifier
    wide = {k: (torch.cat([v, v[:2]]) if k.startswith('classifier.') else v) for k, v in raw.items()}
    torch.save({'model': wide}, release)
    capsys.readouterr()
    _assert_one_line(capsys, run_main(base_argv(dataset, tmp_path / 'e', '--eval', '--pretrained-file', release)),
                     'classifier.weight')


def test_finetune_replaces_only_the_classifier(dataset, trained, tmp_path):
    from classification.modeling import finetune_from
    model = timm.create_model(MODEL, num_classes=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reinit = finetune_from(model, os.path.join(trained, ckpt.LAST), use_ema=False)
    assert reinit == ['classifier.bias', 'classifier.weight']
    source = ckpt.read_training_state(os.path.join(trained, ckpt.LAST))['model']
    for key, value in model.state_dict().items():
        expected = before[key] if key.startswith('classifier.') else source[key]
        assert torch.equal(value, expected), key
    other = timm.create_model('test_byobnet', num_classes=5)
    with pytest.raises(Exception, match='does not fit'):
        finetune_from(other, os.path.join(trained, ckpt.LAST))


# ---------------------------------------------------------------------------------------------------- the parts
def test_gradient_accumulation_equals_the_big_batch():
    torch.manual_seed(0)
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    results = []
    for batch, accum in ((8, 1), (4, 2), (2, 4)):
        model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
        model.load_state_dict(_reference_linear_state())
        sync_skipped = []
        model.no_sync = lambda: _Recorder(sync_skipped)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loader = [(x[i:i + batch], y[i:i + batch]) for i in range(0, 8, batch)]
        criterion = DistillationLoss(nn.CrossEntropyLoss())
        stats = train_one_epoch(model, criterion, loader, optimizer, 0, 0,
                                StepOptions(device=torch.device('cpu'), accum_steps=accum))
        assert stats['num_updates'] == 1 and len(sync_skipped) == accum - 1
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.allclose(results[0], results[1], atol=1e-6) and torch.allclose(results[0], results[2], atol=1e-6)


def _reference_linear_state():
    g = torch.Generator().manual_seed(3)
    shapes = {'0.weight': (5, 6), '0.bias': (5,), '2.weight': (3, 5), '2.bias': (3,)}
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


class _Recorder:
    def __init__(self, calls):
        self.calls = calls

    def __enter__(self):
        self.calls.append(1)

    def __exit__(self, *exc):
        return False


def test_eval_shards_cover_every_sample_once():
    for n, world in ((23, 2), (23, 3), (5, 8)):
        shards = [list(cls_data.ShardSampler(n, r, world)) for r in range(world)]
        assert sorted(i for s in shards for i in s) == list(range(n))


def test_distillation_losses():
    torch.manual_seed(0)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    teacher = nn.Linear(3, 3)
    cls_out, dist_out = torch.randn(4, 3), torch.randn(4, 3)
    ce = nn.CrossEntropyLoss()
    hard = DistillationLoss(ce, teacher, 'hard', alpha=0.25)((x), (cls_out, dist_out), y)
    expected = 0.75 * ce(cls_out, y) + 0.25 * ce(dist_out, teacher(x).argmax(1))
    assert torch.allclose(hard, expected)
    soft = DistillationLoss(ce, teacher, 'soft', alpha=1.0, tau=2.0)(x, dist_out, y)
    p_t = torch.softmax(teacher(x) / 2, 1)
    kl = (p_t * (p_t.log() - torch.log_softmax(dist_out / 2, 1))).sum(1).mean() * 4
    assert torch.allclose(soft, kl, atol=1e-6)
    assert 'teacher' not in dict(DistillationLoss(ce, teacher, 'hard').named_modules())
    assert one_line(RuntimeError('Caught DataError in worker.\nTraceback:\n  x\nclassification.errors.DataError: '
                                 'unreadable image /a.jpg: bad')) == 'unreadable image /a.jpg: bad'


@pytest.mark.skipif('rapidnet' not in families.LOADED, reason='models/rapidnet.py not importable yet')
def test_distilled_student_with_a_teacher_checkpoint(dataset, trained, tmp_path, capsys):
    """RapidNet's two heads train against labels and a teacher loaded from one of our checkpoints."""
    argv = base_argv(dataset, tmp_path / 'kd', '--model', 'rapidnet_ti', '--epochs', '1', '--distillation-type',
                     'hard', '--teacher-model', MODEL, '--teacher-path', os.path.join(trained, ckpt.LAST))
    assert run_main(argv) == 0
    assert 'distillation head trained against the teacher' in capsys.readouterr().out
    record = read_log(tmp_path / 'kd')[0]
    assert record['train_loss'] > 0 and record['val_acc1'] >= 0


def test_submitit_job_runs_main_and_requeues_with_resume_auto(dataset, tmp_path):
    from classification import submit
    saved = dict(os.environ)
    try:  # the debug cluster runs the job in this process; the rank variables it exports are undone below
        job = submit.main(['--cluster', 'debug', '--ngpus', '1', '--job-dir', str(tmp_path / 'jobs'), '--',
                           *base_argv(dataset, tmp_path / 'run', '--epochs', '1')])
        assert job.result() == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert [r['epoch'] for r in read_log(tmp_path / 'run')] == [0]
    requeued = submit.Trainer(['--model', 'm', '--resume', 'x.pth', '--epochs', '3']).checkpoint()
    assert requeued.function.main_argv == ['--model', 'm', '--epochs', '3', '--resume', 'auto']


@pytest.mark.parametrize('model_name, keys, wrapper', [('repnext_m0', 'repnext_m0', 'model'),
                                                        ('rexnet_100', 'rexnet_100_official', None)])
def test_finetune_from_an_official_file_with_a_new_head(model_name, keys, wrapper, tmp_path):
    """The authors' layout (remapped by the family's filter), both distillation heads re-initialised."""
    if model_name.split('_')[0] not in families.LOADED:
        pytest.skip(f'models/{model_name.split("_")[0]}.py is not importable yet')
    from classification.modeling import classifier_prefixes, finetune_from
    from official_layout import read_key_list, save_official_checkpoint, synthetic_state_dict
    path = save_official_checkpoint(str(tmp_path / 'official.pth'), synthetic_state_dict(read_key_list(keys)),
                                    wrapper=wrapper)
    reference = timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=dict(file=path))
    model = timm.create_model(model_name, num_classes=8)
    reinit = finetune_from(model, path)
    heads = classifier_prefixes(model)
    assert reinit and all(k.startswith(heads) for k in reinit)
    assert len(reinit) == 2 * len(heads)  # weight and bias of every classifier
    ref = reference.state_dict()
    for key, value in model.state_dict().items():
        if not key.startswith(heads):
            assert torch.equal(value, ref[key]), key
