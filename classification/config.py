"""One config object from a recipe file and command-line flags.

Precedence: built-in defaults < recipe file (``--config``, with ``_base_`` inheritance) < flags given on the command
line. Recipe keys are the flag names with ``_`` for ``-`` (``--lr-base`` is ``lr_base:``); an unknown key is an
error, not a silent no-op. ``_base_`` is a path (or list of paths) relative to the file that names it; later files
override earlier ones and a ``model_kwargs`` mapping is merged key by key.
"""
import argparse
import difflib
import glob
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from .errors import ConfigError

BASE_KEY = '_base_'


def str2dict(text: str) -> Dict[str, Any]:
    """``key=value`` -> ``{key: yaml(value)}``, for ``--model-kwargs act_layer=relu drop_rate=0.1``; one mapping
    ``'{drop_path_rate: 0.1}'`` (MPViT's ``--model_kwargs``, a Python dict literal there) is read as YAML."""
    if text.strip().startswith('{'):
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f'expected a mapping like {{drop_path_rate: 0.1}}, got {text!r}')
        return value
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
    g.add_argument('--config', '-c', '--cfg', default=None,
                   help='recipe YAML (configs/classification/<family>/<variant>.yaml); FasterNet\'s cfg/fasternet_<v>.yaml '
                        'names map to ours')
    g.add_argument('--model', default=None, help='any name timm.create_model knows after `import models`')
    g.add_argument('--data-path', '--data_dir', default=None, help='folder with train/<class>/* and val/<class>/* images')
    g.add_argument('--output-dir', '--output_dir', '--model_ckpt_dir', default=None, help='checkpoints and logs (default output/classification/<model>)')
    g.add_argument('--num-classes', type=int, default=None, help='default: the number of class folders')
    g.add_argument('--seed', type=int, default=0, help='base seed; rank r uses seed + r')
    g.add_argument('--workers', '--num_workers', '-n', '-j', type=int, default=4, help='data loader worker processes per rank')
    g.add_argument('--pin-mem', '--pin_memory', action=flag, default=True)
    g.add_argument('--device', default=None, help='default: cuda:<local rank> when CUDA is available, else cpu')
    g.add_argument('--dist-backend', default=None, help='default: nccl on GPU, gloo on CPU')
    g.add_argument('--threads', type=int, default=None, help='torch intra-op threads per process')
    g.add_argument('--eval', '--test_phase', action=flag, default=False, help='only evaluate (--resume, --pretrained-file, --finetune)')
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
    g.add_argument('--model-kwargs', '--model_kwargs', type=str2dict, nargs='*', default={}, metavar='KEY=VALUE',
                   help="key=value pairs, or one mapping ('{drop_path_rate: 0.1}', MPViT's spelling)")
    g.add_argument('--channels-last', action=flag, default=False)
    g.add_argument('--compile', default=None, nargs='?', const='default',
                   help='torch.compile mode (default, reduce-overhead, max-autotune)')
    g.add_argument('--sync-bn', action=flag, default=False, help='SyncBatchNorm across ranks (GPU only)')
    g.add_argument('--find-unused-parameters', action=flag, default=False)
    g.add_argument('--bn-eval', '--set_bn_eval', action=flag, default=False,
                   help='train with BatchNorm layers in eval mode (running statistics frozen; for fine-tuning)')
    g.add_argument('--deploy', '--fuse_conv_bn', action=flag, default=False,
                   help='--eval: evaluate the deploy form (timm.utils.reparameterize_model: conv-BN pairs and '
                        're-parameterised branches folded)')
    g.add_argument('--dist-bn', default='reduce', choices=['reduce', 'broadcast', ''],
                   help="after each epoch: average BN running stats over ranks (reduce) or copy rank 0's")

    g = p.add_argument_group('data')
    g.add_argument('--input-size', type=int, default=None, help='square train/eval size (model default if unset)')
    g.add_argument('--crop-pct', '--crop_pct', type=float, default=None, help='eval: resize to size/crop_pct, centre crop')
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
    g.add_argument('--three-augment', '--ThreeAugment', action=flag, default=False,
                   help="DeiT III's 3-Augment (random resized crop, flip, one of grayscale / solarize / blur, colour "
                        'jitter) instead of RandAugment and random erasing')
    g.add_argument('--data-set', default='IMNET', choices=DATA_SETS,
                   help='IMNET: --data-path holds train/ and val/ class folders; CIFAR: the CIFAR-100 python files '
                        '(torchvision layout) in --data-path')

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
    g.add_argument('--decay-rate', '--dr', type=float, default=0.1)
    g.add_argument('--sched-on-updates', action=flag, default=False,
                   help='step the schedule every optimizer update instead of every epoch')
    g.add_argument('--lr-noise', type=float, nargs='+', default=None, metavar='PCT',
                   help="timm's lr noise: schedule fraction(s) where it starts (and ends)")
    g.add_argument('--lr-noise-pct', type=float, default=0.67)
    g.add_argument('--lr-noise-std', type=float, default=1.0)
    g.add_argument('--patience-epochs', type=int, default=10, help="'plateau' scheduler patience")

    g = p.add_argument_group('EMA, AMP, distillation')
    g.add_argument('--model-ema', action=flag, default=False)
    g.add_argument('--model-ema-decay', type=float, default=0.99996)
    g.add_argument('--model-ema-warmup', action=flag, default=False)
    g.add_argument('--model-ema-eval', action=flag, default=True, help='also evaluate the EMA weights')
    g.add_argument('--amp', action=flag, default=False)
    g.add_argument('--disable_amp', action='store_false', dest='amp', help='MPViT spelling of --no-amp')
    g.add_argument('--amp-dtype', default='bfloat16', choices=['bfloat16', 'float16'])
    g.add_argument('--distillation-type', default='none', choices=['none', 'soft', 'hard'])
    g.add_argument('--distillation-alpha', type=float, default=0.5)
    g.add_argument('--distillation-tau', type=float, default=1.0)
    g.add_argument('--teacher-model', default=None, help='timm name of the teacher (e.g. regnety_160.deit_in1k)')
    g.add_argument('--teacher-path', default=None, help='teacher weights file (else timm pretrained weights)')
    add_legacy_options(p)
    return p


