"""Every GPU code path of the project on one CUDA machine, in a few minutes: one line per check.

    python tools/gpu_check.py                       # all checks (a one-GPU node: < 8 minutes on an H100)
    python tools/gpu_check.py --tiny                # seconds-sized settings (what tests/test_gpu_check.py runs)
    python tools/gpu_check.py --only train_bf16 deploy --models 'repnext_*'
    python tools/gpu_check.py --build-mmcv          # no mmcv here: build it with this machine's nvcc first

Each check prints ``NAME: ok <numbers>``, ``NAME: FAIL <reason>`` or ``NAME: skipped: <reason>`` (checks that need
CUDA print ``skipped: no CUDA`` on a CPU machine); the exit status is 1 when any check failed. The run needs only
torch, torchvision, timm and pyyaml (tensorboard, mmengine / mmcv / mmdet / mmseg where present): it is planned for
a machine with its own Python and no package index. ``--budget S`` (default 450 s) skips what would start after S
seconds, so the whole run fits a short lease.

Checks, in order:

* ``env``: versions, device, capability.
* ``data``: the synthetic classification set (tools/make_synthetic.py).
* ``train_cpu`` (CPU machines only): classification/main.py in float32 on the CPU; loss falls.
* ``train_bf16``, ``train_fp16``: main.py on the GPU with AMP (bfloat16; float16 with GradScaler) and
  channels_last; the loss falls over the epochs; images/s of the last epoch; the fp16 checkpoint holds the scaler.
* ``ema_teacher_eval``: EMA + a soft-distillation teacher (the bf16 run's checkpoint) on the GPU, then ``--eval
  --deploy`` of the checkpoint (raw and EMA weights, folded, AMP) on the GPU.
* ``compile``: main.py with ``--compile``; first- and second-epoch times.
* ``nccl``: a one-rank NCCL process group as main.py joins it, all_reduce, one DDP + SyncBN step under AMP (SyncBN
  only synchronises across two or more GPUs: not exercised on one).
* ``features/<family>``: ``features_only`` on CUDA (channels_last, bf16 autocast, backward), shapes vs feature_info;
  and the mm backbone wrapper (models/mm.py) on CUDA when mmengine is importable.
* ``deploy/<model>``: every variant, training form vs ``timm.utils.reparameterize_model`` form on CUDA in float32
  (TF32 off), relative max difference, at batch 2 and 1; and the deploy form under bfloat16 autocast (channels_last)
  against its float32 output.
* ``throughput/<model>``: tools/benchmark.gpu_throughput (fp16 autocast, channels_last, ``--batch`` 256) of the
  training and deploy forms, beside the authors' GPU figure where tools/paper_numbers.py has one.
* ``mmcv_ops``: nms + RoIAlign on a CUDA tensor (``--build-mmcv``: first build mmcv with tools/build_mmcv.sh).
* ``det_step``, ``seg_step``: two iterations of the synthetic Mask R-CNN / Semantic FPN config on the GPU, then
  their test run (needs mmdet / mmseg and mmcv's CUDA ops).
"""
import argparse
import contextlib
import copy
import fnmatch
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

# -------------------------------------------------------------------------------------------------- the runner


class Skip(Exception):
    """The check cannot run here (the message says why)."""


class Fail(Exception):
    """The check ran and found something wrong."""


CHECKS: List[tuple] = []  # (name, needs_cuda, logic_runs_on_cpu, function)


def check(name: str, cuda: bool = False, cpu_logic: bool = False):
    """Register a check; ``cpu_logic``: a CUDA check whose code also runs on the CPU (``--device cpu``, tests)."""
    def register(fn):
        CHECKS.append((name, cuda, cpu_logic, fn))
        return fn
    return register


def one_line(err: BaseException, limit: int = 240) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else ''
    return f'{type(err).__name__}: {text}'[:limit] if not isinstance(err, (Fail, Skip)) else text[:limit]


