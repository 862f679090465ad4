"""tools/: benchmark (params/MACs/latency tables, resume, official-code loading), ONNX export, checkpoint conversion.

Small models and tiny inputs throughout; the full 224^2 benchmark is `python tools/benchmark.py` (see tools/README.md).
"""
import json
import os
import sys
import textwrap

import numpy as np
import pytest
import timm
import torch
import torch.nn as nn

from official_layout import KEYS_DIR, read_key_list, save_official_checkpoint, synthetic_state_dict
from tools import benchmark, convert, export
from tools.official_models import OfficialModels, rearrange
from tools.paper_numbers import CLAIMS, FVCORE_REFERENCE, claim_for
from tools.zoo import FAMILIES, family_models, family_of, import_families, timm_reference

import_families()
REGISTERED = set(timm.list_models())
# The smallest variant of each family, and how its authors wrap the weights in a checkpoint file.
SMALLEST = {
    'fasternet': ('fasternet_t0', None),
    'mpvit': ('mpvit_tiny', 'model'),
    'rapidnet': ('rapidnet_ti', ('state_dict', 'state_dict_ema')),
    'repnext': ('repnext_m0', 'model'),
    'rexnet': ('rexnet_100', None),
}


def _require(name):
    if name not in REGISTERED:
        pytest.skip(f'{name} is not registered (family file missing or incomplete)')


def _key_list_name(model_name):
    for candidate in (f'{model_name}_official', model_name):
        if os.path.isfile(os.path.join(KEYS_DIR, candidate + '.txt')):
            return candidate
    return None


# ---------------------------------------------------------------------------------------------- paper numbers
def test_claims_cover_the_registered_paper_variants():
    names = family_models()
    missing = sorted(set(CLAIMS) - set(names))
    assert not missing, f'paper variants not registered: {missing}'
    assert all(family_of(n) in FAMILIES for n in names)
    assert not [n for n in names if n.startswith('rexnetr_')], "timm-only variants are not the paper's"
    for name, claim in CLAIMS.items():
        assert claim.family == family_of(name) and claim.source
        assert claim.top1 is None or 70 < claim.top1 < 90
    rex2 = claim_for('RexNet_200.nav_in1k')  # tag and case are ignored
    assert rex2.params_m == 16.0 and '19M' in rex2.note and '2.2' in rex2.note
    assert claim_for('resnet18') is None


