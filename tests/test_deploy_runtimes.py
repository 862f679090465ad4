"""Deployment runtimes: exports checked in ONNX Runtime and OpenVINO, the export graph runtimes optimise, Core ML
conversion, and ``tools/benchmark.py --runtime`` (tables, ratios, chart, resume). Tiny inputs; timing is never
asserted (the speed targets are the benchmark's job, see logs/benchmark_runtimes.md)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import timm
import torch
import torch.nn as nn

import models.mpvit as mpvit_module
from tools import benchmark, export
from tools.zoo import import_families

import_families()
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGISTERED = set(timm.list_models())
RUNTIMES = [r for r in export.RUNTIMES if export.runtime_available(r)]


def _require(*names):
    for name in names:
        if name not in REGISTERED:
            pytest.skip(f'{name} is not registered')


def test_export_checked_in_every_installed_runtime(tmp_path):
    """(tests/test_tools.py exports the smallest variant of every family the same way.)"""
    _require('repnext_m0')
    result = export.export_model('repnext_m0', str(tmp_path), img_size=32, atol=1e-4)  # raises past 1e-4 anywhere
    assert set(result['checks']) == set(RUNTIMES) and 'onnxruntime' in result['checks']
    assert result['max_abs_diff'] == max(result['checks'].values()) <= 1e-4


def test_check_fails_when_a_runtime_disagrees(tmp_path):
    """The check compares against the model it is given: a file from other weights must fail in every runtime."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(5)).eval()
    model(torch.randn(1, 3, 16, 16))
    path = export.export_onnx(model, str(tmp_path / 'm.onnx'), img_size=16)
    for runtime in RUNTIMES:
        assert export.check_onnx(model, path, 16, runtimes=[runtime])[runtime] < 1e-5
        other = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 14 * 14, 5)).eval()
        with pytest.raises(export.ExportError, match=f'{runtime} output differs from PyTorch'):
            export.check_onnx(other, path, 16, runtimes=[runtime])


def test_export_cli_names_a_missing_runtime(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export, 'runtime_available', lambda r: r != 'openvino')
    assert export.main(['rapidnet_ti', '--out-dir', str(tmp_path), '--runtimes', 'onnxruntime,openvino']) == 1
    err = capsys.readouterr().err.strip()
    assert err == 'export: openvino not installed (pip install openvino)'
    with pytest.raises(SystemExit):
        export.main(['rapidnet_ti', '--runtimes', 'tflite'])


def test_ort_sessions_do_not_spin():
    model = nn.Sequential(nn.Conv2d(3, 4, 1)).eval()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = export.export_onnx(model, f'{tmp}/m.onnx', img_size=8)
        options = export.ort_session(path, threads=2).get_session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry('session.intra_op.allow_spinning') == '0'
    assert options.get_session_config_entry('session.inter_op.allow_spinning') == '0'


def test_mpvit_export_graph_is_the_runtime_friendly_one(tmp_path):
    """MPViT's deploy graph: every projection a 2-D GEMM on a constant weight (what ORT prepacks and OpenVINO makes
    a FullyConnected), no MatMul on a batched constant, and the factor-attention softmax on the last axis. The
    eager deploy form (a batched matmul over the paths) must not leak into the export."""
    import onnx
    from onnx import numpy_helper
    _require('mpvit_tiny')
    model = export.build_for_export('mpvit_tiny', randomize_bn=True)
    path = export.export_onnx(model, str(tmp_path / 'm.onnx'), img_size=32)
    graph = onnx.load(path).graph
    constants = {init.name: numpy_helper.to_array(init).ndim for init in graph.initializer}
    constants.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t).ndim for n in graph.node
                      if n.op_type == 'Constant' and n.attribute and n.attribute[0].type == onnx.AttributeProto.TENSOR})
    gemm_weights = [constants.get(n.input[1]) for n in graph.node if n.op_type in ('Gemm', 'MatMul')]
    cfg = mpvit_module.MODEL_CFGS['mpvit_tiny']
    projections = 4 * sum(layers * paths for layers, paths in zip(cfg['num_layers'], (2, 3, 3, 3)))  # paths
    assert gemm_weights.count(2) >= projections, gemm_weights  # qkv, proj, fc1, fc2 of every path and block
    assert all(d in (None, 2) for d in gemm_weights)  # no batched (P, K, N) constant operand
    softmax_axes = [next((a.i for a in n.attribute if a.name == 'axis'), -1) for n in graph.node
                    if n.op_type == 'Softmax']
    assert softmax_axes and all(a in (-1, 3) for a in softmax_axes), softmax_axes
    # (its numbers in both runtimes: tests/test_tools.py::test_onnx_round_trip_in_onnxruntime)