# ------------------------------------------------------------------------------- the original repositories' flags
# Spellings of the DeiT-derived main.py of RapidNet, RepNeXt and MPViT, of FasterNet's train_test.py and of timm's
# train.py (ReXNet's README) that are not an option string above. Options with a meaning here change the run;
# the others are accepted and print one line saying what to use instead (never 'unrecognized arguments').
DATA_SETS = ('IMNET', 'CIFAR', 'INAT', 'INAT19')
NOTES = '_legacy_notes'
_NO_WANDB = 'no wandb here: metrics go to OUTPUT/log.jsonl and TensorBoard (OUTPUT/tb)'
NOTE_ONLY = {  # option strings -> (number of values, what to use here)
    ('--dist-eval',): (0, 'evaluation is always distributed here, each image counted once over all ranks'),
    ('--model-ema-force-cpu',): (0, 'the EMA copy stays on the training device (ModelEmaV3); it is small next to '
                                    'the optimizer state'),
    ('--start_epoch',): (1, 'the start epoch comes from the checkpoint (--resume CKPT or --resume auto)'),
    ('--save_freq',): (1, 'checkpoint-last.pth is written every epoch (atomically; --resume auto continues), '
                          'with checkpoint-prev.pth and checkpoint-best.pth beside it'),
    ('--world_size',): (1, 'the world size comes from the launcher (torchrun --nnodes/--nproc_per_node, srun, '
                           'mpirun)'),
    ('--dist_url',): (1, 'rendezvous is env:// (MASTER_ADDR / MASTER_PORT, set by torchrun)'),
    ('--project',): (1, _NO_WANDB),
    ('--wandb_project_name',): (1, _NO_WANDB),
    ('--wandb_save_dir',): (1, _NO_WANDB),
    ('--wandb_offline',): (0, _NO_WANDB),
    ('--debug',): (0, 'no debugpy listener here; run main.py under your debugger (python -m debugpy ...)'),
    ('--resplit',): (0, 'no augmentation splits here; random erasing (--reprob) applies to every sample'),
    ('--inat-category',): (1, 'iNaturalist is not read here (see --data-set)'),
    ('--drop-block',): (1, 'none of the five families has DropBlock; for a timm model that takes it use '
                           '--model-kwargs drop_block_rate=X'),
    ('-g', '--gpus'): (1, 'one device per process here: start N processes with torchrun --nproc_per_node N'),
    ('--num_nodes',): (1, 'use torchrun --nnodes N (or srun / submit.py --nodes N)'),
    ('-d', '--dev'): (1, 'no fast_dev_run here: try a run on the synthetic set (python tools/make_synthetic.py)'),
    ('--measure_latency',): (0, 'latency and throughput: python tools/benchmark.py --models NAME'),
    ('--pl_ckpt_2_torch_pth',): (0, 'main.py reads Lightning .ckpt files as they are; to convert one: '
                                    'python tools/convert.py NAME FILE.ckpt OUT.pth'),
}