# ----------------------------------------------------------------------------------------------------- MACs
class _Mixed(nn.Module):
    """Depthwise + grouped conv, BN, LayerNorm, einsum attention, pooling, linear: every counted kind."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.grouped = nn.Conv2d(8, 16, 1, groups=2)
        self.bn = nn.BatchNorm2d(16)
        self.norm = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.bn(self.grouped(self.dw(x)))
        t = self.norm(x.flatten(2).transpose(1, 2))  # B, 36, 16
        attn = torch.einsum('bnc,bmc->bnm', t, t).softmax(-1)
        t = torch.einsum('bnm,bmc->bnc', attn, t)
        return self.fc(t.mean(1))


def test_count_macs_counts_grouped_convs_and_matmuls_exactly():
    model = _Mixed().eval()
    x = torch.randn(2, 8, 6, 6)
    b, hw = 2, 36
    convs = b * hw * 8 * 9 + b * hw * 16 * 4  # depthwise: 9 per output; grouped 1x1: in/groups = 4 per output
    matmuls = 2 * b * hw * hw * 16 + b * 16 * 10
    norms = b * 16 * hw * 2 + b * hw * 16 * 5  # fvcore: BN eval 2 / element, LayerNorm 5 / element
    pool = b * hw * 16
    macs = benchmark.count_macs(model, x)
    assert macs['gmacs'] * 1e9 == pytest.approx(convs + matmuls, abs=0.5)
    assert macs['gmacs_fvcore'] * 1e9 == pytest.approx(convs + matmuls + norms + pool, abs=0.5)


@pytest.mark.parametrize('name', ['fasternet_t0', 'rexnet_100', 'mpvit_tiny'])
def test_count_macs_matches_fvcore_on_official_layouts(name):
    """fvcore counts of the authors' code (research notes) are reproduced: FasterNet train and fused, ReXNet, and
    MPViT (whose docstring gives fvcore's exact count)."""
    _require(name)
    params, ref_train, ref_fused = FVCORE_REFERENCE[name]
    model = timm.create_model(name).eval()
    x = torch.randn(1, 3, 224, 224)
    macs = benchmark.count_macs(model, x)
    assert benchmark.count_params(model) == params
    assert macs['gmacs_fvcore'] == pytest.approx(ref_train, rel=2e-3)
    if ref_fused is not None:  # fvcore on the fused model counts only convs and matmuls
        assert macs['gmacs'] == pytest.approx(ref_fused, rel=2e-3)
    reference = timm_reference(name)
    if reference is not None:  # timm's own model: same architecture, same count
        assert benchmark.count_macs(reference.eval(), x)['gmacs'] == pytest.approx(macs['gmacs'], rel=1e-6)


# ------------------------------------------------------------------------------------------- official loader
_FAKE_REXNET = '''
    try:
        import mmdet  # noqa: F401  (blocked by the tool: a broken OpenMMLab must not matter)
        HAS_MMDET = True
    except ImportError:
        HAS_MMDET = False
    import torch.nn as nn
    from einops import rearrange
    from timm.models.registry import register_model

    print('the authors print on import')


    class ReXNetV1(nn.Module):
        def __init__(self, width_mult=1.0):
            super().__init__()
            self.width_mult = width_mult
            self.fc = nn.Linear(3, 1000)

        def forward(self, x):
            return self.fc(rearrange(x, 'b c h w -> b (h w) c').mean(1))


    @register_model
    def rexnet_100(pretrained=False, **kwargs):
        return ReXNetV1()
'''


@pytest.fixture()
def fake_official_root(tmp_path):
    (tmp_path / 'rexnet').mkdir()
    (tmp_path / 'rexnet' / 'rexnetv1.py').write_text(textwrap.dedent(_FAKE_REXNET))
    return tmp_path


def test_official_loader_isolates_the_authors_code(fake_official_root, capsys):
    _require('rexnet_100')
    entry_before = timm.models.model_entrypoint('rexnet_100')
    loader = OfficialModels(str(fake_official_root))
    model, form = loader.build('rexnet_130', 'rexnet')
    assert model.width_mult == 1.3 and not model.training and 'no official deploy form' in form
    module = loader.module('rexnet', 'rexnetv1.py')
    assert module.HAS_MMDET is False
    assert timm.models.model_entrypoint('rexnet_100') is entry_before  # the authors' @register_model was inert
    assert 'mmdet' not in sys.modules or sys.modules['mmdet'] is not None
    assert 'the authors print' not in capsys.readouterr().out
    with pytest.raises(RuntimeError, match='no FasterNet/ under'):
        loader.build('fasternet_t0', 'fasternet')
    with pytest.raises(RuntimeError, match='not an official ReXNet variant'):
        loader.build('rexnetr_100', 'rexnet')


def test_rearrange_stand_in_matches_reshape_permute():
    x = torch.randn(2, 8, 12, 5)
    y = rearrange(x, 'B h (H W) Ch -> B (h Ch) H W', H=3, W=4)
    assert torch.equal(y, x.reshape(2, 8, 3, 4, 5).permute(0, 1, 4, 2, 3).reshape(2, 40, 3, 4))
    assert torch.equal(rearrange(y, 'B (h Ch) H W -> B h (H W) Ch', h=8), x)


# ------------------------------------------------------------------------------------------------- benchmark
def test_benchmark_tables_chart_and_resume(tmp_path, fake_official_root):
    for name in ('fasternet_t0', 'rexnet_100'):
        _require(name)
    out = tmp_path / 'logs'
    args = ['--models', 'fasternet_t0', 'rexnet_100', '--img-size', '64', '--warmup', '1', '--repeats', '2',
            '--throughput-batch', '2', '--throughput-repeats', '1', '--threads', '1', '--out-dir', str(out),
            '--official-root', str(fake_official_root), '--quiet']
    first = benchmark.main(args)
    assert first['measured'] == ['fasternet_t0', 'rexnet_100'] and not first['skipped']
    with open(out / 'benchmark_cpu.json') as f:
        results = json.load(f)['results']
    for name in ('fasternet_t0', 'rexnet_100'):
        r = results[name]
        assert 'error' not in r, r.get('error')
        assert r['params']['deploy'] < r['params']['train']  # BN folded away
        assert 0 < r['gmacs']['deploy'] <= r['gmacs_fvcore']['train']
        assert r['fold_max_abs_diff'] < 1e-4 * max(1.0, r['output_max_abs'])
        for key in ('latency_ms', 'cpu_ms'):
            assert set(r[key]) == {'train', 'deploy', 'timm'} | ({'official'} if name == 'rexnet_100' else set())
            assert all(s['median_ms'] > 0 and s['n'] == 2 and s['q1_ms'] <= s['q3_ms'] for s in r[key].values())
        assert r['ratios']['deploy_vs_timm'] == pytest.approx(
            r['latency_ms']['deploy']['median_ms'] / r['latency_ms']['timm']['median_ms'])
        assert r['throughput']['deploy']['imgs_per_s'] > 0 and r['claim']['top1'] is not None
    assert results['rexnet_100']['cpu_ratios']['deploy_vs_official'] > 0
    assert 'no FasterNet/ under' in results['fasternet_t0']['official']['error']
    md = (out / 'benchmark_cpu.md').read_text()
    params = results['fasternet_t0']['params']
    assert f"| fasternet_t0 | {params['train'] / 1e6:.3f} | {params['deploy'] / 1e6:.3f} | 3.9 |" in md
    assert 'Speed targets' in md and 'ReXNet deploy vs official implementation' in md
    assert 'official model not built' in md
    # the compute floor: 2 x MACs at the GEMM rate measured on this machine, and the share of it the target needs
    with open(out / 'benchmark_cpu.json') as f:
        peak = json.load(f)['meta']['gemm_peak_gflops']['cpu_ms']
    rx = results['rexnet_100']
    floor = 2 * rx['gmacs']['deploy'] / peak * 1e3
    share = floor / (0.8 * rx['cpu_ms']['official']['median_ms'])
    assert f"| {floor:.1f} ({100 * share * 0.8:.0f} % → {100 * share:.0f} %) |" in md
    with open(out / 'latency_vs_top1.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'

    second = benchmark.main(args)  # same settings: nothing re-measured
    assert second['skipped'] == ['fasternet_t0', 'rexnet_100'] and not second['measured']
    third = benchmark.main(args[:1] + ['fasternet_t0'] + args[3:] + ['--force'])
    assert third['measured'] == ['fasternet_t0']
    with open(out / 'benchmark_cpu.json') as f:
        assert set(json.load(f)['results']) == {'fasternet_t0', 'rexnet_100'}  # the other record is kept
    (out / 'benchmark_cpu.md').unlink()
    report = benchmark.main(args + ['--report-only'])  # tables regenerated from the JSON, nothing measured
    assert not report['measured'] and 'rexnet_100' in (out / 'benchmark_cpu.md').read_text()


# ------------------------------------------------------------------------------------------------------ ONNX
@pytest.mark.parametrize('family', FAMILIES)
def test_onnx_round_trip_in_onnxruntime(family, tmp_path):
    import onnx
    name = SMALLEST[family][0]
    _require(name)
    torch.manual_seed(0)
    result = export.export_model(name, str(tmp_path), img_size=64, atol=1e-4)  # raises past 1e-4 in any runtime
    assert result['max_abs_diff'] <= 1e-4
    assert set(result['checks']) == {r for r in export.RUNTIMES if export.runtime_available(r)}  # ORT, OpenVINO
    graph = onnx.load(result['onnx']).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == 'batch'  # dynamic batch axis
    assert [p for p in os.listdir(tmp_path) if p.startswith('.')] == []  # no temporary file left behind
    # the file holds the deploy form: a wrong fold would show against the training form (same weights)
    torch.manual_seed(0)
    model = timm.create_model(name).eval()
    benchmark.randomize_bn_stats(model)
    x = torch.randn(3, 3, 64, 64)
    with torch.inference_mode():
        expected = model(x).numpy()
    assert np.abs(export.run_onnx(result['onnx'], x.numpy()) - expected).max() < 1e-4


def test_coreml_export_reports_missing_coremltools(tmp_path):
    try:
        import coremltools  # noqa: F401
        pytest.skip('coremltools is installed')
    except ImportError:
        pass
    with pytest.raises(export.ExportError, match='pip install coremltools'):
        export.export_coreml(nn.Conv2d(3, 4, 1).eval(), str(tmp_path / 'm.mlpackage'), 32)


# ------------------------------------------------------------------------------------------------ conversion
@pytest.mark.parametrize('family', FAMILIES)
def test_convert_official_checkpoint_round_trip(family, tmp_path):
    name, wrapper = SMALLEST[family]
    _require(name)
    key_list = _key_list_name(name)
    if key_list is None:
        pytest.skip(f'no recorded official key list for {name} in tests/data/keys')
    official = synthetic_state_dict(read_key_list(key_list))
    src = save_official_checkpoint(str(tmp_path / 'official.pth'), official, wrapper)
    reference = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=src)).eval()

    safetensors_path = str(tmp_path / 'converted.safetensors')
    assert convert.main([name, src, safetensors_path]) == 0
    from safetensors.torch import load_file
    converted = load_file(safetensors_path)
    expected = reference.state_dict()
    assert set(converted) == set(expected)  # (safetensors stores keys in its own order)
    assert all(torch.equal(converted[k], expected[k]) for k in expected)

    pth_path = str(tmp_path / 'back.pth')  # and back to a plain state_dict .pth
    assert convert.main([name, safetensors_path, pth_path]) == 0
    plain = torch.load(pth_path, weights_only=True)
    assert set(plain) == set(expected) and all(torch.equal(plain[k], expected[k]) for k in expected)

    reloaded = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=pth_path)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(reloaded(x), reference(x))


