"""One config object from a recipe file and command-line flags.

Precedence: built-in defaults < recipe file (``--config``, with ``_base_`` inheritance) < flags given on the command
line. Recipe keys are the flag names with ``_`` for ``-`` (``--lr-base`` is ``lr_base:``); an unknown key is an
error, not a silent no-op. ``_base_`` is a path (or list of paths) relative to the file that names it; later files
override earlier ones and a ``model_kwargs`` mapping is merged key by key.
"""
import argparse
import difflib
import os
from typing import Any, Dict, List, Optional, Sequence

import yaml

from .errors import ConfigError

BASE_KEY = '_base_'


def str2dict(text: str) -> Dict[str, Any]:
    """``key=value`` -> ``{key: yaml(value)}``, for ``--model-kwargs act_layer=relu drop_rate=0.1``."""
    if '=' not in text:
        raise argparse.ArgumentTypeError(f'expected key=value, got {text!r}')
    key, value = text.split('=', 1)
    return {key: yaml.safe_load(value)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        'classification/main.py', description='Train or evaluate an image classifier (any timm / models/ backbone).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    flag = argparse.BooleanOptionalAction

    g = p.add_argument_group('run')
    g.add_argument('--config', default=None, help='recipe YAML (configs/classification/<family>/<variant>.yaml)')
    g.add_argument('--model', default=None, help='any name timm.create_model knows after `import models`')
    g.add_argument('--data-path', default=None, help='folder with train/<class>/* and val/<class>/* images')
    g.add_argument('--output-dir', default=None, help='checkpoints and logs (default output/classification/<model>)')
    g.add_argument('--num-classes', type=int, default=None, help='default: the number of class folders')
    g.add_argument('--seed', type=int, default=0, help='base seed; rank r uses seed + r')
    g.add_argument('--workers', type=int, default=4, help='data loader worker processes per rank')
    g.add_argument('--pin-mem', action=flag, default=True)
    g.add_argument('--device', default=None, help='default: cuda:<local rank> when CUDA is available, else cpu')
    g.add_argument('--dist-backend', default=None, help='default: nccl on GPU, gloo on CPU')
    g.add_argument('--threads', type=int, default=None, help='torch intra-op threads per process')
    g.add_argument('--eval', action=flag, default=False, help='only evaluate (--resume, --pretrained-file, --finetune)')
    g.add_argument('--resume', default=None, help="a training checkpoint of this project, or 'auto' (newest valid "
                                                  "one in --output-dir, or a fresh start when there is none)")
    g.add_argument('--log-interval', type=int, default=50, help='progress-bar refresh period in steps')
    g.add_argument('--eval-interval', type=int, default=1, help='evaluate every N epochs (and after the last)')
    g.add_argument('--progress', action=flag, default=True, help='tqdm bars on rank 0')
    g.add_argument('--tensorboard', action=flag, default=True)

    g = p.add_argument_group('model')
    g.add_argument('--pretrained', action=flag, default=False, help="timm's default weights for --model (hub)")
    g.add_argument('--pretrained-file', default=None,
                   help="weights file loaded by timm's pretrained path (the authors' released files); the "
                        'classifier is dropped when --num-classes differs from the file')
    g.add_argument('--finetune', default=None,
                   help='any weights file (this project, the authors, timm); classifier tensors that do not fit '
                        '--num-classes are re-initialised, everything else must fit')
    g.add_argument('--finetune-ema', action=flag, default=True, help='prefer EMA weights in --finetune files')
    g.add_argument('--drop', type=float, default=0.0, help='dropout before the classifier (drop_rate)')
    g.add_argument('--drop-path', type=float, default=None, help='stochastic depth rate (model default if unset)')
    g.add_argument('--model-kwargs', type=str2dict, nargs='*', default={}, metavar='KEY=VALUE')
    g.add_argument('--channels-last', action=flag, default=False)
    g.add_argument('--compile', default=None, nargs='?', const='default',
                   help='torch.compile mode (default, reduce-overhead, max-autotune)')
    g.add_argument('--sync-bn', action=flag, default=False, help='SyncBatchNorm across ranks (GPU only)')
    g.add_argument('--find-unused-parameters', action=flag, default=False)
    g.add_argument('--dist-bn', default='reduce', choices=['reduce', 'broadcast', ''],
                   help="after each epoch: average BN running stats over ranks (reduce) or copy rank 0's")

    g = p.add_argument_group('data')
    g.add_argument('--input-size', type=int, default=None, help='square train/eval size (model default if unset)')
    g.add_argument('--crop-pct', type=float, default=None, help='eval: resize to size/crop_pct, centre crop')
    g.add_argument('--interpolation', default=None, help='eval resize interpolation (model default if unset)')
    g.add_argument('--mean', type=float, nargs=3, default=None)
    g.add_argument('--std', type=float, nargs=3, default=None)
    g.add_argument('--train-interpolation', default='random')
    g.add_argument('--aa', default=None, help="RandAugment / AutoAugment string, e.g. 'rand-m9-mstd0.5-inc1'")
    g.add_argument('--color-jitter', type=float, default=0.4)
    g.add_argument('--scale', type=float, nargs=2, default=[0.08, 1.0], help='RandomResizedCrop area range')
    g.add_argument('--ratio', type=float, nargs=2, default=[3. / 4., 4. / 3.], help='RandomResizedCrop aspect range')
    g.add_argument('--hflip', type=float, default=0.5)
    g.add_argument('--reprob', type=float, default=0.0, help='random erasing probability')
    g.add_argument('--remode', default='pixel')
    g.add_argument('--recount', type=int, default=1)
    g.add_argument('--mixup', type=float, default=0.0, help='mixup alpha (0 = off)')
    g.add_argument('--cutmix', type=float, default=0.0, help='cutmix alpha (0 = off)')
    g.add_argument('--cutmix-minmax', type=float, nargs=2, default=None)
    g.add_argument('--mixup-prob', type=float, default=1.0)
    g.add_argument('--mixup-switch-prob', type=float, default=0.5)
    g.add_argument('--mixup-mode', default='batch', choices=['batch', 'pair', 'elem'])
    g.add_argument('--smoothing', type=float, default=0.1, help='label smoothing')
    g.add_argument('--repeated-aug', action=flag, default=False, help='repeated augmentation sampler (DeiT)')
    g.add_argument('--repeated-aug-repeats', type=int, default=3)
    g.add_argument('--train-size-schedule', type=int, nargs='+', default=None, metavar='EPOCH SIZE',
                   help='progressive train resolution as epoch/size pairs, e.g. 0 192 280 224 (FasterNet)')

    g = p.add_argument_group('optimizer and schedule')
    g.add_argument('--batch-size', type=int, default=128, help='per process')
    g.add_argument('--eval-batch-size', type=int, default=None, help='per process (default 2 x batch size)')
    g.add_argument('--grad-accum-steps', type=int, default=1, help='micro-batches per optimizer step')
    g.add_argument('--opt', default='adamw', help='any timm optimizer name')
    g.add_argument('--opt-eps', type=float, default=None)
    g.add_argument('--opt-betas', type=float, nargs=2, default=None)
    g.add_argument('--momentum', type=float, default=0.9)
    g.add_argument('--weight-decay', type=float, default=0.05)
    g.add_argument('--filter-bias-and-bn', action=flag, default=True,
                   help='no weight decay on norms, biases and model.no_weight_decay()')
    g.add_argument('--lr', type=float, default=None, help='absolute lr; overrides the lr_base scaling rule')
    g.add_argument('--lr-base', type=float, default=1e-3, help='lr = lr_base x global batch / lr_base_size')
    g.add_argument('--lr-base-size', type=int, default=512)
    g.add_argument('--clip-grad', type=float, default=None)
    g.add_argument('--clip-mode', default='norm', choices=['norm', 'value', 'agc'])
    g.add_argument('--sched', default='cosine', help='any timm scheduler name')
    g.add_argument('--epochs', type=int, default=300)
    g.add_argument('--warmup-epochs', type=int, default=5)
    g.add_argument('--warmup-lr', type=float, default=1e-6)
    g.add_argument('--min-lr', type=float, default=1e-5)
    g.add_argument('--cooldown-epochs', type=int, default=0, help='extra epochs at min_lr after the schedule')
    g.add_argument('--decay-epochs', type=float, default=30)
    g.add_argument('--decay-rate', type=float, default=0.1)
    g.add_argument('--sched-on-updates', action=flag, default=False,
                   help='step the schedule every optimizer update instead of every epoch')

    g = p.add_argument_group('EMA, AMP, distillation')
    g.add_argument('--model-ema', action=flag, default=False)
    g.add_argument('--model-ema-decay', type=float, default=0.99996)
    g.add_argument('--model-ema-warmup', action=flag, default=False)
    g.add_argument('--model-ema-eval', action=flag, default=True, help='also evaluate the EMA weights')
    g.add_argument('--amp', action=flag, default=False)
    g.add_argument('--amp-dtype', default='bfloat16', choices=['bfloat16', 'float16'])
    g.add_argument('--distillation-type', default='none', choices=['none', 'soft', 'hard'])
    g.add_argument('--distillation-alpha', type=float, default=0.5)
    g.add_argument('--distillation-tau', type=float, default=1.0)
    g.add_argument('--teacher-model', default=None, help='timm name of the teacher (e.g. regnety_160.deit_in1k)')
    g.add_argument('--teacher-path', default=None, help='teacher weights file (else timm pretrained weights)')
    return p


def _actions(parser: argparse.ArgumentParser) -> Dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.dest not in ('help', 'config')}


