"""Convert an authors' checkpoint to the project's layout, as safetensors or as a plain state_dict ``.pth``.

    python tools/convert.py rapidnet_m RapidNet_M.pth rapidnet_m.safetensors     # authors' file -> project layout
    python tools/convert.py repnext_m1 repnext_m1_distill_300e.pth out.pth        # -> plain state_dict .pth
    python tools/convert.py repnext_m1 out.safetensors out.pth                    # and back (safetensors -> .pth)
    python tools/convert.py rapidnet_m model_best.pth out.safetensors --no-ema    # raw weights, not state_dict_ema

The file goes through exactly the path a user's ``timm.create_model(name, pretrained=True,
pretrained_cfg_overlay=dict(file=SRC))`` takes: weights-only ``torch.load`` (or safetensors), unwrapping of
``state_dict_ema`` / ``model_ema`` / ``state_dict`` / ``model`` (EMA first, as timm does; ``--no-ema`` picks the
non-EMA weights the authors' ``--eval`` uses), the family's ``checkpoint_filter_fn`` (official -> project keys,
strict shape check), then a strict ``load_state_dict``. What is written is that model's ``state_dict()``:

* ``.safetensors``: every key as its own tensor (modules shared under several names, as in MPViT, are written
  under each name, so a strict load of the file works); metadata records the model name and the source file.
* ``.pth`` / ``.pt``: a bare ``{key: tensor}`` dict, loadable with ``torch.load(weights_only=True)``.

The output is written to a temporary file in the same folder, read back, compared tensor by tensor with the model,
and only then renamed over DST: a failed conversion never leaves a partial file. Errors are one line, exit code 1.
"""
import argparse
import os
import sys
import tempfile
from typing import Dict, Optional

if __package__ in (None, ''):  # run as a script: put the repository root (not tools/) first on the path
    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [_root] + [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(
        os.path.abspath(__file__))]

import timm  # noqa: E402
import torch  # noqa: E402

from tools.zoo import atomic_output, import_families  # noqa: E402

SAFETENSORS_EXT = ('.safetensors',)
TORCH_EXT = ('.pth', '.pt')


class ConvertError(RuntimeError):
    """A conversion that cannot be done; the message is one line."""


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:240] if lines else type(err).__name__


def _checkpoint_module():
    import_families()
    from models import _checkpoint
    return _checkpoint


def load_project_model(model_name: str, src: str, use_ema: bool = True,
                       num_classes: Optional[int] = None) -> torch.nn.Module:
    """Build ``model_name`` with the weights of ``src`` through timm's file path (see the module docstring)."""
    ckpt = _checkpoint_module()
    src = os.path.abspath(src)
    ckpt.load_file(src)  # one-line CheckpointError for a missing, empty, truncated or code-carrying file
    kwargs = {} if num_classes is None else {'num_classes': num_classes}
    tmp = None
    try:
        if not use_ema:  # timm prefers EMA weights: hand it the non-EMA ones already unwrapped
            state_dict = ckpt.unwrap_state_dict(ckpt.load_file(src), use_ema=False, source=src)
            fd, tmp = tempfile.mkstemp(suffix='.pth', prefix='convert-noema-')
            os.close(fd)
            torch.save(state_dict, tmp)
        model = timm.create_model(model_name, pretrained=True,
                                  pretrained_cfg_overlay=dict(file=tmp or src), **kwargs)
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    return model.eval()


def _independent_tensors(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Contiguous, unshared copies (safetensors refuses aliased storage; MPViT shares modules by design)."""
    return {k: v.detach().to('cpu').contiguous().clone() for k, v in state_dict.items()}


def save_state_dict(state_dict: Dict[str, torch.Tensor], dst: str, metadata: Optional[Dict[str, str]] = None) -> str:
    """Write ``state_dict`` atomically as safetensors or a plain ``.pth`` (by the extension of ``dst``)."""
    ext = os.path.splitext(dst)[1].lower()
    if ext not in SAFETENSORS_EXT + TORCH_EXT:
        raise ConvertError(f'unsupported output {dst}: use .safetensors, .pth or .pt')
    tensors = _independent_tensors(state_dict)
    with atomic_output(dst, ext) as tmp:
        if ext in SAFETENSORS_EXT:
            from safetensors.torch import save_file
            save_file(tensors, tmp, metadata=dict(metadata or {}, format='pt'))
        else:
            torch.save(tensors, tmp)
        _verify(tmp, tensors)
    return dst


def _verify(path: str, expected: Dict[str, torch.Tensor]) -> None:
    ckpt = _checkpoint_module()
    written = ckpt.load_file(path)
    missing = [k for k in expected if k not in written]
    extra = [k for k in written if k not in expected]
    changed = [k for k in expected if k in written and not (
        written[k].dtype == expected[k].dtype and torch.equal(written[k], expected[k]))]
    if missing or extra or changed:
        raise ConvertError(f'read-back check of {path} failed: {len(missing)} missing, {len(extra)} extra, '
                           f'{len(changed)} changed tensors')


def convert(model_name: str, src: str, dst: str, use_ema: bool = True,
            num_classes: Optional[int] = None) -> Dict[str, object]:
    """Convert ``src`` (authors' or project layout, any wrapper) to ``dst`` in the project's layout."""
    if os.path.splitext(dst)[1].lower() not in SAFETENSORS_EXT + TORCH_EXT:
        raise ConvertError(f'unsupported output {dst}: use .safetensors, .pth or .pt')
    if os.path.exists(src) and os.path.exists(dst) and os.path.samefile(src, dst):
        raise ConvertError(f'source and destination are the same file: {dst}')
    model = load_project_model(model_name, src, use_ema=use_ema, num_classes=num_classes)
    state_dict = model.state_dict()
    metadata = {'model': model_name, 'source': os.path.basename(src), 'ema': str(use_ema)}
    save_state_dict(state_dict, dst, metadata)
    return {'model': model_name, 'src': src, 'dst': dst, 'keys': len(state_dict),
            'params': sum(p.numel() for p in model.parameters())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model', help='timm name of the project model, e.g. rapidnet_m, repnext_m1, rexnet_100')
    parser.add_argument('src', help="checkpoint file: the authors' release or a project file (.pth/.pt/.tar/"
                                    '.safetensors)')
    parser.add_argument('dst', help='output: .safetensors or .pth/.pt (plain state_dict)')
    parser.add_argument('--no-ema', action='store_true', help='use the non-EMA weights when the file has both')
    parser.add_argument('--num-classes', type=int, help='drop the classifier and build with this many classes')
    args = parser.parse_args(argv)
    try:
        result = convert(args.model, args.src, args.dst, use_ema=not args.no_ema, num_classes=args.num_classes)
    except Exception as err:  # CheckpointError, ConvertError, timm's unknown-model error, ...: one line
        print(f'convert: {_one_line(err)}', file=sys.stderr)
        return 1
    print(f"{result['model']}: {result['src']} -> {result['dst']} ({result['keys']} keys, "
          f"{result['params'] / 1e6:.3f} M params)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
