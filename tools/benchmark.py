"""Params, MACs, CPU latency / throughput (and GPU throughput) of every backbone, train vs deploy form, side by side
with timm's own FasterNet/ReXNet and, when pointed at local clones, the authors' implementations.

    python tools/benchmark.py                                    # all five families, 224^2, 2 threads -> logs/
    python tools/benchmark.py --official-root /path/to/clones    # + the authors' models, timed interleaved
    python tools/benchmark.py --models 'repnext_*' rexnet_100 --img-size 256 --force

Writes ``<out-dir>/benchmark_<tag>.json`` (one record per model; a re-run skips models already measured with the
same settings unless ``--force``), ``benchmark_<tag>.md`` (the tables) and ``latency_vs_top1.png`` (claimed top-1
vs measured deploy latency, one colour per family).

How things are measured:

* Params: ``model.parameters()`` (shared modules counted once) of the training form and of the deployed form
  ``timm.utils.reparameterize_model(model)``.
* MACs: ``torch.utils.flop_counter.FlopCounterMode`` (convs incl. grouped/depthwise, matmuls, bmm from einsum,
  SDPA) divided by 2. ``gmacs_fvcore`` adds what fvcore also counts (BatchNorm 2 per element in eval, Layer/
  GroupNorm 5 per element, global average pooling 1 per input element), which is how the authors printed theirs;
  tools/paper_numbers.FVCORE_REFERENCE holds fvcore counts of the official code to check against.
* CPU latency: batch 1, ``torch.set_num_threads(threads)``, ``inference_mode``, ``warmup`` runs then ``repeats``
  timed single forwards per form. All forms of one model (train, deploy, timm reference, official) are timed
  interleaved, round-robin with a rotating start, so machine-load drift hits them alike; median, IQR and min are
  reported, ratios are ratios of medians. Throughput: batch ``--throughput-batch``, images/s from the median.
* GPU (when CUDA is present): throughput at ``--gpu-batch`` with fp16 autocast and channels_last, CUDA events.
"""
import argparse
import copy
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional, Tuple

if __package__ in (None, ''):  # run as a script: put the repository root (not tools/) first on the path
    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [_root] + [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(
        os.path.abspath(__file__))]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import timm  # noqa: E402
from timm.utils import reparameterize_model  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from tools.paper_numbers import CLAIMS, FAMILY_LABELS, FVCORE_REFERENCE, claim_for  # noqa: E402
from tools.zoo import FAMILIES, REPO_ROOT, TIMM_FAMILIES, family_of, import_families, resolve_models  # noqa: E402
from tools.zoo import atomic_output, timm_reference  # noqa: E402

SPEED_TARGETS = {'deploy_vs_official': 0.8, 'deploy_vs_timm': 1.0}
FAMILY_COLOURS = {'fasternet': '#1f77b4', 'mpvit': '#ff7f0e', 'rapidnet': '#2ca02c', 'repnext': '#d62728',
                  'rexnet': '#9467bd'}


# ------------------------------------------------------------------------------------------------------ counting
def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _elements(shape) -> int:
    return math.prod(shape)


def _bn_eval(inp, weight=None, *args, out_shape=None, **kwargs):
    return 2 * _elements(inp) * (2 if weight is not None else 1)


def _norm(inp, weight=None, *args, out_shape=None, **kwargs):  # batch norm in training mode, group norm
    return 2 * _elements(inp) * (5 if weight is not None else 4)


def _layer_norm(inp, normalized_shape, weight=None, *args, out_shape=None, **kwargs):
    return 2 * _elements(inp) * (5 if weight is not None else 4)


def _mean(inp, *args, out_shape=None, **kwargs):
    return 2 * _elements(inp)


_aten = torch.ops.aten
# Ops fvcore counts and FlopCounterMode does not (values in FLOPs = 2 x fvcore's count, so /2 gives its MACs).
FVCORE_EXTRAS = {
    _aten._native_batch_norm_legit_no_training: _bn_eval,
    _aten._native_batch_norm_legit: _norm,
    _aten.native_batch_norm: _norm,
    _aten.native_group_norm: _norm,
    _aten.native_layer_norm: _layer_norm,
    _aten.mean: _mean,  # adaptive_avg_pool2d(1) and x.mean((2, 3)) both arrive here
}


def count_macs(model: nn.Module, x: torch.Tensor) -> Dict[str, float]:
    """{'gmacs': convs + matmuls (FlopCounterMode / 2), 'gmacs_fvcore': + norms and pooling as fvcore counts}."""
    with torch.inference_mode(), FlopCounterMode(display=False, custom_mapping=FVCORE_EXTRAS) as counter:
        model(x)
    flops = counter.get_flop_counts()['Global']
    extra = sum(v for op, v in flops.items() if op in FVCORE_EXTRAS)
    total = sum(flops.values())
    return {'gmacs': (total - extra) / 2e9, 'gmacs_fvcore': total / 2e9}


@torch.no_grad()
def randomize_bn_stats(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine terms, so that a wrong fold changes the outputs."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=gen) * 0.45 + 0.8)
            if module.affine:
                module.weight.copy_(torch.rand(n, generator=gen) * 0.4 + 0.8)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.05)
    return model


# ------------------------------------------------------------------------------------------------------- timing
def summarize(samples_ms: List[float]) -> Dict[str, float]:
    samples = sorted(samples_ms)
    if len(samples) >= 2:
        q1, _, q3 = statistics.quantiles(samples, n=4, method='inclusive')
    else:
        q1 = q3 = samples[0]
    return {'median_ms': statistics.median(samples), 'q1_ms': q1, 'q3_ms': q3, 'iqr_ms': q3 - q1,
            'min_ms': samples[0], 'max_ms': samples[-1], 'n': len(samples)}


def time_interleaved(runners: Dict[str, Callable[[], object]], warmup: int, repeats: int,
                     sync: Optional[Callable[[], None]] = None,
                     clock: Callable[[], float] = time.perf_counter) -> Dict[str, List[float]]:
    """ms per call of each runner (by ``clock``), round-robin with a rotating start (load drift hits all alike)."""
    sync = sync or (lambda: None)
    for run in runners.values():
        for _ in range(warmup):
            run()
    sync()
    labels = list(runners)
    samples = {label: [] for label in labels}
    for r in range(repeats):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            start = clock()
            runners[label]()
            sync()
            samples[label].append((clock() - start) * 1e3)
    return samples


def _ratios(stats: Dict[str, dict]) -> Dict[str, Optional[float]]:
    return {'deploy_vs_train': _ratio(stats, 'deploy', 'train'), 'deploy_vs_timm': _ratio(stats, 'deploy', 'timm'),
            'deploy_vs_official': _ratio(stats, 'deploy', 'official')}


def _ratio(stats: Dict[str, dict], a: str, b: str) -> Optional[float]:
    if a in stats and b in stats and stats[b]['median_ms'] > 0:
        return stats[a]['median_ms'] / stats[b]['median_ms']
    return None


def gpu_throughput(forms: Dict[str, nn.Module], batch: int, img_size: int, warmup: int,
                   repeats: int) -> Dict[str, dict]:
    """Images/s on CUDA with fp16 autocast and channels_last (each form copied to the GPU and freed after)."""
    device = torch.device('cuda')
    x = torch.randn(batch, 3, img_size, img_size, device=device).to(memory_format=torch.channels_last)
    gpu_forms = {k: copy.deepcopy(m).to(device).to(memory_format=torch.channels_last).eval()
                 for k, m in forms.items()}
    torch.backends.cudnn.benchmark = True
    with torch.inference_mode(), torch.autocast('cuda', dtype=torch.float16):
        runners = {k: (lambda m=m: m(x)) for k, m in gpu_forms.items()}
        samples = time_interleaved(runners, warmup, repeats, sync=torch.cuda.synchronize)
    out = {}
    for k, s in samples.items():
        stats = summarize(s)
        out[k] = dict(stats, batch=batch, imgs_per_s=batch * 1e3 / stats['median_ms'], amp='fp16',
                      channels_last=True)
    del gpu_forms
    torch.cuda.empty_cache()
    return out


