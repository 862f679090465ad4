"""Export backbones in deploy form to ONNX (dynamic batch axis, checked against PyTorch in onnxruntime and
OpenVINO), and to Core ML where coremltools is installed.

    python tools/export.py rapidnet_ti repnext_m1 --out-dir exports/          # -> exports/<model>_224.onnx
    python tools/export.py --all --img-size 224                               # every model of the five families
    python tools/export.py mpvit_tiny --coreml                                 # + exports/mpvit_tiny_224.mlpackage
    python tools/export.py rexnet_100 --checkpoint ckpt.safetensors            # with weights (any layout convert.py
                                                                               #  reads; see tools/convert.py)

The model is built with ``timm.create_model``, put in eval mode and folded with ``timm.utils.reparameterize_model``
(``--train-form`` skips the folding). ONNX export uses the TorchScript-based exporter (``dynamo=False``): it handles
every family's forward on CPU and keeps the graph small. The check runs the file in onnxruntime and in OpenVINO
(each that is installed, or those named by ``--runtimes``) at batch 2 (the export traced batch 1, so the dynamic axis
is exercised) and fails when max |runtime - PyTorch| > ``--atol``. OpenVINO is asked for float32 inference
(``INFERENCE_PRECISION_HINT``): on CPUs with AMX/bf16 it would otherwise compute in bf16. The session helpers
(``ort_session``, ``openvino_compile``) are the ones tools/benchmark.py times, so a checked file and a timed file
run under the same settings. Files are written atomically (temporary name, then rename).
"""
import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import warnings
from typing import Dict, Optional

if __package__ in (None, ''):  # run as a script: put the repository root (not tools/) first on the path
    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [_root] + [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(
        os.path.abspath(__file__))]

import numpy as np  # noqa: E402
import timm  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from timm.utils import reparameterize_model  # noqa: E402

from tools.zoo import FAMILIES, atomic_output, import_families, resolve_models  # noqa: E402

INPUT_NAME, OUTPUT_NAME = 'input', 'logits'


class ExportError(RuntimeError):
    """An export or its numerical check failed; the message is one line."""


def build_for_export(name: str, deploy: bool = True, checkpoint: Optional[str] = None,
                     randomize_bn: bool = False) -> nn.Module:
    """``timm.create_model`` (+ optional weights through the family's loader) in eval mode, folded if ``deploy``.
    ``randomize_bn`` gives BatchNorm non-trivial statistics so that the ONNX check also covers the folding."""
    import_families()
    kwargs = {}
    if checkpoint:
        kwargs = dict(pretrained=True, pretrained_cfg_overlay=dict(file=os.path.abspath(checkpoint)))
    model = timm.create_model(name, **kwargs).eval()
    if randomize_bn:
        from tools.benchmark import randomize_bn_stats
        randomize_bn_stats(model)
    return reparameterize_model(model).eval() if deploy else model


# Graph layouts of deploy forms that offer a choice (modules with an ``export_layout`` attribute: FasterNet's stages,
# default 'nchw', measured faster in ONNX Runtime and OpenVINO than the eager 'nhwc' layout).
LAYOUTS = ('nhwc', 'nchw')


@contextlib.contextmanager
def export_layout(model: nn.Module, layout: Optional[str]):
    """Trace ``model`` with its layout-choosing modules set to ``layout`` (None: leave them as they are)."""
    if layout is not None and layout not in LAYOUTS:
        raise ExportError(f"unknown layout {layout!r} (choose from {', '.join(LAYOUTS)})")
    touched = [(m, m.__dict__.get('export_layout')) for m in model.modules() if hasattr(m, 'export_layout')]
    try:
        if layout is not None:
            for module, _ in touched:
                module.export_layout = layout
        yield
    finally:
        for module, before in touched:
            if before is None:
                module.__dict__.pop('export_layout', None)
            else:
                module.export_layout = before