def test_coreml_conversion(tmp_path):
    pytest.importorskip('coremltools')
    # in a fresh interpreter, as tools/export.py runs it: coremltools' converter crashed this test process (SIGSEGV)
    # once the forking / multi-threaded classification tests had run in it
    code = ('import sys, torch.nn as nn; from tools import export; '
            'model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()); '
            'print(export.export_coreml(model.eval(), sys.argv[1], img_size=16))')
    done = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'm.mlpackage')], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.strip().splitlines()[-1]
    assert (tmp_path / 'm.mlpackage' / 'Manifest.json').is_file() and out.endswith('m.mlpackage')
    assert [p.name for p in tmp_path.iterdir()] == ['m.mlpackage']  # no staging folder left behind


# ------------------------------------------------------------------------------------------- benchmark --runtime
_FAKE_REXNET = '''
    import torch.nn as nn


    class ReXNetV1(nn.Module):
        def __init__(self, width_mult=1.0):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, stride=2)
            self.fc = nn.Linear(8, 1000)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))
'''


@pytest.fixture()
def official_root(tmp_path):
    (tmp_path / 'rexnet').mkdir()
    (tmp_path / 'rexnet' / 'rexnetv1.py').write_text(textwrap.dedent(_FAKE_REXNET))
    return tmp_path


def test_runtime_benchmark_tables_ratios_chart_and_resume(tmp_path, official_root, monkeypatch):
    _require('rexnet_100', 'rapidnet_ti')
    monkeypatch.setattr(benchmark, 'gemm_peak_gflops', lambda threads, **_: 50.0 * threads)  # seconds saved
    out = tmp_path / 'logs'
    runtimes = ['torch'] + RUNTIMES
    args = ['--runtime', ','.join(runtimes), '--models', 'rexnet_100', 'rapidnet_ti', '--img-size', '32',
            '--warmup', '1', '--repeats', '2', '--threads', '1', '--out-dir', str(out),
            '--official-root', str(official_root), '--quiet']
    first = benchmark.main(args)
    assert first['measured'] == ['rexnet_100', 'rapidnet_ti']
    with open(out / 'benchmark_runtimes.json') as f:
        data = json.load(f)
    rx = data['results']['rexnet_100']
    assert 'error' not in rx and not rx['errors'], rx.get('errors')
    for key in ('latency_ms', 'cpu_ms'):
        assert set(rx[key]) == set(runtimes)
        for runtime in runtimes:
            assert set(rx[key][runtime]) == {'ours', 'authors'}
            assert all(s['n'] == 2 and s['median_ms'] > 0 for s in rx[key][runtime].values())
        ratios = rx[key.replace('_ms', '_ratios')]
        for runtime in runtimes:
            assert ratios[runtime] == pytest.approx(
                rx[key][runtime]['ours']['median_ms'] / rx[key][runtime]['authors']['median_ms'])
        best = {form: min(rx[key][rt][form]['median_ms'] for rt in runtimes) for form in ('ours', 'authors')}
        assert ratios['fastest'] == pytest.approx(best['ours'] / best['authors'])
        assert rx[key][ratios['fastest_ours']]['ours']['median_ms'] == best['ours']
    for runtime in RUNTIMES:  # each runtime ran the right file: its output matched that model's PyTorch output
        assert rx['max_abs_diff'][runtime]['ours'] < 1e-4 and rx['max_abs_diff'][runtime]['authors'] < 1e-4
    assert rx['export']['ours']['nodes'] > rx['export']['authors']['nodes']
    assert 'no RapidNet-Official/ under' in data['results']['rapidnet_ti']['official']['error']
    assert set(data['results']['rapidnet_ti']['cpu_ms']['torch']) == {'ours'}
    md = (out / 'benchmark_runtimes.md').read_text()
    assert "| ORT ours | ORT authors' | ORT ours/authors' (≤1.0) |" in md
    assert f"| rexnet_100 | {rx['cpu_ms']['torch']['ours']['median_ms']:.1f} |" in md
    assert "fastest ours vs fastest authors'" in md and "authors' model not built" in md
    peak = data['meta']['gemm_peak_gflops']['cpu_ms']
    floor = 2 * rx['gmacs']['deploy'] / peak * 1e3
    assert f'| {floor:.1f} ({100 * floor / best["authors"]:.0f} % → ' in md  # best = the cpu_ms pass (last)
    with open(out / 'fastest_path.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'

    second = benchmark.main(args)  # same settings: resumed, nothing re-measured
    assert second['skipped'] == ['rexnet_100', 'rapidnet_ti'] and not second['measured']
    assert benchmark.main(args[:2] + ['--models', 'rexnet_100'] + args[5:] + ['--force'])['measured'] == ['rexnet_100']


def test_runtime_names_are_checked():
    with pytest.raises(SystemExit, match='unknown tflite'):
        benchmark.parse_runtimes('torch,tflite')
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match='needs CUDA'):
            benchmark.parse_runtimes('tensorrt')
    assert benchmark.parse_runtimes('torch, onnxruntime,torch') == ['torch', 'onnxruntime']