# ---------------------------------------------------------------------------------------------------- one model
def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f'{type(err).__name__}: {lines[0][:200]}' if lines else type(err).__name__


def settings_key(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True)


def benchmark_model(name: str, settings: dict, official=None) -> dict:
    """Measure one model; never raises for a model-level problem (the record carries ``error``)."""
    record = {'model': name, 'family': family_of(name), 'settings': settings,
              'time': datetime.datetime.now().isoformat(timespec='seconds'), 'errors': []}
    claim = claim_for(name)
    if claim is not None:
        record['claim'] = {k: getattr(claim, k) for k in ('label', 'top1', 'params_m', 'gmacs', 'latency',
                                                           'source', 'note')}
    started = time.perf_counter()
    record['loadavg_before'] = _loadavg()
    size = settings['img_size']
    try:
        torch.manual_seed(0)
        train = timm.create_model(name, pretrained=False).eval()
        randomize_bn_stats(train)
        deploy = reparameterize_model(train).eval()
    except Exception as err:
        record['error'] = f'build failed: {_one_line(err)}'
        return record
    forms = {'train': train, 'deploy': deploy}

    x1 = torch.randn(settings['batch'], 3, size, size, generator=torch.Generator().manual_seed(1))
    record['params'] = {k: count_params(m) for k, m in forms.items()}
    try:
        macs = {k: count_macs(m, x1[:1]) for k, m in forms.items()}
        record['gmacs'] = {k: v['gmacs'] for k, v in macs.items()}
        record['gmacs_fvcore'] = {k: v['gmacs_fvcore'] for k, v in macs.items()}
    except Exception as err:
        record['errors'].append(f'MAC count failed: {_one_line(err)}')
    try:
        with torch.inference_mode():
            y_train, y_deploy = train(x1), deploy(x1)
    except Exception as err:
        record['error'] = f'forward failed: {_one_line(err)}'
        return record
    record['fold_max_abs_diff'] = (y_train - y_deploy).abs().max().item()
    record['output_max_abs'] = y_train.abs().max().item()

    timed = dict(forms)
    if settings['timm_ref'] and record['family'] in TIMM_FAMILIES:
        try:
            reference = timm_reference(name)
            if reference is not None:
                timed['timm'] = reference.eval()
                record['timm_ref'] = {'params': count_params(reference)}
        except Exception as err:
            record['errors'].append(f'timm reference failed: {_one_line(err)}')
    if official is not None and record['family'] is not None:
        try:
            official_model, form = official.build(name, record['family'])
            timed['official'] = official_model
            record['official'] = {'form': form, 'params': count_params(official_model)}
        except Exception as err:
            record['official'] = {'error': _one_line(err)}

    try:
        runners = {k: (lambda m=m: m(x1)) for k, m in timed.items()}
        with torch.inference_mode():
            samples = time_interleaved(runners, settings['warmup'], settings['repeats'])
        latency = {k: summarize(v) for k, v in samples.items()}
        record['latency_ms'] = latency
        record['ratios'] = _ratios(latency)
        if settings['cpu_time']:
            # thread CPU time with one thread: what the machine's load cannot inflate (no waiting, no spinning)
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.inference_mode():
                    samples = time_interleaved(runners, 1, settings['repeats'], clock=time.thread_time)
            finally:
                torch.set_num_threads(threads)
            record['cpu_ms'] = {k: summarize(v) for k, v in samples.items()}
            record['cpu_ratios'] = _ratios(record['cpu_ms'])
        if settings['throughput_batch'] > 0:
            xb = torch.randn(settings['throughput_batch'], 3, size, size)
            with torch.inference_mode():
                runners = {k: (lambda m=m: m(xb)) for k, m in forms.items()}
                samples = time_interleaved(runners, 1, settings['throughput_repeats'])
            record['throughput'] = {}
            for k, v in samples.items():
                stats = summarize(v)
                record['throughput'][k] = dict(stats, batch=settings['throughput_batch'],
                                               imgs_per_s=settings['throughput_batch'] * 1e3 / stats['median_ms'])
    except Exception as err:
        record['error'] = f'timing failed: {_one_line(err)}'
    if settings['device'] == 'cuda':
        try:
            record['gpu'] = gpu_throughput(forms, settings['gpu_batch'], size, warmup=5,
                                           repeats=max(5, settings['repeats']))
        except Exception as err:
            record['errors'].append(f'GPU run failed: {_one_line(err)}')
    record['loadavg_after'] = _loadavg()
    record['seconds'] = round(time.perf_counter() - started, 1)
    return record


def steady_allocator() -> Optional[dict]:
    """Keep freed memory in the process (glibc ``mallopt``): by default glibc returns large blocks to the system
    between forwards and the next forward page-faults them back in (measured: up to 13,000 faults, 10-36 ms of
    system time per MPViT forward when forms are interleaved), which times the allocator, not the model. Applied
    once for the whole run, so every form, ours and the authors', runs under the same settings."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        m_trim_threshold, m_mmap_threshold = -1, -3
        settings = {'M_TRIM_THRESHOLD': 1 << 30, 'M_MMAP_THRESHOLD': 32 << 20}  # 32 MiB: glibc's maximum
        ok = (libc.mallopt(m_trim_threshold, settings['M_TRIM_THRESHOLD'])
              and libc.mallopt(m_mmap_threshold, settings['M_MMAP_THRESHOLD']))
    except (OSError, AttributeError):
        return None
    return settings if ok else None


def gemm_peak_gflops(threads: int, repeats: int = 20, clock: Callable[[], float] = time.perf_counter) -> float:
    """This machine's dense float32 GEMM rate (GFLOP/s) at ``threads``: the best median over a few backbone-sized
    ``F.linear`` shapes. ``2 * MACs / peak`` is then a floor no implementation of a model's arithmetic can beat;
    a speed target below it is out of reach on this machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    best = 0.0
    try:
        with torch.inference_mode():
            for m, k, n in ((3136, 192, 384), (784, 384, 768), (196, 768, 1536)):
                a, w, b = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
                samples = time_interleaved({'gemm': lambda: torch.nn.functional.linear(a, w, b)}, 5, repeats,
                                           clock=clock)
                best = max(best, 2 * m * k * n / (statistics.median(samples['gemm']) * 1e-3) / 1e9)
    finally:
        torch.set_num_threads(before)
    return round(best, 1)


def _gemm_peaks(threads: int) -> Dict[str, float]:
    """Peaks for the two latency tables. With several threads, the measured rate drops whenever another process
    takes a core (the threads wait for each other), so the wall-clock peak is at least ``threads`` x the one-thread
    rate: the floor stays a lower bound under load."""
    one = gemm_peak_gflops(1, clock=time.thread_time)  # CPU time: other processes cannot deflate it
    return {'cpu_ms': one, 'latency_ms': max(gemm_peak_gflops(threads), round(threads * one, 1))}


def _loadavg() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


# -------------------------------------------------------------------------------------------------------- files
def atomic_write_text(path: str, text: str) -> None:
    with atomic_output(path) as tmp, open(tmp, 'w') as f:
        f.write(text)