class Context:
    """What the checks share: options, device, a scratch folder, results of earlier checks, the clock."""

    def __init__(self, args, work: str):
        self.args = args
        self.work = work
        self.cuda = torch.cuda.is_available() and args.device != 'cpu'
        self.device = torch.device('cuda' if self.cuda else 'cpu')
        self.start = time.perf_counter()
        self.results: Dict[str, dict] = {}
        self.failed = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.args.budget - self.elapsed()

    def emit(self, name: str, status: str, text: str = '') -> None:
        if status == 'FAIL':
            self.failed += 1
        sep = ': ' if status == 'skipped' else ' '
        print(f'{name}: {status}{sep if text else ""}{text}', flush=True)


def run_checks(ctx: Context, selected: Callable[[str], bool]) -> None:
    for name, needs_cuda, cpu_logic, fn in CHECKS:
        if not selected(name):
            continue
        if needs_cuda and not ctx.cuda and not (cpu_logic and ctx.args.device == 'cpu'):
            ctx.emit(name, 'skipped', 'no CUDA')
            continue
        if ctx.left() <= 0:
            ctx.emit(name, 'skipped', f'time budget ({ctx.args.budget:.0f} s) spent')
            continue
        started = time.perf_counter()
        try:
            text = fn(ctx)
        except Skip as err:
            ctx.emit(name, 'skipped', one_line(err))
        except Exception as err:  # noqa: BLE001  (a check's failure is a line, never the end of the run)
            ctx.emit(name, 'FAIL', one_line(err))
        else:
            if text is not None:  # checks that print their own per-item lines return None
                ctx.emit(name, 'ok', f'{text} ({time.perf_counter() - started:.1f} s)')


def _sync(ctx: Context) -> None:
    if ctx.cuda:
        torch.cuda.synchronize()


# --------------------------------------------------------------------------------------------- classification
def _main_py(ctx: Context, name: str, *flags: str, timeout: Optional[float] = None) -> dict:
    """classification/main.py in a subprocess (the real entry point, as a user starts it): its log.jsonl records."""
    args = ctx.args
    out = os.path.join(ctx.work, name)
    # --config none: these flags alone (a project model otherwise trains with its paper recipe: mixup, fp16, ...)
    cmd = [sys.executable, os.path.join(ROOT, 'classification', 'main.py'), '--config', 'none', '--model', args.model,
           '--data-path', ctx.results['data']['path'], '--output-dir', out, '--input-size', str(args.img_size),
           '--batch-size', str(args.train_batch), '--workers', str(args.workers), '--no-progress',
           '--no-tensorboard', '--warmup-epochs', '0', '--lr', str(args.lr), '--smoothing', '0.0', '--seed', '0',
           '--opt', 'adamw', '--weight-decay', '0.0', '--sched', 'cosine', '--min-lr', str(args.lr / 10), *flags]
    if not ctx.cuda:
        cmd += ['--device', 'cpu', '--threads', '1']
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    for var in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'SLURM_PROCID', 'SLURM_STEP_ID', 'OMPI_COMM_WORLD_RANK',
                'PMI_RANK'):
        env.pop(var, None)  # one process, whatever launched this script
    timeout = timeout or max(ctx.left(), 30)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail(f'main.py did not finish in {timeout:.0f} s') from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise Fail(f'main.py exit {proc.returncode}: {tail[-1] if tail else "no output"}')
    records = []
    log = os.path.join(out, 'log.jsonl')
    if os.path.isfile(log):
        with open(log) as f:
            records = [json.loads(line) for line in f if line.strip()]
    return dict(out=out, records=records, stdout=proc.stdout)


def _loss_falls(run: dict, what: str) -> str:
    losses = [r['train_loss'] for r in run['records']]
    if len(losses) < 2:
        raise Fail(f'{what}: {len(losses)} epoch record(s) in log.jsonl')
    last = run['records'][-1]
    if not losses[-1] < losses[0]:
        raise Fail(f'{what}: loss did not fall: ' + ' -> '.join(f'{v:.3f}' for v in losses))
    return (f'loss {losses[0]:.3f} -> {losses[-1]:.3f}, {last["train_images_per_s"]:.0f} img/s (last epoch), '
            f'val top-1 {last.get("val_acc1", float("nan")):.1f}')