def test_runtime_ratios_pick_the_fastest_path():
    stats = {'torch': {'ours': {'median_ms': 4.0}, 'authors': {'median_ms': 8.0}},
             'onnxruntime': {'ours': {'median_ms': 3.0}, 'authors': {'median_ms': 2.0}},
             'openvino': {'ours': {'median_ms': 5.0}}}
    ratios = benchmark.runtime_ratios(stats)
    assert ratios['torch'] == 0.5 and ratios['onnxruntime'] == 1.5 and 'openvino' not in ratios
    assert ratios['fastest'] == 1.5 and ratios['fastest_ours'] == ratios['fastest_authors'] == 'onnxruntime'
    assert np.isclose(benchmark.runtime_ratios({'torch': {'ours': {'median_ms': 1.0}}}).get('fastest', 0), 0)


def test_fasternet_export_layouts(tmp_path):
    """FasterNet's export graph: NCHW convs by default (no transposes, no matmul on a 4-d tensor), the eager NHWC
    layout on request; both equal PyTorch in every runtime, and the model's own setting is left as it was."""
    import onnx
    _require('fasternet_t0')
    model = export.build_for_export('fasternet_t0', randomize_bn=True)
    ops = {}
    for layout in (None, 'nhwc'):
        path = export.export_onnx(model, str(tmp_path / f'{layout}.onnx'), img_size=32, layout=layout)
        ops[layout] = [n.op_type for n in onnx.load(path).graph.node]
        assert max(export.check_onnx(model, path, 32, runtimes=RUNTIMES).values()) < 1e-4
    assert 'Transpose' not in ops[None] and ops[None].count('Conv') > ops['nhwc'].count('Conv')
    assert ops['nhwc'].count('Transpose') >= 2 * 8 and ops['nhwc'].count('MatMul') >= 2 * 8  # 8 blocks in T0
    assert all('export_layout' not in vars(m) for m in model.modules())
    with pytest.raises(export.ExportError, match="unknown layout 'nchwc'"):
        export.export_onnx(model, str(tmp_path / 'x.onnx'), img_size=32, layout='nchwc')


def test_rexnet_export_residual_is_slice_add_concat(tmp_path):
    """ReXNet's partial residual exports as Slice + Add + Concat: the eager in-place ``x[:, :C] += shortcut`` would
    trace to a ScatterND with ~30 shape nodes per block (measured slower in both runtimes)."""
    import onnx
    _require('rexnet_lite_100')
    model = export.build_for_export('rexnet_lite_100', randomize_bn=True)
    path = export.export_onnx(model, str(tmp_path / 'm.onnx'), img_size=32)
    ops = [n.op_type for n in onnx.load(path).graph.node]
    assert 'ScatterND' not in ops and ops.count('Concat') >= 10, sorted(set(ops))
    assert max(export.check_onnx(model, path, 32, runtimes=RUNTIMES).values()) < 1e-4