def load_results(path: str) -> dict:
    if not os.path.isfile(path):
        return {'meta': {}, 'results': {}}
    try:
        with open(path) as f:
            data = json.load(f)
        data.setdefault('results', {})
        data.setdefault('meta', {})
        return data
    except (OSError, ValueError) as err:
        raise SystemExit(f'cannot read {path} ({_one_line(err)}); move it away or pass --force') from None


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), cpu)
    except OSError:
        pass
    info = {'cpu': cpu, 'cpu_count': os.cpu_count(), 'python': platform.python_version(),
            'torch': torch.__version__, 'timm': timm.__version__}
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
    return info


# ----------------------------------------------------------------------------------------------------- markdown
def _fmt(value, digits=2, suffix=''):
    if value is None:
        return '–'
    if isinstance(value, float):
        return f'{value:.{digits}f}{suffix}'
    return f'{value}{suffix}'


def _latency_cell(stats: Optional[dict]) -> str:
    if not stats:
        return '–'
    return f"{stats['median_ms']:.1f} ({stats['q1_ms']:.1f}–{stats['q3_ms']:.1f})"


def _check(ratio: Optional[float], target: float) -> str:
    if ratio is None:
        return '–'
    return f"{ratio:.2f} {'✓' if ratio <= target else '✗'}"


def _mismatch(measured: Optional[float], claimed: Optional[float], tol: float = 0.01) -> Optional[str]:
    """A flag when a measured value is off the printed one by more than the printing precision allows."""
    if measured is None or claimed is None:
        return None
    # printed values carry 1-3 significant digits; allow half a unit of the last printed digit or tol, whichever larger
    text = f'{claimed}'
    decimals = len(text.split('.')[1]) if '.' in text else 0
    allowed = max(0.5 * 10 ** -decimals, tol * claimed)
    return None if abs(measured - claimed) <= allowed else f'{measured:.3g} vs {claimed:g}'


def _report_start(data: dict, title: str, command: str, versions: bool):
    """The header lines of a report (title, command, machine), its records in family / paper-table order, and those
    records grouped by settings."""
    results = list(data['results'].values())
    order = {f: i for i, f in enumerate(FAMILIES)}
    claim_keys = list(CLAIMS)
    results.sort(key=lambda r: (order.get(r.get('family'), 99),
                                claim_keys.index(r['model']) if r['model'] in claim_keys else 99, r['model']))
    machine = data.get('meta', {}).get('machine', {})
    lines = [title, '']
    if command:
        lines += [f'Regenerate: `{command}`', '']
    lines += [f"Machine: {machine.get('cpu', '?')} ({machine.get('cpu_count', '?')} logical CPUs, shared)"
              + (f", torch {machine.get('torch', '?')}, timm {machine.get('timm', '?')}" if versions else '')
              + (f", GPU {machine['gpu']}" if machine.get('gpu') else '') + '.', '']
    groups = {}
    for r in results:
        groups.setdefault(settings_key(r['settings']), []).append(r)
    return lines, results, groups


def render_markdown(data: dict, command: str = '') -> str:
    meta = data.get('meta', {})
    lines, results, groups = _report_start(data, '# Backbone benchmark', command, versions=True)
    for key, group in groups.items():
        s = group[0]['settings']
        lines += [f"Settings: input {s['img_size']}², CPU batch {s['batch']}, {s['threads']} threads, "
                  f"{s['warmup']} warm-up + {s['repeats']} timed runs per form (interleaved); throughput batch "
                  f"{s['throughput_batch']} x {s['throughput_repeats']}; official code "
                  f"{'compared' if s['official'] else 'not compared'}.", '']
        lines += _params_table(group) + ['']
        peak = meta.get('gemm_peak_gflops') or {}
        lines += _latency_table(group, peak=peak.get('latency_ms')) + ['']
        lines += _latency_table(group, 'cpu_ms', 'cpu_ratios', peak=peak.get('cpu_ms')) + ['']
        lines += _details_table(group) + ['']
        if any(r.get('gpu') for r in group):
            lines += _gpu_table(group) + ['']
        lines += _targets(group, peak) + ['']
    lines += _fvcore_check(results) + ['']
    lines += ['## Notes', '',
              '* MACs: `torch.utils.flop_counter.FlopCounterMode` / 2 (convs incl. grouped/depthwise, matmuls, '
              'einsum-bmm, attention). "fvcore conv." adds BatchNorm (2/element in eval), Layer/GroupNorm '
              '(5/element) and global pooling (1/element) as fvcore does — the authors\' FLOP tool.',
              '* Latency: median (IQR) ms of single forwards. Wall clock (the nominal spec) moves with the load '
              'average of this shared machine (logged per model): with any other busy process on the cores, '
              'every OpenMP barrier waits for a descheduled thread (measured on the 2-core machine: a 150k-element '
              'add 65 us alone, 7.9 ms beside one busy process), so wall rows are only valid with the benchmark '
              'running alone (its own threads put the load average near the thread count). CPU time is the '
              'thread CPU time of the same forwards run with one thread: '
              'load cannot inflate it, so its ratios are the robust ones. All forms of a model are timed '
              'interleaved on the same input; ratios are ratios of medians.',
              '* Allocator: unless `--default-allocator`, the run sets glibc `M_TRIM_THRESHOLD` 1 GiB and '
              '`M_MMAP_THRESHOLD` 32 MiB for every form alike, so freed activations are not returned to the system '
              'and page-faulted back on the next forward.',
              '* Deploy form: `timm.utils.reparameterize_model` (every `fuse()` / `reparameterize()` hook). '
              '"fold Δ" is the max |logit difference| train vs deploy with randomised BN statistics.',
              '* Claimed numbers and their sources: `tools/paper_numbers.py`. Flags mark a measured value off the '
              'printed one by more than the printing precision (or 1 %), comparing with the deploy form, which is '
              'what the authors print where their code has one.']
    notes = sorted({f"{r['claim']['label']}: {r['claim']['note']}" for r in results
                    if r.get('claim') and r['claim'].get('note')})
    lines += [f'* {n}' for n in notes]
    errors = [f"* {r['model']}: {r['error']}" for r in results if r.get('error')]
    errors += [f"* {r['model']}: {e}" for r in results for e in r.get('errors', [])]
    errors += [f"* {r['model']}: official model not built: {r['official']['error']}" for r in results
               if r.get('official', {}).get('error')]
    if errors:
        lines += ['', '## Problems', ''] + errors
    return '\n'.join(lines) + '\n'