def _locked(name: str) -> Optional[str]:
    """The version requirements/lock.txt pins for ``name`` (the versions the project was verified with)."""
    try:
        with open(os.path.join(ROOT, 'requirements', 'lock.txt')) as f:
            for line in f:
                if line.lower().startswith(name.lower() + '=='):
                    return line.strip().split('==', 1)[1]
    except OSError:
        pass
    return None


@check('env')
def check_env(ctx: Context) -> str:
    import timm
    try:
        import models  # noqa: F401  (registers the five families with this timm)
    except Exception as err:  # noqa: BLE001
        raise Fail(f'import models with timm {timm.__version__}: {one_line(err)}') from None
    versions = []
    for name, have in (('torch', torch.__version__), ('timm', timm.__version__)):
        locked = _locked(name)
        versions.append(f'{name} {have}' + ('' if locked is None or have.split('+')[0] == locked
                                            else f' (lock: {locked})'))
    parts = [f'python {platform.python_version()}', *versions]
    if ctx.cuda:
        props = torch.cuda.get_device_properties(ctx.device)
        parts += [f'CUDA {torch.version.cuda}', f'cuDNN {torch.backends.cudnn.version()}',
                  f'{torch.cuda.device_count()}x {props.name} (sm {props.major}{props.minor}, '
                  f'{props.total_memory / 2 ** 30:.0f} GiB)', f'bf16 {torch.cuda.is_bf16_supported()}']
    else:
        parts += ['no CUDA' + (' (--device cpu)' if torch.cuda.is_available() else ''),
                  f'{torch.get_num_threads()} threads']
    return ', '.join(parts)


@check('data')
def check_data(ctx: Context) -> str:
    from tools.make_synthetic import generate
    a = ctx.args
    path = os.path.join(ctx.work, 'synthetic')
    summary = generate(out=path, tasks=('cls',), cls_size=a.data_size, train_per_class=a.train_per_class,
                       val_per_class=a.val_per_class, quiet=True)
    ctx.results['data'] = dict(path=summary['paths']['cls'], counts=summary['counts']['cls'])
    return f'{summary["counts"]["cls"]} images of {a.data_size}px in {path}'


def _need_data(ctx: Context) -> None:
    if 'data' not in ctx.results:
        raise Skip('no synthetic data (the data check did not run or failed)')


@check('train_cpu')
def check_train_cpu(ctx: Context) -> str:
    if ctx.cuda:
        raise Skip('CUDA present: the GPU runs below cover the loop')
    _need_data(ctx)
    run = _main_py(ctx, 'train_cpu', '--epochs', str(ctx.args.epochs))
    return _loss_falls(run, 'fp32 CPU')


@check('train_bf16', cuda=True, cpu_logic=True)
def check_train_bf16(ctx: Context) -> str:
    _need_data(ctx)
    run = _main_py(ctx, 'train_bf16', '--epochs', str(ctx.args.epochs), '--amp', '--amp-dtype', 'bfloat16',
                   '--channels-last')
    ctx.results['train_bf16'] = run
    return _loss_falls(run, 'bf16 + channels_last')


@check('train_fp16', cuda=True, cpu_logic=True)
def check_train_fp16(ctx: Context) -> str:
    _need_data(ctx)
    run = _main_py(ctx, 'train_fp16', '--epochs', str(ctx.args.epochs), '--amp', '--amp-dtype', 'float16',
                   '--channels-last')
    text = _loss_falls(run, 'fp16 + GradScaler + channels_last')
    from models._checkpoint import load_file
    state = load_file(os.path.join(run['out'], 'checkpoint-last.pth'))
    scale = (state.get('scaler') or {}).get('scale')
    if scale is None:
        raise Fail('fp16 checkpoint holds no GradScaler state')
    return f'{text}, loss scale {float(scale):.0f}'