def export_onnx(model: nn.Module, path: str, img_size: int = 224, opset: int = 17,
                dynamic_batch: bool = True, layout: Optional[str] = None) -> str:
    """Write ``model`` (eval mode) to ``path`` as ONNX with input ``input`` [B,3,H,W] and output ``logits``;
    ``layout`` picks the graph of deploy forms that offer one (see LAYOUTS; None: their default)."""
    x = torch.randn(1, 3, img_size, img_size)
    axes = {INPUT_NAME: {0: 'batch'}, OUTPUT_NAME: {0: 'batch'}} if dynamic_batch else None
    try:
        with atomic_output(path, '.onnx') as tmp, export_layout(model, layout):
            # oneDNN off while tracing: a forward that calls oneDNN kernels directly for speed (aten.mkldnn_*) must
            # trace to portable ops; the flag changes nothing numerically
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation and tracer warnings
                with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
                    torch.onnx.export(model, (x,), tmp, dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                                      output_names=[OUTPUT_NAME], dynamic_axes=axes, do_constant_folding=True)
            import onnx
            onnx.checker.check_model(tmp)
    except ExportError:
        raise
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ExportError(f'ONNX export of {_name(model)} failed: {type(err).__name__}: {first}') from None
    return path


RUNTIMES = ('onnxruntime', 'openvino')  # the CPU runtimes every export is checked in


def runtime_available(runtime: str) -> bool:
    try:
        __import__(runtime)
    except ImportError:
        return False
    return True