def _params_table(group: List[dict]) -> List[str]:
    lines = ['## Params and MACs', '',
             '| model | params train (M) | params deploy (M) | claimed params (M) | GMACs train | GMACs deploy '
             '| GMACs fvcore conv. train / deploy | claimed GMACs | official params, deploy form (M) | flags |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in group:
        if 'params' not in r:
            lines.append(f"| {r['model']} | {r.get('error', 'not measured')} ||||||||| ")
            continue
        claim = r.get('claim') or {}
        p_train, p_deploy = r['params']['train'] / 1e6, r['params']['deploy'] / 1e6
        g = r.get('gmacs', {})
        gf = r.get('gmacs_fvcore', {})
        flags = []
        # the authors print the deployed (fused) params/MACs where a deploy form exists
        flag = _mismatch(p_deploy, claim.get('params_m'))
        if flag:
            flags.append(f'params {flag}')
        flag = _mismatch(gf.get('deploy'), claim.get('gmacs'))
        if flag and r['settings']['img_size'] == 224:
            flags.append(f'GMACs {flag}')
        if claim.get('note'):
            flags.append('see notes')
        official = r.get('official', {}).get('params')
        lines.append(
            f"| {r['model']} | {p_train:.3f} | {p_deploy:.3f} | {_fmt(claim.get('params_m'), 1)} "
            f"| {_fmt(g.get('train'), 3)} | {_fmt(g.get('deploy'), 3)} "
            f"| {_fmt(gf.get('train'), 3)} / {_fmt(gf.get('deploy'), 3)} | {_fmt(claim.get('gmacs'))} "
            f"| {_fmt(official / 1e6 if official else None, 3)} | {'; '.join(flags)} |")
    return lines


def _floor_ms(r: dict, peak: Optional[float]) -> Optional[float]:
    """2 x deploy MACs at the machine's GEMM peak: no form of this arithmetic runs faster."""
    gmacs = (r.get('gmacs') or {}).get('deploy')
    return 2 * gmacs / peak * 1e3 if gmacs and peak else None


def _peak_share(r: dict, key: str, peak: Optional[float], scale: float = 1.0) -> Optional[float]:
    """Share of the GEMM peak that running the model in ``scale`` x the official time would take (1.0 = the peak:
    the compute floor)."""
    official = ((r.get(key) or {}).get('official') or {}).get('median_ms')
    floor = _floor_ms(r, peak)
    return floor / (scale * official) if official and floor else None


def _latency_table(group: List[dict], key: str = 'latency_ms', ratios_key: str = 'ratios',
                   peak: Optional[float] = None) -> List[str]:
    s = group[0]['settings']
    if key == 'latency_ms':
        title = f"## CPU latency: wall clock, batch {s['batch']}, {s['img_size']}², {s['threads']} threads"
        extra_head, extra_rule = ' load avg |', '---|'
    else:
        title = f"## CPU time: one thread, thread CPU time per forward, batch {s['batch']}, {s['img_size']}²"
        extra_head, extra_rule = '', ''
    if peak:
        title += f' (GEMM peak of this machine: {peak:.0f} GFLOP/s)'
    lines = [title, '',
             '| model | train ms | deploy ms | deploy/train | timm ms | deploy/timm (≤1.0) | official ms '
             f'| deploy/official (≤0.8) | compute floor ms (official → 0.8x official, as % of peak) |{extra_head}',
             '|---|---|---|---|---|---|---|---|---|' + extra_rule]
    rows = 0
    for r in group:
        lat = r.get(key)
        if not lat:
            if r.get('error'):
                lines.append(f"| {r['model']} | {r['error']} |||||||" + ('|' if extra_head else ''))
            continue
        rows += 1
        ratios = r.get(ratios_key, {})
        off_cell = _latency_cell(lat.get('official'))
        if r.get('official', {}).get('error'):
            off_cell = 'not built'
        row = (f"| {r['model']} | {_latency_cell(lat.get('train'))} | {_latency_cell(lat.get('deploy'))} "
               f"| {_fmt(ratios.get('deploy_vs_train'))} | {_latency_cell(lat.get('timm'))} "
               f"| {_check(ratios.get('deploy_vs_timm'), SPEED_TARGETS['deploy_vs_timm'])} | {off_cell} "
               f"| {_check(ratios.get('deploy_vs_official'), SPEED_TARGETS['deploy_vs_official'])} "
               f"| {_floor_cell(r, key, peak)} |")
        if extra_head:
            row += f" {_fmt(r.get('loadavg_before'), 1)}→{_fmt(r.get('loadavg_after'), 1)} |"
        lines.append(row)
    return lines if rows or key == 'latency_ms' else []


def _floor_cell(r: dict, key: str, peak: Optional[float]) -> str:
    floor = _floor_ms(r, peak)
    if floor is None:
        return '–'
    official = _peak_share(r, key, peak)
    target = _peak_share(r, key, peak, SPEED_TARGETS['deploy_vs_official'])
    if official is None:
        return f'{floor:.1f}'
    return f'{floor:.1f} ({100 * official:.0f} % → {100 * target:.0f} %)'


def _details_table(group: List[dict]) -> List[str]:
    lines = ['## Deploy form, official form, throughput', '',
             '| model | fold Δ (max abs / max |logit|) | official deploy form | throughput train / deploy (img/s, '
             'batch) | seconds |', '|---|---|---|---|---|']
    for r in group:
        if 'params' not in r:
            continue
        tp = r.get('throughput', {})
        official = r.get('official', {})
        form = official.get('form') or ('not built' if official.get('error') else '–')
        batch = tp.get('deploy', {}).get('batch')
        tp_cell = ' / '.join(_fmt(tp.get(k, {}).get('imgs_per_s'), 1) for k in ('train', 'deploy'))
        fold = f"{r.get('fold_max_abs_diff', 0):.1e} / {r.get('output_max_abs', 0):.1f}"
        lines.append(f"| {r['model']} | {fold} | {form} | {tp_cell}" + (f' (b{batch})' if batch else '')
                     + f" | {_fmt(r.get('seconds'), 0)} |")
    return lines


def _gpu_table(group: List[dict]) -> List[str]:
    lines = ['## GPU throughput (fp16 autocast, channels_last)', '',
             '| model | batch | train img/s | deploy img/s | deploy/train speed-up |', '|---|---|---|---|---|']
    for r in group:
        gpu = r.get('gpu')
        if not gpu:
            continue
        t, d = gpu.get('train', {}), gpu.get('deploy', {})
        speed = d['imgs_per_s'] / t['imgs_per_s'] if t and d else None
        lines.append(f"| {r['model']} | {t.get('batch', '–')} | {_fmt(t.get('imgs_per_s'), 0)} "
                     f"| {_fmt(d.get('imgs_per_s'), 0)} | {_fmt(speed)} |")
    return lines


def _targets(group: List[dict], peak: Optional[dict] = None) -> List[str]:
    lines = ['## Speed targets', '']
    found = False
    peak = peak or {}
    for ratios_key, clock, table in (('ratios', 'wall clock', 'latency_ms'),
                                     ('cpu_ratios', '1-thread CPU time', 'cpu_ms')):
        by_family = {}
        for r in group:
            for key, value in (r.get(ratios_key) or {}).items():
                if key in SPEED_TARGETS and value is not None:
                    by_family.setdefault((r['family'], key), []).append((value, r['model']))
        needs = {r['model']: _peak_share(r, table, peak.get(table), SPEED_TARGETS['deploy_vs_official'])
                 for r in group}
        for (family, key), values in sorted(by_family.items()):
            found = True
            worst, worst_model = max(values)
            target = SPEED_TARGETS[key]
            met = sum(v <= target for v, _ in values)
            what = 'official implementation' if key == 'deploy_vs_official' else "timm's unfolded model"
            line = (f"* {clock}: {FAMILY_LABELS.get(family, family)} deploy vs {what}: {met}/{len(values)} "
                    f"variants ≤ {target}x; worst {worst:.2f}x ({worst_model}) {'✓' if worst <= target else '✗'}")
            missed = sorted(m for v, m in values if v > target and needs.get(m))
            if key == 'deploy_vs_official' and missed:
                line += ('; for the misses 0.8x the official time means running at '
                         + ', '.join(f'{100 * needs[m]:.0f} % ({m})' for m in missed) + ' of the GEMM peak')
            lines.append(line)
    if not found:
        lines.append('No reference was timed (no timm reference model, no `--official-root`).')
    return lines


def _fvcore_check(results: List[dict]) -> List[str]:
    rows = []
    for r in results:
        ref = FVCORE_REFERENCE.get(r['model'])
        gf = r.get('gmacs_fvcore')
        if not ref or not gf or r['settings']['img_size'] != 224:
            continue
        params, ref_train, ref_deploy = ref
        d_train = 100 * (gf['train'] / ref_train - 1)
        d_deploy = 100 * (gf['deploy'] / ref_deploy - 1) if ref_deploy else None
        d_params = 100 * (r['params']['train'] / params - 1)
        rows.append(f"| {r['model']} | {params / 1e6:.3f} | {d_params:+.2f} % | {ref_train:.3f} "
                    f"| {gf['train']:.3f} ({d_train:+.1f} %) | {_fmt(ref_deploy, 3)} "
                    f"| {gf['deploy']:.3f}" + (f' ({d_deploy:+.1f} %)' if d_deploy is not None else '') + ' |')
    if not rows:
        return []
    return ['## FLOP counter vs fvcore on the official code (research notes)', '',
            '| model | official params (M) | ours vs official params | fvcore GMACs official train | ours (fvcore '
            'conv.) train | fvcore official deploy | ours deploy |', '|---|---|---|---|---|---|---|'] + rows


# -------------------------------------------------------------------------------------------------------- chart
def plot_latency_vs_top1(data: dict, path: str) -> Optional[str]:
    """Claimed top-1 vs measured deploy latency, one colour per family; None when nothing has a claim."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    points = {}
    for r in data['results'].values():
        # 1-thread CPU time when measured: on a shared machine wall clock moves with other processes' load
        claim, lat = r.get('claim') or {}, (r.get('cpu_ms') or r.get('latency_ms') or {}).get('deploy')
        if claim.get('top1') is None or not lat:
            continue
        points.setdefault(r['family'], []).append((lat['median_ms'], claim['top1'], claim['label']))
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=130)
    for family in FAMILIES:
        if family not in points:
            continue
        pts = sorted(points[family])
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        ax.plot(xs, ys, '-o', color=FAMILY_COLOURS[family], label=FAMILY_LABELS[family], markersize=5)
        for lat, top1, label in pts:
            ax.annotate(label.split('-', 1)[-1], (lat, top1), textcoords='offset points', xytext=(4, -9),
                        fontsize=7, color=FAMILY_COLOURS[family])
    settings = next(iter(data['results'].values()))['settings']
    ax.set_xscale('log')
    clock = '1 thread, CPU time' if settings.get('cpu_time') else f"{settings['threads']} threads, wall clock"
    ax.set_xlabel(f"measured CPU latency, deploy form (ms, batch {settings['batch']}, {settings['img_size']}², "
                  f"{clock}, log scale)")
    ax.set_ylabel('ImageNet-1k top-1 claimed by the authors (%)')
    ax.set_title('Claimed accuracy vs measured latency')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(loc='lower right')
    fig.tight_layout()
    with atomic_output(path, '.png') as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------- deploy runtimes
CPU_RUNTIMES = ('torch', 'onnxruntime', 'openvino')
GPU_RUNTIMES = ('onnxruntime-cuda', 'tensorrt')  # ORT's CUDA / TensorRT execution providers (CUDA only)
RUNTIME_LABELS = {'torch': 'PyTorch eager', 'onnxruntime': 'ONNX Runtime', 'openvino': 'OpenVINO',
                  'onnxruntime-cuda': 'ORT CUDA', 'tensorrt': 'ORT TensorRT'}
RUNTIME_SHORT = {'torch': 'torch', 'onnxruntime': 'ORT', 'openvino': 'OV', 'onnxruntime-cuda': 'ORT-CUDA',
                 'tensorrt': 'TRT'}
FORMS = ('ours', 'authors')  # our deploy form, the authors' model in its best deploy form
_ORT_PROVIDERS = {'onnxruntime-cuda': ('CUDAExecutionProvider', 'CPUExecutionProvider'),
                  'tensorrt': ('TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider')}


def parse_runtimes(text: str) -> List[str]:
    """``torch,onnxruntime,openvino`` -> a checked list; one-line SystemExit for an unknown, missing or (GPU)
    unusable runtime."""
    runtimes = [r.strip() for r in text.split(',') if r.strip()]
    unknown = [r for r in runtimes if r not in CPU_RUNTIMES + GPU_RUNTIMES]
    if unknown or not runtimes:
        raise SystemExit(f"--runtime: unknown {', '.join(unknown) or '(empty)'} "
                         f"(choose from {', '.join(CPU_RUNTIMES + GPU_RUNTIMES)})")
    for runtime in runtimes:
        module = 'onnxruntime' if runtime in GPU_RUNTIMES else runtime
        try:
            __import__(module)
        except ImportError:
            raise SystemExit(f'--runtime {runtime}: {module} is not installed (pip install {module})') from None
        if runtime in GPU_RUNTIMES:  # untested here (no CUDA on the machine these tools were written on)
            import onnxruntime as ort
            provider = _ORT_PROVIDERS[runtime][0]
            if not torch.cuda.is_available() or provider not in ort.get_available_providers():
                raise SystemExit(f'--runtime {runtime}: needs CUDA and onnxruntime-gpu with {provider} '
                                 f'(available: {", ".join(ort.get_available_providers())})')
    return list(dict.fromkeys(runtimes))


def runtime_versions(runtimes: List[str]) -> Dict[str, str]:
    versions = {'torch': torch.__version__}
    if any(r != 'torch' for r in runtimes):
        import onnx
        versions['onnx'] = onnx.__version__
    if any(r.startswith('onnxruntime') or r == 'tensorrt' for r in runtimes):
        import onnxruntime
        versions['onnxruntime'] = onnxruntime.__version__
    if 'openvino' in runtimes:
        import openvino
        versions['openvino'] = openvino.__version__.split('-')[0]
    return versions


def _runtime_runner(runtime: str, model: nn.Module, onnx_path: Optional[str], x: torch.Tensor,
                    threads: int) -> Callable[[], object]:
    """A no-argument callable running one forward of ``model`` (or its ONNX file) in ``runtime`` on ``x``."""
    from tools import export
    if runtime == 'torch':
        return lambda: model(x)
    if onnx_path is None:
        raise RuntimeError('no ONNX file')
    feed = {export.INPUT_NAME: x.numpy()}
    if runtime == 'openvino':
        # compiled for the benchmark's static input shape, as a latency deployment does
        request = export.openvino_compile(onnx_path, threads, shape=tuple(x.shape)).create_infer_request()
        return lambda: request.infer(feed)
    session = export.ort_session(onnx_path, threads, _ORT_PROVIDERS.get(runtime, ('CPUExecutionProvider',)))
    return lambda: session.run(None, feed)


def _first_output(runtime: str, out) -> np.ndarray:
    if runtime == 'torch':
        return out.numpy()
    if runtime == 'openvino':
        return next(iter(out.values()))
    return out[0]


def _fastest(stats: Dict[str, Dict[str, dict]], form: str) -> Optional[Tuple[str, float]]:
    """(runtime, median ms) of the fastest runtime for ``form``."""
    best = [(s[form]['median_ms'], rt) for rt, s in stats.items() if form in s]
    return (min(best)[1], min(best)[0]) if best else None


def runtime_ratios(stats: Dict[str, Dict[str, dict]]) -> Dict[str, object]:
    """ours / authors' per runtime, and the fastest ours vs the fastest authors' over all runtimes timed."""
    out = {rt: s['ours']['median_ms'] / s['authors']['median_ms'] for rt, s in stats.items()
           if 'ours' in s and 'authors' in s}
    ours, authors = _fastest(stats, 'ours'), _fastest(stats, 'authors')
    if ours and authors:
        out['fastest'] = ours[1] / authors[1]
        out['fastest_ours'], out['fastest_authors'] = ours[0], authors[0]
    return out


def benchmark_runtimes_model(name: str, settings: dict, official=None, workdir: Optional[str] = None) -> dict:
    """Our deploy form and the authors' model, exported with the same settings, timed interleaved in each runtime
    (wall clock at ``threads``, then process CPU time at one thread); never raises for a model-level problem."""
    from tools import export
    record = {'model': name, 'family': family_of(name), 'settings': settings, 'errors': [],
              'time': datetime.datetime.now().isoformat(timespec='seconds'), 'loadavg_before': _loadavg()}
    started = time.perf_counter()
    size, runtimes = settings['img_size'], settings['runtimes']
    try:
        torch.manual_seed(0)
        train = timm.create_model(name, pretrained=False).eval()
        randomize_bn_stats(train)
        forms = {'ours': reparameterize_model(train).eval()}
    except Exception as err:
        record['error'] = f'build failed: {_one_line(err)}'
        return record
    x = torch.randn(settings['batch'], 3, size, size, generator=torch.Generator().manual_seed(1))
    record['params'] = {'ours': count_params(forms['ours'])}
    try:
        record['gmacs'] = {'deploy': count_macs(forms['ours'], x[:1])['gmacs']}
    except Exception as err:
        record['errors'].append(f'MAC count failed: {_one_line(err)}')
    if official is not None and record['family'] is not None:
        try:
            forms['authors'], form = official.build(name, record['family'])
            record['official'] = {'form': form, 'params': count_params(forms['authors'])}
        except Exception as err:
            record['official'] = {'error': _one_line(err)}
    with torch.inference_mode():
        expected = {k: m(x).numpy() for k, m in forms.items()}

    onnx_paths: Dict[str, Optional[str]] = {k: None for k in forms}
    record['export'] = {}
    if any(rt != 'torch' for rt in runtimes):
        for k, model in forms.items():
            path = os.path.join(workdir, f'{name}_{k}.onnx')
            try:
                export.export_onnx(model, path, size, settings['opset'])
                import onnx
                record['export'][k] = {'nodes': len(onnx.load(path, load_external_data=False).graph.node)}
                onnx_paths[k] = path
            except Exception as err:
                record['export'][k] = {'error': _one_line(err)}

    record['max_abs_diff'] = {}
    passes = [('latency_ms', settings['threads'], time.perf_counter)]
    if settings['cpu_time']:
        # process CPU time (all threads: the runtimes' own pools included) with one thread: what other processes'
        # load cannot inflate; no runtime spin-waits (ORT spinning is off), so idle waiting costs nothing
        passes.append(('cpu_ms', 1, time.process_time))
    threads_before = torch.get_num_threads()
    try:
        for key, threads, clock in passes:
            record[key] = {}
            torch.set_num_threads(threads)
            for runtime in runtimes:
                if key == 'cpu_ms' and runtime in GPU_RUNTIMES:
                    continue  # CPU time of a GPU run says nothing
                runners = {}
                for k, model in forms.items():
                    try:
                        runners[k] = _runtime_runner(runtime, model, onnx_paths[k], x, threads)
                        if runtime not in record['max_abs_diff'] or k not in record['max_abs_diff'][runtime]:
                            with torch.inference_mode():
                                got = _first_output(runtime, runners[k]())
                            record['max_abs_diff'].setdefault(runtime, {})[k] = float(
                                np.abs(got - expected[k]).max())
                    except Exception as err:
                        runners.pop(k, None)
                        message = f'{RUNTIME_LABELS[runtime]} {k}: {_one_line(err)}'
                        if message not in record['errors']:
                            record['errors'].append(message)
                if not runners:
                    continue
                with torch.inference_mode():
                    samples = time_interleaved(runners, settings['warmup'], settings['repeats'], clock=clock)
                record[key][runtime] = {k: summarize(v) for k, v in samples.items()}
                del runners
            record[key.replace('_ms', '_ratios')] = runtime_ratios(record[key])
    except Exception as err:
        record['error'] = f'timing failed: {_one_line(err)}'
    finally:
        torch.set_num_threads(threads_before)
    record['loadavg_after'] = _loadavg()
    record['seconds'] = round(time.perf_counter() - started, 1)
    return record


def _runtime_cell(stats: Optional[dict]) -> str:
    return '–' if not stats else f"{stats['median_ms']:.1f}"


def _runtime_table(group: List[dict], key: str, peak: Optional[float]) -> List[str]:
    s = group[0]['settings']
    runtimes = s['runtimes']
    if key == 'latency_ms':
        title = f"## Wall clock, {s['threads']} threads, batch {s['batch']}, {s['img_size']}² (median ms)"
    else:
        title = f"## Process CPU time, 1 thread, batch {s['batch']}, {s['img_size']}² (median ms)"
    if peak:
        title += f'; GEMM peak {peak:.0f} GFLOP/s'
    head = '| model |'
    rule = '|---|'
    for rt in runtimes:
        label = RUNTIME_SHORT[rt]
        head += f' {label} ours | {label} authors\' | {label} ours/authors\' (≤1.0) |'
        rule += '---|---|---|'
    head += (" fastest ours | fastest authors' | fastest ours / fastest authors' (≤0.8) "
             "| compute floor ms (fastest authors' → 0.8x it, as % of peak) |")
    rule += '---|---|---|---|'
    if key == 'latency_ms':
        head += ' load avg |'
        rule += '---|'
    lines = [title, '', head, rule]
    rows = 0
    for r in group:
        stats = r.get(key)
        if not stats:
            if r.get('error'):
                lines.append(f"| {r['model']} | {r['error']} |")
            continue
        rows += 1
        ratios = r.get(key.replace('_ms', '_ratios')) or {}
        row = f"| {r['model']} |"
        for rt in runtimes:
            st = stats.get(rt, {})
            authors = _runtime_cell(st.get('authors'))
            if 'authors' not in st and ((r.get('export') or {}).get('authors') or {}).get('error') and rt != 'torch':
                authors = 'no export'
            row += f" {_runtime_cell(st.get('ours'))} | {authors} | {_check(ratios.get(rt), 1.0)} |"
        ours, authors = _fastest(stats, 'ours'), _fastest(stats, 'authors')
        row += f" {ours[1]:.1f} ({RUNTIME_SHORT[ours[0]]}) |" if ours else ' – |'
        row += f" {authors[1]:.1f} ({RUNTIME_SHORT[authors[0]]}) |" if authors else ' – |'
        row += f" {_check(ratios.get('fastest'), SPEED_TARGETS['deploy_vs_official'])} |"
        floor = _floor_ms(r, peak)
        if floor and authors:
            row += (f' {floor:.1f} ({100 * floor / authors[1]:.0f} % → '
                    f"{100 * floor / (SPEED_TARGETS['deploy_vs_official'] * authors[1]):.0f} %) |")
        else:
            row += f" {_fmt(floor, 1)} |"
        if key == 'latency_ms':
            row += f" {_fmt(r.get('loadavg_before'), 1)}→{_fmt(r.get('loadavg_after'), 1)} |"
        lines.append(row)
    return lines if rows else []


def _runtime_targets(group: List[dict]) -> List[str]:
    lines = ['## Targets', '']
    runtimes = group[0]['settings']['runtimes']
    for key, clock in (('cpu_ratios', '1-thread CPU time'), ('latency_ratios', 'wall clock')):
        for rt in runtimes + ['fastest']:
            values = sorted(((r.get(key) or {}).get(rt), r['model']) for r in group
                            if (r.get(key) or {}).get(rt) is not None)
            if not values:
                continue
            target = SPEED_TARGETS['deploy_vs_official'] if rt == 'fastest' else 1.0
            what = ("fastest ours vs fastest authors'" if rt == 'fastest'
                    else f"{RUNTIME_LABELS[rt]} ours vs authors'")
            worst, worst_model = values[-1]
            met = sum(v <= target for v, _ in values)
            lines.append(f'* {clock}, {what}: {met}/{len(values)} variants ≤ {target}x; worst {worst:.2f}x '
                         f"({worst_model}); best {values[0][0]:.2f}x ({values[0][1]})")
    return lines if len(lines) > 2 else []


def render_runtimes_markdown(data: dict, command: str = '') -> str:
    meta = data.get('meta', {})
    lines, results, groups = _report_start(data, '# Deployment runtimes: our deploy forms vs the authors\' models', command,
                                  versions=False)
    peak = meta.get('gemm_peak_gflops') or {}
    for group in groups.values():
        s = group[0]['settings']
        versions = ', '.join(f'{k} {v}' for k, v in sorted(s.get('versions', {}).items()))
        lines += [f"Settings: input {s['img_size']}², batch {s['batch']}, {s['warmup']} warm-up + {s['repeats']} "
                  f"timed runs per form and runtime (ours and the authors' interleaved); ONNX opset {s['opset']} "
                  f"(same export for both); {versions}.", '']
        lines += _runtime_table(group, 'cpu_ms', peak.get('cpu_ms')) + ['']
        lines += _runtime_table(group, 'latency_ms', peak.get('latency_ms')) + ['']
        lines += _runtime_targets(group) + ['']
    lines += ['## Notes', '',
              "* ours = `timm.utils.reparameterize_model` of our model; authors' = their code from "
              '`--official-root` in its best deploy form (tools/official_models.py). Both are exported by '
              '`tools/export.export_onnx` (TorchScript exporter, opset as above, dynamic batch axis) and run by the '
              'same session helpers as `tools/export.py` checks: ONNX Runtime CPU provider, default graph '
              'optimisations, `intra_op_num_threads` = threads, `session.intra_op.allow_spinning=0` and '
              '`session.inter_op.allow_spinning=0`; OpenVINO CPU, `PERFORMANCE_HINT=LATENCY`, one stream, '
              '`INFERENCE_NUM_THREADS` = threads, f32, compiled for the static input shape.',
              '* Process CPU time at one thread is the robust column on a shared machine (other processes cannot '
              'inflate it); wall clock needs the machine to itself (load average logged per model). '
              'Within a runtime the two models are timed interleaved (round-robin, rotating start); '
              'runtimes run one after the other. Ratios are ratios of medians.',
              "* fastest = the runtime with the lowest median for that model among those timed; "
              "fastest ours / fastest authors' compares the best deployment each code base offers.",
              '* Compute floor: 2 x deploy MACs at this machine\'s measured float32 GEMM rate; the share of peak '
              "that the fastest authors' time, and 0.8x of it, corresponds to (near or over 100 %: out of reach).",
              '* GPU runtimes (`onnxruntime-cuda`, `tensorrt`) need CUDA and onnxruntime-gpu; that path is '
              'written but untested on the machine these tables come from.']
    errors = [f"* {r['model']}: {r['error']}" for r in results if r.get('error')]
    errors += [f"* {r['model']}: {e}" for r in results for e in r.get('errors', [])]
    errors += [f"* {r['model']}: authors' model not built: {r['official']['error']}" for r in results
               if (r.get('official') or {}).get('error')]
    errors += [f"* {r['model']}: {k} ONNX export failed: {v['error']}" for r in results
               for k, v in (r.get('export') or {}).items() if v.get('error')]
    if errors:
        lines += ['', '## Problems', ''] + errors
    return '\n'.join(lines) + '\n'


def plot_fastest_path(data: dict, path: str) -> Optional[str]:
    """Per variant, the fastest runtime's time for ours and for the authors' model (horizontal bars)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    order = {f: i for i, f in enumerate(FAMILIES)}
    claim_keys = list(CLAIMS)
    rows = []
    for r in sorted(data['results'].values(), key=lambda r: (
            order.get(r.get('family'), 99), claim_keys.index(r['model']) if r['model'] in claim_keys else 99,
            r['model'])):
        stats = r.get('cpu_ms') or r.get('latency_ms')
        if not stats:
            continue
        ours, authors = _fastest(stats, 'ours'), _fastest(stats, 'authors')
        if ours:
            rows.append((r['model'], r.get('family'), ours, authors))
    if not rows:
        return None
    clock = 'process CPU time, 1 thread' if rows and data['results'][rows[0][0]].get('cpu_ms') else 'wall clock'
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(rows) + 1.5), dpi=120)
    ys = list(range(len(rows)))[::-1]
    for y, (model, family, ours, authors) in zip(ys, rows):
        ax.barh(y + 0.2, ours[1], height=0.38, color=FAMILY_COLOURS.get(family, '#444444'))
        ax.text(ours[1], y + 0.2, f' {ours[1]:.1f} {RUNTIME_SHORT[ours[0]]}', va='center', fontsize=7)
        if authors:
            ax.barh(y - 0.2, authors[1], height=0.38, color='#bbbbbb')
            ax.text(authors[1], y - 0.2, f' {authors[1]:.1f} {RUNTIME_SHORT[authors[0]]} '
                    f'({ours[1] / authors[1]:.2f}x)', va='center', fontsize=7)
    ax.set_yticks(ys)
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.set_xscale('log')
    ax.set_xlabel(f"ms per image, fastest runtime ({clock}); coloured = ours, grey = authors' (ratio ours/authors')")
    ax.set_title('Fastest deployment path per variant: ours vs the authors\' model')
    ax.grid(True, axis='x', which='both', alpha=0.3)
    fig.tight_layout()
    with atomic_output(path, '.png') as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def run_runtimes(args, names: List[str], official, command: str) -> dict:
    """The ``--runtime`` mode: logs/benchmark_<tag>.json/.md and fastest_path[_<tag>].png (tag default runtimes)."""
    import tempfile
    runtimes = parse_runtimes(args.runtime)
    tag = args.tag or 'runtimes'
    settings = {'img_size': args.img_size, 'batch': args.batch, 'threads': args.threads, 'warmup': args.warmup,
                'repeats': args.repeats, 'runtimes': runtimes, 'opset': args.opset,
                'official': official is not None, 'cpu_time': not args.no_cpu_time,
                'versions': runtime_versions(runtimes)}
    json_path = os.path.join(args.out_dir, f'benchmark_{tag}.json')
    data = load_results(json_path)
    if not args.report_only:
        peaks = _gemm_peaks(args.threads)
        previous = (data.get('meta') or {}).get('gemm_peak_gflops') or {}
        if (data.get('meta') or {}).get('machine') == machine_info():
            peaks = {k: max(v, previous.get(k) or 0.0) for k, v in peaks.items()}
        data['meta'] = {'machine': machine_info(), 'updated': datetime.datetime.now().isoformat(timespec='seconds'),
                        'command': command, 'gemm_peak_gflops': peaks}
    measured, skipped = [], []
    from tqdm import tqdm
    bar = tqdm(names, desc='runtimes', unit='model', file=sys.stderr, disable=args.quiet, dynamic_ncols=True)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix='bench-onnx-') as workdir:
        warnings.simplefilter('ignore')
        for name in bar:
            if args.report_only:
                break
            bar.set_postfix_str(name)
            old = data['results'].get(name)
            if (not args.force and old and not old.get('error')
                    and settings_key(old.get('settings', {})) == settings_key(settings)):
                skipped.append(name)
                continue
            data['results'][name] = benchmark_runtimes_model(name, settings, official, workdir)
            for f in os.listdir(workdir):  # the exports are not kept (MPViT-B's is 300 MB)
                os.unlink(os.path.join(workdir, f))
            measured.append(name)
            atomic_write_text(json_path, json.dumps(data, indent=1, sort_keys=True))  # resumable after each model
            if not args.quiet:
                r = data['results'][name]
                ratios = r.get('cpu_ratios') or r.get('latency_ratios') or {}
                bar.write(f"{name}: " + ', '.join(f'{k} {v:.2f}' for k, v in ratios.items()
                                                   if isinstance(v, float)) + f" ({r.get('seconds')} s)")
    if not args.report_only:
        atomic_write_text(json_path, json.dumps(data, indent=1, sort_keys=True))
    md_path = os.path.join(args.out_dir, f'benchmark_{tag}.md')
    atomic_write_text(md_path, render_runtimes_markdown(data, data['meta'].get('command', command)))
    chart = None
    if not args.no_plot:
        chart_name = 'fastest_path.png' if tag == 'runtimes' else f'fastest_path_{tag}.png'
        chart = plot_fastest_path(data, os.path.join(args.out_dir, chart_name))
    print(f'[benchmark] measured {len(measured)}, skipped {len(skipped)} (already measured; --force to redo); '
          f'wrote {json_path}, {md_path}' + (f', {chart}' if chart else ''), file=sys.stderr)
    return {'json': json_path, 'markdown': md_path, 'chart': chart, 'measured': measured, 'skipped': skipped,
            'data': data}