@check('ema_teacher_eval', cuda=True, cpu_logic=True)
def check_ema_teacher_eval(ctx: Context) -> str:
    _need_data(ctx)
    teacher_run = ctx.results.get('train_bf16')
    if teacher_run is None:
        raise Skip('needs the train_bf16 run (its checkpoint is the teacher)')
    teacher = os.path.join(teacher_run['out'], 'checkpoint-last.pth')
    run = _main_py(ctx, 'ema_teacher', '--epochs', '2', '--amp', '--channels-last', '--model-ema',
                   '--model-ema-decay', '0.9', '--distillation-type', 'soft', '--teacher-model', ctx.args.model,
                   '--teacher-path', teacher)
    last = run['records'][-1]
    if 'ema_acc1' not in last:
        raise Fail('no EMA evaluation in the log')
    evaluated = _main_py(ctx, 'ema_teacher', '--eval', '--resume', os.path.join(run['out'], 'checkpoint-last.pth'),
                         '--amp', '--channels-last', '--deploy')  # the deploy form under AMP, as users evaluate
    with open(os.path.join(run['out'], 'eval.json')) as f:
        results = json.load(f)['results']
    expected = ctx.results['data']['counts']['val']
    counts = {k: v['count'] for k, v in results.items()}
    if set(counts) != {'model', 'model_ema'} or set(counts.values()) != {expected}:
        raise Fail(f'--eval counted {counts}, expected model and model_ema with {expected} images each')
    del evaluated
    return (f'distilled + EMA: loss {run["records"][0]["train_loss"]:.3f} -> {last["train_loss"]:.3f}, '
            f'val top-1 {last["val_acc1"]:.1f} / EMA {last["ema_acc1"]:.1f}; --eval on {ctx.device.type}: '
            f'{results["model"]["acc1"]:.1f} / {results["model_ema"]["acc1"]:.1f} ({expected} images, deploy form)')


@check('compile', cuda=True)
def check_compile(ctx: Context) -> str:
    _need_data(ctx)
    run = _main_py(ctx, 'compile', '--epochs', '2', '--amp', '--channels-last', '--compile')
    times = [r['epoch_time_s'] for r in run['records']]
    if len(times) < 2:
        raise Fail(f'{len(times)} epoch record(s)')
    last = run['records'][-1]
    return (f'epoch times {times[0]:.1f} s (with compilation), {times[1]:.1f} s; '
            f'{last["train_images_per_s"]:.0f} img/s, loss {last["train_loss"]:.3f}')