def ort_session(path: str, threads: int = 1, providers=('CPUExecutionProvider',)):
    """An onnxruntime session with ``threads`` intra-op threads and no spin-waiting: with spinning (the default),
    two sessions in one process, or any other process on the cores, keep idle pool threads busy and slow each
    other down (measured about 2x on 2 cores)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    options.add_session_config_entry('session.inter_op.allow_spinning', '0')
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=list(providers))


def run_onnx(path: str, x: np.ndarray, threads: int = 1) -> np.ndarray:
    return ort_session(path, threads).run([OUTPUT_NAME], {INPUT_NAME: x})[0]


def openvino_compile(path: str, threads: int = 1, shape=None, device: str = 'CPU'):
    """An OpenVINO compiled model of an ONNX file: latency hint, one stream, ``threads`` inference threads, float32
    (no bf16 down-cast on AMX CPUs). ``shape`` fixes the input shape (the static shape a latency deployment
    compiles for); None keeps the dynamic batch axis."""
    import openvino as ov
    core = ov.Core()
    model = core.read_model(path)
    if shape is not None:
        model.reshape({model.inputs[0].get_any_name(): ov.PartialShape(list(shape))})
    config = {'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1, 'INFERENCE_NUM_THREADS': threads,
              'INFERENCE_PRECISION_HINT': 'f32'}
    return core.compile_model(model, device, config)


def run_openvino(path: str, x: np.ndarray, threads: int = 1) -> np.ndarray:
    compiled = openvino_compile(path, threads, shape=x.shape)
    return compiled.create_infer_request().infer({0: x})[compiled.outputs[0]]


RUNNERS = {'onnxruntime': run_onnx, 'openvino': run_openvino}


def check_onnx(model: nn.Module, path: str, img_size: int, batch: int = 2, atol: float = 1e-4,
               runtimes=('onnxruntime',)) -> Dict[str, float]:
    """{runtime: max |runtime - PyTorch|} at ``batch`` (a batch size other than the traced one); raises past
    ``atol``, or when a runtime cannot load or run the file."""
    x = torch.randn(batch, 3, img_size, img_size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = model(x).numpy()
    diffs = {}
    for runtime in runtimes:
        try:
            got = RUNNERS[runtime](path, x.numpy())
        except Exception as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise ExportError(f'{path}: {runtime} cannot run the file: {type(err).__name__}: {first}') from None
        if got.shape != expected.shape:
            raise ExportError(f'{path}: {runtime} output shape {got.shape} != PyTorch {expected.shape}')
        diff = float(np.abs(got - expected).max())
        if not diff <= atol:
            raise ExportError(f'{path}: {runtime} output differs from PyTorch by {diff:.2e} > {atol:.0e}')
        diffs[runtime] = diff
    return diffs


def export_coreml(model: nn.Module, path: str, img_size: int = 224) -> str:
    """Core ML ``.mlpackage`` (ML program) from a traced model; needs ``pip install coremltools``."""
    try:
        import coremltools as ct
    except ImportError:
        raise ExportError('Core ML export needs coremltools, which is not installed (pip install coremltools; '
                          'it provides Linux wheels for conversion)') from None
    x = torch.randn(1, 3, img_size, img_size)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):  # tracer warnings, pass bars
            warnings.simplefilter('ignore')
            with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
                traced = torch.jit.trace(model, x)
            mlmodel = ct.convert(traced, inputs=[ct.TensorType(name=INPUT_NAME, shape=x.shape)],
                                 convert_to='mlprogram')
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ExportError(f'Core ML conversion of {_name(model)} failed: {type(err).__name__}: {first}') from None
    tmp = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(path)) or '.', prefix='.coreml.')
    try:
        staged = os.path.join(tmp, os.path.basename(path))
        mlmodel.save(staged)
        if os.path.exists(path):
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
        os.replace(staged, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _name(model: nn.Module) -> str:
    return (getattr(model, 'pretrained_cfg', None) or {}).get('architecture') or type(model).__name__


def export_model(name: str, out_dir: str, img_size: int = 224, opset: int = 17, check: bool = True,
                 atol: float = 1e-4, deploy: bool = True, coreml: bool = False,
                 checkpoint: Optional[str] = None, runtimes=None, layout: Optional[str] = None) -> Dict[str, object]:
    """Export one model and check it in ``runtimes`` (default: each of RUNTIMES that is installed); returns
    {'onnx': path, 'checks': {runtime: max |diff|}, 'max_abs_diff': the largest (None unchecked), 'coreml': path|None}."""
    runtimes = [r for r in RUNTIMES if runtime_available(r)] if runtimes is None else list(runtimes)
    model = build_for_export(name, deploy=deploy, checkpoint=checkpoint, randomize_bn=checkpoint is None)
    stem = f"{name}_{img_size}" + ('' if deploy else '_train')
    onnx_path = export_onnx(model, os.path.join(out_dir, stem + '.onnx'), img_size, opset, layout=layout)
    result = {'model': name, 'onnx': onnx_path, 'checks': {}, 'max_abs_diff': None, 'coreml': None}
    if check and runtimes:
        result['checks'] = check_onnx(model, onnx_path, img_size, atol=atol, runtimes=runtimes)
        result['max_abs_diff'] = max(result['checks'].values())
    if coreml:
        result['coreml'] = export_coreml(model, os.path.join(out_dir, stem + '.mlpackage'), img_size)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('models', nargs='*', help='model names or globs')
    parser.add_argument('--all', action='store_true', help='every model of the five families')
    parser.add_argument('--families', nargs='+', default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument('--out-dir', default='exports')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--no-check', action='store_true', help='skip the runtime comparisons')
    parser.add_argument('--runtimes', default=None,
                        help='comma-separated runtimes to check in (default: each of onnxruntime, openvino that '
                             'is installed)')
    parser.add_argument('--train-form', action='store_true', help='export without folding')
    parser.add_argument('--layout', choices=LAYOUTS, default=None,
                        help="graph layout of FasterNet's deploy form (default nchw: faster in ORT and OpenVINO)")
    parser.add_argument('--coreml', action='store_true', help='also write a Core ML .mlpackage')
    parser.add_argument('--checkpoint', help='weights file for a single model (any layout its loader accepts)')
    args = parser.parse_args(argv)
    if not args.models and not args.all:
        parser.error('name at least one model, or pass --all')
    import_families()
    names = resolve_models(None if args.all else args.models, args.families)
    if args.checkpoint and len(names) != 1:
        parser.error('--checkpoint needs exactly one model')
    runtimes = None
    if args.runtimes is not None:
        runtimes = [r for r in args.runtimes.split(',') if r]
        unknown = [r for r in runtimes if r not in RUNTIMES]
        if unknown:
            parser.error(f"--runtimes: unknown {', '.join(unknown)} (choose from {', '.join(RUNTIMES)})")
        missing = [r for r in runtimes if not runtime_available(r)]
        if missing:
            print(f"export: {', '.join(missing)} not installed (pip install {' '.join(missing)})", file=sys.stderr)
            return 1
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    failures = 0
    for name in names:
        try:
            r = export_model(name, args.out_dir, args.img_size, args.opset, not args.no_check, args.atol,
                             deploy=not args.train_form, coreml=args.coreml, checkpoint=args.checkpoint,
                             runtimes=runtimes, layout=args.layout)
            diff = ', '.join(f'{k} {v:.1e}' for k, v in r['checks'].items())
            diff = f' (max |diff| vs PyTorch: {diff})' if diff else ''
            print(f"{name}: {r['onnx']}{diff}" + (f", {r['coreml']}" if r['coreml'] else ''))
        except Exception as err:  # one line per failing model; the others still export
            failures += 1
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:240]
            print(f'{name}: FAILED: {first}', file=sys.stderr)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