def _add_note(namespace: argparse.Namespace, text: str) -> None:
    setattr(namespace, NOTES, (getattr(namespace, NOTES, None) or []) + [text])


class NoteAction(argparse.Action):
    """An original option without a meaning here: accepted; one printed line says what to use instead."""

    def __init__(self, option_strings, dest, nargs=0, note='', **kwargs):
        self.note = note
        super().__init__(option_strings, argparse.SUPPRESS, nargs=nargs, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        _add_note(namespace, f'{option_string}: {self.note}')


class GradAccumAction(argparse.Action):
    """RapidNet's ``--gradient_accumulation`` (``type=bool``, so any non-empty value is true): its engine then
    accumulates 4 micro-batches per optimizer step."""

    def __call__(self, parser, namespace, values, option_string=None):
        steps = 1 if str(values).strip().lower() in ('', '0', 'false', 'no', 'off') else 4
        namespace.grad_accum_steps = steps
        _add_note(namespace, f'{option_string} {values}: --grad-accum-steps {steps}')


def add_legacy_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the original repositories' spellings (docs/migrating.md)")
    for names, (nargs, note) in NOTE_ONLY.items():
        g.add_argument(*names, action=NoteAction, nargs=nargs, note=note, help=argparse.SUPPRESS)
    g.add_argument('--gradient_accumulation', action=GradAccumAction, dest='grad_accum_steps',
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    g.add_argument('--pconv_fw_type', default=None, choices=['split_cat', 'slicing'],
                   help="FasterNet's partial-conv form (same as --model-kwargs pconv_fw_type=X)")
    g.add_argument('--checkpoint_path', default=None,
                   help='FasterNet: with --test_phase the weights evaluated (as --eval --resume FILE), otherwise '
                        'the weights training starts from (as --finetune FILE)')
    # FasterNet's -b / -e are the batch over all processes (Lightning DDP divides them by the GPU count)
    g.add_argument('-b', '--batch_size', dest='global_batch_size', type=int, default=None,
                   help='FasterNet: global training batch (per process = value / world size)')
    g.add_argument('-e', '--batch_size_eva', dest='global_eval_batch_size', type=int, default=None,
                   help='FasterNet: global evaluation batch (per process = value / world size)')
    g.add_argument('--rex-width-mult', type=float, default=None,
                   help="ReXNet's timm fork: --model rexnetv1 --rex-width-mult 1.0 is --model rexnet_100")
    g.add_argument('data_dir', nargs='?', default=None, help=argparse.SUPPRESS)  # timm train.py's positional DIR
    # torch.distributed.launch without --use_env appends --local-rank=N (torch < 2: --local_rank N); the rank is
    # read from LOCAL_RANK, which the launcher exports as well
    g.add_argument('--local-rank', '--local_rank', type=int, default=None, help=argparse.SUPPRESS)


def _actions(parser: argparse.ArgumentParser) -> Dict[str, argparse.Action]:
    """Options a recipe may set (the legacy spellings are for command lines only)."""
    actions: Dict[str, argparse.Action] = {}
    for action in parser._actions:  # the first action of a dest is ours (--amp before MPViT's --disable_amp)
        if action.dest not in ('help', 'config', argparse.SUPPRESS) + LEGACY_DESTS:
            actions.setdefault(action.dest, action)
    return actions


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


LEGACY_DESTS = ('data_dir', 'local_rank', 'checkpoint_path', 'rex_width_mult', 'pconv_fw_type',
                'global_batch_size', 'global_eval_batch_size')
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def canonical_model(args: argparse.Namespace) -> Optional[str]:
    """The timm name behind the originals' model spellings (``RapidNet_M``; timm train.py's ``rexnetv1`` with
    ``--rex-width-mult``)."""
    name = args.model
    if name and (args.rex_width_mult is not None or name.lower() in ('rexnetv1', 'rexnetv1_lite')):
        width = args.rex_width_mult if args.rex_width_mult is not None else 1.0
        lite = name.lower().endswith('_lite')
        return f'rexnet{"_lite" if lite else ""}_{int(round(width * 100)):03d}'
    return name


def recipe_for(model: Optional[str]) -> Optional[str]:
    """The variant recipe of configs/classification/ whose ``model`` is ``model`` (case-insensitive: the
    official ``RapidNet_M`` is ``rapidnet_m``), if any."""
    if not model:
        return None
    for path in sorted(glob.glob(os.path.join(REPO_ROOT, 'configs', 'classification', '*', '*.yaml'))):
        if os.path.basename(path).startswith('_'):
            continue
        with open(path) as f:
            try:
                named = (yaml.safe_load(f) or {}).get('model')
            except yaml.YAMLError:
                continue
        if isinstance(named, str) and named.lower() == model.lower():
            return path
    return None


def resolve_recipe(path: str) -> Tuple[str, Optional[str]]:
    """(recipe path, note): FasterNet's ``cfg/fasternet_<variant>.yaml`` (its own keys, a Lightning run) is our
    ``configs/classification/fasternet/<variant>.yaml``, the same recipe in this project's keys."""
    match = re.fullmatch(r'fasternet_(t0|t1|t2|s|m|l)\.yaml', os.path.basename(path))
    ours = os.path.join(REPO_ROOT, 'configs', 'classification', 'fasternet', f'{match.group(1)}.yaml') if match else None
    if ours and os.path.isfile(ours):
        foreign = not os.path.isfile(path)
        if not foreign:
            with open(path) as f:
                try:
                    foreign = 'model_name' in (yaml.safe_load(f) or {})  # FasterNet's cfg keys, not a recipe
                except yaml.YAMLError:
                    foreign = False
        if foreign:
            return ours, f'{path}: FasterNet cfg file, read as {os.path.relpath(ours, os.getcwd())}'
    return path, None


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    first, _ = parser.parse_known_args(argv)
    actions = _actions(parser)
    recipe_note = None
    if first.config and first.config.lower() == 'none':  # no recipe, not even the model's own
        first.config = None
        parser.set_defaults(config=None)
    elif not first.config and first.model and not first.eval:
        first.config = recipe_for(canonical_model(first))
        if first.config:
            recipe_note = (f'--model {first.model}: training with the paper recipe {os.path.relpath(first.config)} '
                           f'(as the original main.py defaults do; --config none for the built-in defaults)')
    if first.config:
        first.config, fasternet_note = resolve_recipe(first.config)
        recipe_note = recipe_note or fasternet_note
        parser.set_defaults(config=first.config)
        recipe = load_recipe(first.config)
        unknown = [k for k in recipe if k not in actions]
        if unknown:
            hints = {k: difflib.get_close_matches(k, actions, n=1) for k in unknown}
            listed = ', '.join(k + (f' (did you mean {h[0]}?)' if h else '') for k, h in hints.items())
            raise ConfigError(f'unknown option(s) in {first.config}: {listed}')
        parser.set_defaults(**{k: _coerce(k, v, actions[k], first.config) for k, v in recipe.items()})
    args = parser.parse_args(argv)
    args.config = first.config  # FasterNet's file name resolved, a recipe picked by --model, or none
    notes = ([recipe_note] if recipe_note else []) + list(getattr(args, NOTES, None) or [])
    if hasattr(args, NOTES):
        delattr(args, NOTES)
    if isinstance(args.model_kwargs, list):  # flags give a list of one-key dicts; merge over the recipe's dict
        merged = dict(parser.get_default('model_kwargs') or {})
        for item in args.model_kwargs:
            merged.update(item)
        args.model_kwargs = merged
    notes += translate_legacy(args)
    for line in notes:
        if os.environ.get('RANK', '0') == '0':  # once per job, not once per rank
            print(f'note: {line}', flush=True)
    validate(args)
    return args


def translate_legacy(args: argparse.Namespace) -> List[str]:
    """Fold the original spellings that need more than an alias into this project's options; the notes."""
    notes = []
    if args.data_dir:
        if args.data_path and os.path.abspath(args.data_path) != os.path.abspath(args.data_dir):
            raise ConfigError(f'unexpected argument {args.data_dir!r} (the data folder is --data-path '
                              f'{args.data_path})')
        args.data_path = args.data_dir
    if args.local_rank is not None and 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.pconv_fw_type:
        args.model_kwargs = {**(args.model_kwargs or {}), 'pconv_fw_type': args.pconv_fw_type}
    name = canonical_model(args)
    if name != args.model:
        notes.append(f'--model {args.model}' + (f' --rex-width-mult {args.rex_width_mult:g}'
                                                 if args.rex_width_mult is not None else '') + f': --model {name}')
        args.model = name
    if args.checkpoint_path:
        if args.eval:
            args.resume = args.checkpoint_path
            notes.append(f'--checkpoint_path with --test_phase: --eval --resume {args.checkpoint_path}')
        else:
            args.finetune = args.checkpoint_path
            notes.append(f'--checkpoint_path: --finetune {args.checkpoint_path}')
    return notes


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