@check('nccl', cuda=True)
def check_nccl(ctx: Context) -> str:
    import torch.distributed as dist
    import timm
    from timm.layers import convert_sync_batchnorm
    from torch.nn.parallel import DistributedDataParallel
    from classification.distributed import all_reduce_sum, cleanup, resolve_device
    if not dist.is_nccl_available():
        raise Fail('this torch build has no NCCL')
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', str(29500 + os.getpid() % 1000))
    # the call classification.distributed.init_distributed makes for a rank (device_id binds the GPU); it joins a
    # group only for two or more ranks, so the one-rank group is set up here the same way
    device = resolve_device('cuda', 0)
    torch.cuda.set_device(device)
    dist.init_process_group('nccl', init_method='env://', rank=0, world_size=1, device_id=device)
    try:
        total = all_reduce_sum([1.0, 2.0], ctx.device)
        model = convert_sync_batchnorm(timm.create_model(ctx.args.model, num_classes=8)).to(ctx.device)
        model.to(memory_format=torch.channels_last)
        ddp = DistributedDataParallel(model, device_ids=[ctx.device.index or 0])
        x = torch.randn(8, 3, ctx.args.img_size, ctx.args.img_size, device=ctx.device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast('cuda', dtype=torch.bfloat16):
            loss = ddp(x).float().logsumexp(1).mean()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        if any(g is None or not torch.isfinite(g).all() for g in grads):
            raise Fail('DDP step left missing or non-finite gradients')
        sync_bns = sum(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    finally:
        cleanup()
    return (f'NCCL {".".join(map(str, torch.cuda.nccl.version()))}, all_reduce {total}, DDP + {sync_bns} SyncBN '
            f'layers: bf16 step finite (world size 1: SyncBN statistics not synchronised)')


# ----------------------------------------------------------------------------------------------------- models
def _models(ctx: Context) -> List[str]:
    from tools.zoo import resolve_models
    return resolve_models(ctx.args.models)


def _build_forms(name: str):
    import timm
    from timm.utils import reparameterize_model
    from tools.benchmark import randomize_bn_stats
    torch.manual_seed(0)
    train = randomize_bn_stats(timm.create_model(name, pretrained=False).eval())
    return train, reparameterize_model(train).eval()  # a folded copy; train stays as it is


@contextlib.contextmanager
def _no_tf32():
    """Exact float32 on the GPU: TF32 convs/matmuls (cuDNN's default) differ from float32 by ~1e-3."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12)).item()


@check('features', cuda=True, cpu_logic=True)
def check_features(ctx: Context) -> None:
    import timm
    from tools.zoo import FAMILIES
    names = _models(ctx)
    smallest = {}
    for name in names:  # resolve_models lists each family small to large
        smallest.setdefault(name.split('_')[0], name)
    try:
        import mmengine  # noqa: F401
        from models.mm import TimmFeatureBackbone
    except ImportError as err:
        TimmFeatureBackbone, mm_reason = None, f'mm wrapper skipped ({one_line(err)})'
    size = ctx.args.feature_size
    for family in FAMILIES:
        if family not in smallest:
            continue
        name = smallest[family]
        started = time.perf_counter()
        try:
            model = timm.create_model(name, features_only=True).to(ctx.device)
            model.to(memory_format=torch.channels_last).train()
            x = torch.randn(2, 3, size, size, device=ctx.device).contiguous(memory_format=torch.channels_last)
            with torch.autocast(ctx.device.type, dtype=torch.bfloat16):
                feats = model(x)
            sum(f.float().mean() for f in feats).backward()
            shapes = [tuple(f.shape[1:]) for f in feats]
            want = [(c, size // r, size // r) for c, r in zip(model.feature_info.channels(),
                                                              model.feature_info.reduction())]
            if shapes != want:
                raise Fail(f'features {shapes} != feature_info {want}')
            if any(f.device.type != ctx.device.type for f in feats):
                raise Fail('a feature map left the GPU')
            text = f'{name}: {len(feats)} levels, strides {model.feature_info.reduction()}, bf16 fwd+bwd'
            if TimmFeatureBackbone is not None:
                backbone = TimmFeatureBackbone(name, frozen_stages=1, norm_eval=True).to(ctx.device)
                with torch.autocast(ctx.device.type, dtype=torch.bfloat16):
                    outs = backbone(x)
                sum(o.float().mean() for o in outs).backward()
                text += f'; mm wrapper: {len(outs)} levels {[tuple(o.shape[1:]) for o in outs]}, frozen stage 1'
            else:
                text += f'; {mm_reason}'
            ctx.emit(f'features/{family}', 'ok', f'{text} ({time.perf_counter() - started:.1f} s)')
        except Exception as err:  # noqa: BLE001
            ctx.emit(f'features/{family}', 'FAIL', one_line(err))
    return None


@check('deploy', cuda=True, cpu_logic=True)
def check_deploy(ctx: Context) -> None:
    """Per variant: one line (``deploy/<model>``), with the throughput of the same forms when asked."""
    from tools.benchmark import gpu_throughput
    from tools.paper_numbers import claim_for
    a = ctx.args
    g = torch.Generator().manual_seed(1)
    x_cpu = torch.randn(2, 3, a.deploy_size, a.deploy_size, generator=g)
    for name in _models(ctx):
        if ctx.left() <= 0:
            ctx.emit(f'deploy/{name}', 'skipped', 'time budget spent')
            continue
        started = time.perf_counter()
        try:
            train, deploy = _build_forms(name)
            forms = {'train': train, 'deploy': deploy}
            gpu = {k: copy.deepcopy(m).to(ctx.device) for k, m in forms.items()}
            x = x_cpu.to(ctx.device)
            with torch.inference_mode(), _no_tf32():
                # batch 2 and batch 1 (some deploy forms take other paths for one image, e.g. MPViT's attention)
                y_train, y_deploy = gpu['train'](x), gpu['deploy'](x)
                y_train1, y_deploy1 = gpu['train'](x[:1]), gpu['deploy'](x[:1])
                with torch.autocast(ctx.device.type, dtype=torch.bfloat16):
                    y_bf16 = gpu['deploy'](x.contiguous(memory_format=torch.channels_last))
                    y_bf16_1 = gpu['deploy'](x[:1])
            _sync(ctx)
            fold = max(_rel_diff(y_deploy, y_train), _rel_diff(y_deploy1, y_train1))
            amp = max(_rel_diff(y_bf16, y_deploy), _rel_diff(y_bf16_1, y_deploy1))
            params = sum(p.numel() for p in deploy.parameters()) / 1e6
            text = f'fp32 rel max diff {fold:.1e} (tol {a.fold_tol:.0e}), bf16 autocast vs fp32 {amp:.1e}, ' \
                   f'{params:.2f}M params deployed'
            if not (torch.isfinite(y_bf16).all() and torch.isfinite(y_bf16_1).all()):
                raise Fail(f'bf16 autocast deploy output not finite; {text}')
            if fold > a.fold_tol or amp > a.amp_tol:
                raise Fail(text)
            ctx.emit(f'deploy/{name}', 'ok', f'{text} ({time.perf_counter() - started:.1f} s)')
        except Exception as err:  # noqa: BLE001
            ctx.emit(f'deploy/{name}', 'FAIL', one_line(err))
            continue
        finally:
            gpu = None
        if not a.throughput or not ctx.cuda or ctx.left() <= 0:
            continue
        try:
            stats = gpu_throughput(forms, a.batch, a.img_size, warmup=a.warmup, repeats=a.repeats)
            claim = claim_for(name)
            paper = _paper_gpu(claim.latency if claim else None)
            ctx.emit(f'throughput/{name}', 'ok',
                     f'{stats["train"]["imgs_per_s"]:.0f} img/s train, {stats["deploy"]["imgs_per_s"]:.0f} img/s '
                     f'deploy (fp16, channels_last, batch {a.batch}, {a.img_size}px); paper: {paper}')
        except Exception as err:  # noqa: BLE001
            ctx.emit(f'throughput/{name}', 'FAIL', one_line(err))
        finally:
            torch.cuda.empty_cache()
    return None


def _paper_gpu(latency: Optional[str]) -> str:
    """The GPU part of a latency claim ('21 ms V100 b64' -> '21 ms V100 b64 = 3048 img/s'), or 'no GPU figure'."""
    if not latency:
        return 'no GPU figure in tools/paper_numbers.py'
    for part in latency.split('/'):
        m = re.search(r'([\d.]+)\s*ms\s+(.*?\b(?:V100|M40|A100|GPU)\b.*?)(?:\s+b(\d+))?$', part.strip())
        if m:
            ms, where, batch = float(m.group(1)), m.group(2), m.group(3)
            if batch:
                return f'{part.strip()} = {int(batch) * 1e3 / ms:.0f} img/s'
            return part.strip()
    return 'no GPU figure in tools/paper_numbers.py'


# ------------------------------------------------------------------------------------------------------- dense
def _mmcv_status() -> Optional[str]:
    """None when mmcv's CUDA ops are importable, else why not."""
    try:
        from mmcv.ops import get_compiling_cuda_version
    except Exception as err:  # noqa: BLE001  (ImportError, or an ops library built for another torch)
        return f'mmcv ops not importable ({one_line(err, 160)})'
    if get_compiling_cuda_version() == 'not available':
        return 'mmcv is installed with CPU ops only'
    return None


def _build_mmcv(ctx: Context) -> str:
    """tools/build_mmcv.sh against this Python, with this machine's nvcc, within the time left."""
    if not shutil.which('bash'):
        raise Skip('no bash')
    arch = '%d.%d' % torch.cuda.get_device_capability(ctx.device)
    env = dict(os.environ, PY=sys.executable, MMCV_CUDA='1', TORCH_CUDA_ARCH_LIST=os.environ.get(
        'TORCH_CUDA_ARCH_LIST', arch), MAX_JOBS=os.environ.get('MAX_JOBS', str(os.cpu_count() or 1)))
    limit = max(ctx.left() - 60, 30)
    started = time.perf_counter()
    proc = subprocess.Popen(['bash', os.path.join(ROOT, 'tools', 'build_mmcv.sh')], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        steps = re.findall(r'\[(\d+)/(\d+)\]', out)
        where = f'{steps[-1][0]}/{steps[-1][1]} compile steps' if steps else 'before compiling'
        raise Fail(f'build_mmcv.sh stopped at the time budget after {limit:.0f} s: {where}') from None
    lines = [line for line in out.splitlines() if line.strip()]
    if proc.returncode != 0:
        raise Fail(lines[-1] if lines else f'build_mmcv.sh exit {proc.returncode}')
    return f'mmcv built in {time.perf_counter() - started:.0f} s (sm {arch})'


@check('mmcv_ops', cuda=True)
def check_mmcv_ops(ctx: Context) -> str:
    built = ''
    reason = _mmcv_status()
    if reason is not None and ctx.args.build_mmcv:
        built = _build_mmcv(ctx) + '; '
        for mod in [m for m in sys.modules if m == 'mmcv' or m.startswith('mmcv.')]:
            del sys.modules[mod]
        reason = _mmcv_status()
    if reason is not None:
        raise Skip(reason + ('' if ctx.args.build_mmcv else ' (--build-mmcv builds it)'))
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32,
                         device=ctx.device)
    started = time.perf_counter()
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7], device=ctx.device), iou_threshold=0.5)
    feats = torch.arange(16, dtype=torch.float32, device=ctx.device).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0, 0, 0, 4, 4]], dtype=torch.float32, device=ctx.device)
    pooled = RoIAlign((1, 1), spatial_scale=1.0, sampling_ratio=2, aligned=True)(feats, rois)
    _sync(ctx)
    if keep.tolist() != [0, 2] or abs(pooled.item() - 7.5) > 1e-5:
        raise Fail(f'wrong results on CUDA: keep {keep.tolist()}, RoIAlign {pooled.item()}')
    ctx.results['mmcv_cuda'] = True
    return f'{built}nms + RoIAlign on CUDA in {1e3 * (time.perf_counter() - started):.1f} ms'