def test_convert_picks_ema_or_raw_weights(tmp_path):
    name = 'rapidnet_ti'
    _require(name)
    keys = read_key_list(_key_list_name(name) or pytest.skip('no rapidnet_ti key list'))
    raw, ema = synthetic_state_dict(keys, seed=0), synthetic_state_dict(keys, seed=1)
    src = str(tmp_path / 'model_best.pth')
    torch.save({'state_dict': raw, 'state_dict_ema': ema}, src)
    assert convert.main([name, src, str(tmp_path / 'ema.pth')]) == 0
    assert convert.main([name, src, str(tmp_path / 'raw.pth'), '--no-ema']) == 0
    with_ema = torch.load(tmp_path / 'ema.pth', weights_only=True)
    without = torch.load(tmp_path / 'raw.pth', weights_only=True)
    probe = 'stem.stem.0.weight'  # the first conv: present in any layout, with a unique shape

    def holds(state_dict, tensor):
        return any(v.shape == tensor.shape and torch.equal(v, tensor) for v in state_dict.values())

    assert holds(with_ema, ema[probe]) and not holds(with_ema, raw[probe])  # EMA first, as timm does
    assert holds(without, raw[probe]) and not holds(without, ema[probe])


def test_convert_errors_are_one_line_and_leave_no_partial_file(tmp_path, capsys):
    name = 'rexnet_100'
    _require(name)
    good = str(tmp_path / 'good.pth')
    torch.save(timm.create_model(name).state_dict(), good)
    truncated = str(tmp_path / 'truncated.pth')
    with open(good, 'rb') as f:
        data = f.read()
    with open(truncated, 'wb') as f:
        f.write(data[: len(data) // 2])
    dst = tmp_path / 'out.safetensors'
    dst.write_text('previous content')

    assert convert.main([name, truncated, str(dst)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'truncated' in err and 'truncated.pth' in err
    assert dst.read_text() == 'previous content'  # the old file is untouched

    assert convert.main(['fasternet_t0', good, str(dst)]) == 1  # wrong model for these weights
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'fasternet_t0' in err and 'missing keys' in err

    assert convert.main([name, good, str(tmp_path / 'out.npz')]) == 1
    assert 'unsupported output' in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['good.pth', 'out.safetensors', 'truncated.pth']


def test_atomic_output_replaces_in_one_step_or_not_at_all(tmp_path):
    """The writer every tool and the training checkpoints use: the target appears complete with the permissions of a
    normally created file, or stays as it was; no temp file is left either way."""
    from models._checkpoint import atomic_output
    target = tmp_path / 'out' / 'table.md'  # the folder is created
    with atomic_output(target) as tmp:
        with open(tmp, 'w') as f:
            f.write('new')
        assert not target.exists()  # nothing under the real name before the block ends
    assert target.read_text() == 'new'
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    with pytest.raises(RuntimeError, match='interrupted'):
        with atomic_output(target) as tmp:
            with open(tmp, 'w') as f:
                f.write('half')
            raise RuntimeError('interrupted')
    assert target.read_text() == 'new'
    assert [p.name for p in target.parent.iterdir()] == ['table.md']