def _merge(base: Dict[str, Any], top: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if key == 'model_kwargs' and isinstance(out.get(key), dict) and isinstance(value, dict):
            value = {**out[key], **value}
        out[key] = value
    return out


def load_recipe(path: str, _chain: Sequence[str] = ()) -> Dict[str, Any]:
    """Read a recipe and its ``_base_`` files into one flat dict (the ``_base_`` key removed)."""
    path = os.path.abspath(path)
    if path in _chain:
        raise ConfigError(f'recipe inheritance loops back to {path}')
    if not os.path.isfile(path):
        where = f' (named by {_chain[-1]})' if _chain else ''
        raise ConfigError(f'recipe file not found: {path}{where}')
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f'cannot parse recipe {path}: {str(err).splitlines()[0]}') from None
    if not isinstance(data, dict):
        raise ConfigError(f'recipe {path} must be a mapping of option: value')
    bases = data.pop(BASE_KEY, None) or []
    bases = [bases] if isinstance(bases, str) else list(bases)
    merged: Dict[str, Any] = {}
    for base in bases:
        merged = _merge(merged, load_recipe(os.path.join(os.path.dirname(path), base), (*_chain, path)))
    return _merge(merged, data)


def _coerce(key: str, value: Any, action: argparse.Action, source: str) -> Any:
    """Recipe values get the same types and checks as flags (YAML reads ``1e-3`` as a string)."""
    if value is None:
        return None
    if key == 'model_kwargs':
        if not isinstance(value, dict):
            raise ConfigError(f'{source}: model_kwargs must be a mapping')
        return value
    if isinstance(action, argparse.BooleanOptionalAction):
        if not isinstance(value, bool):
            raise ConfigError(f'{source}: {key} must be true or false, got {value!r}')
        return value
    convert = action.type or (lambda v: v)
    try:
        if action.nargs in ('+', '*') or isinstance(action.nargs, int):
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f'{source}: {key} must be a list, got {value!r}')
            if isinstance(action.nargs, int) and len(value) != action.nargs:
                raise ConfigError(f'{source}: {key} needs {action.nargs} values, got {len(value)}')
            value = [convert(v) for v in value]
        else:
            value = convert(value)
    except (TypeError, ValueError):
        raise ConfigError(f'{source}: bad value for {key}: {value!r}') from None
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f'{source}: {key} must be one of {list(action.choices)}, got {value!r}')
    return value


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    first, _ = parser.parse_known_args(argv)
    actions = _actions(parser)
    if first.config:
        recipe = load_recipe(first.config)
        unknown = [k for k in recipe if k not in actions]
        if unknown:
            hints = {k: difflib.get_close_matches(k, actions, n=1) for k in unknown}
            listed = ', '.join(k + (f' (did you mean {h[0]}?)' if h else '') for k, h in hints.items())
            raise ConfigError(f'unknown option(s) in {first.config}: {listed}')
        parser.set_defaults(**{k: _coerce(k, v, actions[k], first.config) for k, v in recipe.items()})
    args = parser.parse_args(argv)
    if isinstance(args.model_kwargs, list):  # flags give a list of one-key dicts; merge over the recipe's dict
        merged = dict(parser.get_default('model_kwargs') or {})
        for item in args.model_kwargs:
            merged.update(item)
        args.model_kwargs = merged
    validate(args)
    return args


def validate(args: argparse.Namespace) -> None:
    if not args.model:
        raise ConfigError('no model: pass --model NAME or a --config recipe that sets model')
    if not args.data_path:
        raise ConfigError('no data: pass --data-path DIR (with train/ and val/ class folders)')
    if args.train_size_schedule and len(args.train_size_schedule) % 2:
        raise ConfigError('train_size_schedule takes epoch/size pairs, e.g. 0 192 280 224')
    if args.grad_accum_steps < 1 or args.batch_size < 1:
        raise ConfigError('batch_size and grad_accum_steps must be >= 1')
    mixing = args.mixup > 0 or args.cutmix > 0 or args.cutmix_minmax is not None
    if mixing and args.batch_size % 2:
        raise ConfigError(f'mixup/cutmix need an even batch size, got {args.batch_size}')
    if args.distillation_type != 'none' and not args.teacher_model:
        raise ConfigError(f'distillation_type {args.distillation_type} needs --teacher-model')


def to_plain_dict(args: argparse.Namespace) -> Dict[str, Any]:
    """The resolved options as plain Python values (stored in checkpoints and in <output>/config.yaml)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(vars(args).items())}