def _dense_step(ctx: Context, task: str, short: str, config: str) -> str:
    if not ctx.results.get('mmcv_cuda'):
        raise Skip('needs mmcv with CUDA ops (see mmcv_ops)')
    try:
        __import__({'detection': 'mmdet', 'segmentation': 'mmseg'}[task])
    except ImportError as err:
        raise Skip(one_line(err)) from None
    from tools.make_synthetic import generate
    data = os.path.join(ctx.work, f'synthetic_{short}')
    generate(out=data, tasks=(short,), quiet=True, **({'det_train': 8, 'det_val': 4} if short == 'det'
                                                      else {'seg_train': 8, 'seg_val': 4}))
    work = os.path.join(ctx.work, f'{task}_work')
    env = dict(os.environ, SYNTHETIC_DATA=data)
    script = os.path.join(ROOT, task, 'train.py')
    cfg = os.path.join(ROOT, config)
    opts = ['train_cfg.max_iters=2', 'train_cfg.val_begin=100', 'default_hooks.checkpoint.interval=2',
            'default_hooks.logger.interval=1']
    started = time.perf_counter()
    outputs = []
    for cmd in ([sys.executable, script, cfg, '--work-dir', work, '--cfg-options', *opts],
                [sys.executable, os.path.join(ROOT, task, 'test.py'), cfg, os.path.join(work, 'iter_2.pth'),
                 '--work-dir', work]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=max(ctx.left(), 60))
        if proc.returncode != 0:
            tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise Fail(f'{os.path.basename(cmd[1])} exit {proc.returncode}: {tail[-1] if tail else "no output"}')
        outputs.append(proc.stdout + proc.stderr)
    losses = re.findall(r'\bloss: ([\d.]+)', outputs[0])  # mmengine's logger line of each iteration
    return f'2 iterations + test on {ctx.device.type} in {time.perf_counter() - started:.0f} s' + (
        f', losses {" -> ".join(losses[:2])}' if losses else '')