# --------------------------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', help='names or globs (default: every model of the five families)')
    parser.add_argument('--families', nargs='+', default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=1, help='CPU latency batch')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5, help='timed runs per form (latency)')
    parser.add_argument('--throughput-batch', type=int, default=4, help='0 disables the throughput run')
    parser.add_argument('--throughput-repeats', type=int, default=1)
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto',
                        help='cuda adds a GPU throughput run (fp16, channels_last); auto = cuda when available')
    parser.add_argument('--gpu-batch', type=int, default=256)
    parser.add_argument('--official-root', default=os.environ.get('OFFICIAL_ROOT') or None,
                        help='folder with clones RapidNet-Official/ RepNeXt/ MPViT/ FasterNet/ rexnet/ '
                             '(default: $OFFICIAL_ROOT)')
    parser.add_argument('--no-timm-ref', action='store_true', help="skip timm's own FasterNet/ReXNet")
    parser.add_argument('--no-cpu-time', action='store_true',
                        help='skip the 1-thread CPU-time pass (the load-independent latency measure)')
    parser.add_argument('--out-dir', default=os.path.join(REPO_ROOT, 'logs'))
    parser.add_argument('--tag', help='file name tag: benchmark_<tag>.json/.md (default cpu, or cuda)')
    parser.add_argument('--force', action='store_true', help='re-measure models already in the JSON')
    parser.add_argument('--no-plot', action='store_true')
    parser.add_argument('--default-allocator', action='store_true',
                        help="leave glibc's malloc trimming as it is (by default the run keeps freed memory, see "
                             'steady_allocator)')
    parser.add_argument('--runtime', default=None,
                        help='deployment runtimes, comma-separated, from torch,onnxruntime,openvino (CPU) and '
                             'onnxruntime-cuda,tensorrt (CUDA only): our deploy form and the authors\' model '
                             '(--official-root) exported alike and timed interleaved in each; writes '
                             'benchmark_runtimes.json/.md and fastest_path.png instead of the default tables')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset of the --runtime exports')
    parser.add_argument('--list', action='store_true', help='print the selected models and exit')
    parser.add_argument('--report-only', action='store_true',
                        help='only regenerate the markdown and chart from the JSON (no measuring)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    errors = import_families()
    for family, err in errors.items():
        if family in args.families:
            print(f'[benchmark] family {family} not available: {err}', file=sys.stderr)
    names = resolve_models(args.models, args.families)
    if args.list:
        print('\n'.join(names))
        return {'models': names}
    device = 'cuda' if args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available()) else 'cpu'
    if device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available')
    tag = args.tag or device
    allocator = None if args.default_allocator else steady_allocator()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    official = None
    if args.official_root:
        from tools.official_models import OfficialModels
        if not os.path.isdir(args.official_root):
            raise SystemExit(f'--official-root {args.official_root}: not a directory')
        official = OfficialModels(args.official_root)
    settings = {'img_size': args.img_size, 'batch': args.batch, 'threads': args.threads, 'warmup': args.warmup,
                'repeats': args.repeats, 'throughput_batch': args.throughput_batch,
                'throughput_repeats': args.throughput_repeats, 'device': device,
                'gpu_batch': args.gpu_batch if device == 'cuda' else 0, 'official': official is not None,
                'timm_ref': not args.no_timm_ref, 'cpu_time': not args.no_cpu_time, 'torch': torch.__version__}
    command = shlex.join(['python', 'tools/benchmark.py', *(sys.argv[1:] if argv is None else argv)])
    if args.runtime is not None:
        return run_runtimes(args, names, official, command)
    json_path = os.path.join(args.out_dir, f'benchmark_{tag}.json')
    data = load_results(json_path)
    if not args.report_only:
        peaks = _gemm_peaks(args.threads)
        previous = (data.get('meta') or {}).get('gemm_peak_gflops') or {}
        if (data.get('meta') or {}).get('machine') == machine_info():  # the peak is the machine's: keep the best
            peaks = {k: max(v, previous.get(k) or 0.0) for k, v in peaks.items()}
        data['meta'] = {'machine': machine_info(), 'updated': datetime.datetime.now().isoformat(timespec='seconds'),
                        'missing_families': errors, 'command': command, 'malloc': allocator,
                        'gemm_peak_gflops': peaks}
    measured, skipped = [], []
    from tqdm import tqdm
    bar = tqdm(names, desc='benchmark', unit='model', file=sys.stderr, disable=args.quiet, dynamic_ncols=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for name in bar:
            if args.report_only:
                break
            bar.set_postfix_str(name)
            old = data['results'].get(name)
            if (not args.force and old and not old.get('error')
                    and settings_key(old.get('settings', {})) == settings_key(settings)):
                skipped.append(name)
                continue
            data['results'][name] = benchmark_model(name, settings, official)
            measured.append(name)
            atomic_write_text(json_path, json.dumps(data, indent=1, sort_keys=True))  # resumable after each model
    if not args.report_only:
        atomic_write_text(json_path, json.dumps(data, indent=1, sort_keys=True))
    torch.set_flush_denormal(False)
    md_path = os.path.join(args.out_dir, f'benchmark_{tag}.md')
    atomic_write_text(md_path, render_markdown(data, data['meta'].get('command', command)))
    chart = None
    if not args.no_plot:
        chart_name = 'latency_vs_top1.png' if tag == 'cpu' else f'latency_vs_top1_{tag}.png'
        chart = plot_latency_vs_top1(data, os.path.join(args.out_dir, chart_name))
    print(f'[benchmark] measured {len(measured)}, skipped {len(skipped)} (already measured; --force to redo); '
          f'wrote {json_path}, {md_path}' + (f', {chart}' if chart else ''), file=sys.stderr)
    return {'json': json_path, 'markdown': md_path, 'chart': chart, 'measured': measured, 'skipped': skipped,
            'data': data}


if __name__ == '__main__':
    main()