@check('det_step', cuda=True)
def check_det_step(ctx: Context) -> str:
    return _dense_step(ctx, 'detection', 'det', 'configs/detection/synthetic/mask-rcnn_fasternet-t0_fpn_synthetic.py')


@check('seg_step', cuda=True)
def check_seg_step(ctx: Context) -> str:
    return _dense_step(ctx, 'segmentation', 'seg', 'configs/segmentation/synthetic/fpn_fasternet-t0_synthetic.py')


# -------------------------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--tiny', action='store_true', help='seconds-sized settings (tests; a smoke run); always on '
                   'without CUDA')
    p.add_argument('--only', nargs='+', default=None, metavar='CHECK', help='check names or globs (e.g. train_*)')
    p.add_argument('--models', nargs='+', default=None, help='variants for deploy/throughput (default: all)')
    p.add_argument('--device', default=None, choices=['cpu', 'cuda'], help='cpu: run the GPU checks on the CPU '
                   '(logic only, for tests); default: cuda when available')
    p.add_argument('--budget', type=float, default=450.0, help='seconds; later checks are skipped after it')
    p.add_argument('--work-dir', default=None, help='scratch folder (default: a temporary one, removed after)')
    p.add_argument('--model', default='rapidnet_ti', help='model of the classification runs')
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--train-batch', type=int, default=128)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument('--data-size', type=int, default=64, help='synthetic image size')
    p.add_argument('--img-size', type=int, default=224, help='train input size and throughput size')
    p.add_argument('--train-per-class', type=int, default=160)
    p.add_argument('--val-per-class', type=int, default=20)
    p.add_argument('--deploy-size', type=int, default=224)
    p.add_argument('--feature-size', type=int, default=224)
    p.add_argument('--fold-tol', type=float, default=1e-4, help='deploy vs train, relative to max |logit|')
    p.add_argument('--amp-tol', type=float, default=0.1, help='bf16 autocast vs fp32 deploy, relative')
    p.add_argument('--throughput', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--batch', type=int, default=256, help='throughput batch')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--build-mmcv', action='store_true', help='build mmcv with CUDA ops when it is missing')
    args = p.parse_args(argv)
    if not args.tiny and (args.device == 'cpu' or not torch.cuda.is_available()):
        args.tiny = True  # the GPU-sized settings would take an hour on a CPU; the CPU run is a smoke run
    if args.tiny:  # a smoke run: small data, small models, few steps
        given = set(a.split('=')[0] for a in (argv if argv is not None else sys.argv[1:]))
        tiny = dict(model='test_efficientnet', epochs=3, train_batch=8, lr=0.01, workers=0, data_size=32,
                    img_size=32, train_per_class=6, val_per_class=2, deploy_size=64, feature_size=64, batch=8,
                    warmup=1, repeats=1, models=['rapidnet_ti', 'repnext_m0'])
        for key, value in tiny.items():
            if '--' + key.replace('_', '-') not in given:
                setattr(args, key, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    patterns = args.only

    def selected(name: str) -> bool:
        return patterns is None or any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(name.split('/')[0], p)
                                       for p in patterns)

    work = args.work_dir or tempfile.mkdtemp(prefix='gpu_check_')
    os.makedirs(work, exist_ok=True)
    ctx = Context(args, work)
    try:
        run_checks(ctx, selected)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f'gpu_check: {"FAIL" if ctx.failed else "ok"} {ctx.failed} failed, {ctx.elapsed():.0f} s', flush=True)
    return 1 if ctx.failed else 0


if __name__ == '__main__':
    sys.exit(main())
