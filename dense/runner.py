"""The one runner glue behind detection/{train,test}.py and segmentation/{train,test}.py.

Flags follow mmdet's and mmseg's own tools (``CONFIG [--work-dir] [--resume [CKPT]] [--amp] [--auto-scale-lr]
[--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]``; test adds ``CKPT [--tta] [--out] [--show-dir]``).
Nothing here knows a model: the task (mmdet / mmseg) only picks registries, the TTA wrapper and the visualiser.

What the pinned stack needs on current PyTorch, handled here and never in site-packages:

* Every checkpoint (``load_from``, ``--resume``, test's CKPT, the backbone's ``init_cfg``) goes through
  ``models._checkpoint.load_file(..., mmengine_state=True)``: weights-only, with exactly the non-tensor types mmengine
  writes (message-hub buffers, numpy metadata) allowed for that one load and checked afterwards; then converted
  from the authors' layouts (mmdet 2.x / mmseg 0.x / detectron2) and loaded **strictly**
  (:class:`DenseRunner.load_checkpoint`), where mmengine loads non-strictly and would hide a wrong file behind a
  log warning. Files named by the command line or config are checked before the runner is built, and a checkpoint
  problem ends the command with one line (``error: ...``) and exit status 1.
* The launcher is taken from the environment when not given (torchrun -> pytorch, srun -> slurm, mpirun -> mpi);
  without CUDA the process group uses gloo instead of nccl.
"""
from __future__ import annotations

import argparse
import copy
import glob
import os
import os.path as osp
import re
import sys
from typing import List, Optional

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # configs import `models.mm`; scripts may be started from anywhere
    sys.path.insert(0, REPO_ROOT)

TASKS = {
    'detection': dict(scope='mmdet', what='a detector'),
    'segmentation': dict(scope='mmseg', what='a segmentor'),
}
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


# ------------------------------------------------------------------------------------------------ environment
def detect_launcher(requested: Optional[str]) -> str:
    """``--launcher`` if given, otherwise what the environment says (torchrun / srun / mpirun), else 'none'."""
    if requested:
        return requested
    env = os.environ
    if int(env.get('WORLD_SIZE', '1')) > 1 and 'RANK' in env:
        return 'pytorch'
    if int(env.get('SLURM_NTASKS', '1')) > 1 and 'SLURM_PROCID' in env:
        return 'slurm'
    if int(env.get('OMPI_COMM_WORLD_SIZE', '1')) > 1:
        return 'mpi'
    return 'none'


def _init_torchrun_group() -> None:
    """torchrun's env:// group; mmengine's own init always selects a CUDA device and nccl."""
    import torch.distributed as dist
    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
        dist.init_process_group('nccl')
    else:
        dist.init_process_group('gloo')


# ------------------------------------------------------------------------------------------------- runner
def _runner_class():
    from mmengine.runner import Runner

    class DenseRunner(Runner):
        """mmengine's Runner whose every checkpoint load is weights-only, layout-converted and strict."""

        def load_checkpoint(self, filename, map_location='cpu', strict=False, revise_keys=None):
            from models.mm import load_dense_checkpoint
            checkpoint = load_dense_checkpoint(self.model, filename)  # strict, whatever mmengine asks for
            self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
            self._has_loaded = True
            self.logger.info(f'Loaded checkpoint (strict) from {filename}')
            return checkpoint

    return DenseRunner


def build_runner(cfg):
    check_checkpoint_files(cfg)
    return _runner_class().from_cfg(cfg)


def _pretrained_files(node) -> List[str]:
    """``checkpoint`` of every ``init_cfg=dict(type='Pretrained', ...)`` under a model config."""
    found = []
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained' and isinstance(node.get('checkpoint'), str):
            found.append(node['checkpoint'])
        for value in node.values():
            found += _pretrained_files(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found += _pretrained_files(value)
    return found


def check_checkpoint_files(cfg) -> None:
    """Read every checkpoint the config names (``load_from``, ``Pretrained`` init) the way the runner will, so a
    missing, truncated or refused file fails in a second, before datasets and models are built."""
    from models._checkpoint import load_file
    paths = ([cfg.load_from] if cfg.get('load_from') else []) + _pretrained_files(cfg.get('model', {}))
    for path in paths:
        if '://' not in path:  # a URL is mmengine's to fetch (and is loaded weights-only all the same)
            load_file(path, mmengine_state=True)


# ------------------------------------------------------------------------- the original repositories' spellings
# mmdet 2.x / mmseg 0.x tools (RapidNet, FasterNet, RepNeXt ship them) and MPViT's detectron2 config names: every
# spelling their READMEs use is accepted here; the ones with no meaning print one line saying what to use instead.
def note(text: str) -> None:
    if os.environ.get('RANK', '0') == '0':
        print(f'note: {text}', flush=True)


_SYNONYMS = {'xs': 'xsmall', 'mask_rcnn': 'mask-rcnn', 'faster_rcnn': 'faster-rcnn'}


def _tokens(name: str) -> set:
    base = osp.splitext(osp.basename(name))[0].lower()
    for old, new in _SYNONYMS.items():
        base = re.sub(rf'(?<![a-z0-9]){old}(?![a-z0-9])', new, base)
    return set(re.split(r'[_\-.]+', base.replace('mask-rcnn', 'maskrcnn').replace('faster-rcnn', 'fasterrcnn'))) - {''}


def resolve_config(path: str, task: str) -> str:
    """``path`` itself when it exists; otherwise the one config of ``configs/<task>/`` whose name has every token
    of ``path``'s name (the originals' ``mask_rcnn_rapidnet_m_fpn_1x_coco.py``, ``fpn_rapidnet_m_ade20k_40k.py``,
    MPViT's ``retinanet_mpvit_small_ms_3x.yaml``)."""
    if osp.isfile(path):
        return path
    wanted = _tokens(path)
    pattern = osp.join(REPO_ROOT, 'configs', task, '*', '*.py')
    found = [p for p in sorted(glob.glob(pattern)) if '_base_' not in p and wanted <= _tokens(p)]
    if len(found) == 1:
        note(f'{path}: this is {osp.relpath(found[0])} here')
        return found[0]
    if found:
        raise SystemExit(f'error: config {path} not found; it could be any of '
                         f'{", ".join(osp.relpath(p) for p in found[:4])}')
    raise SystemExit(f'error: config file not found: {path} (configs/{task}/<family>/ has the paper configs)')


def _backbone_channels(backbone: dict) -> Optional[List[int]]:
    """Channels of the levels the wrapper returns (its default strides 4, 8, 16, 32)."""
    import timm

    import models  # noqa: F401
    strides = tuple(backbone.get('out_strides') or (4, 8, 16, 32))
    try:
        features = timm.create_model(backbone['model_name'], features_only=True, **(backbone.get('model_kwargs') or {}))
    except Exception:  # an unknown name: the runner reports it when it builds the model
        return None
    info = {r: c for r, c in zip(features.feature_info.reduction(), features.feature_info.channels())}
    return [info[s] for s in strides] if all(s in info for s in strides) else None


def set_backbone_model(cfg, name: str, flag: str) -> None:
    """RapidNet's ``--rapidnet_model NAME``: the backbone's model, and the neck's input channels to match."""
    backbone = cfg.model.backbone
    backbone.model_name = name
    changes = [f'model.backbone.model_name={name}']
    channels = _backbone_channels(backbone)
    neck = cfg.model.get('neck')
    if channels and isinstance(neck, dict) and isinstance(neck.get('in_channels'), (list, tuple)) \
            and len(neck['in_channels']) == len(channels) and list(neck['in_channels']) != channels:
        neck.in_channels = channels
        changes.append(f'model.neck.in_channels={channels}')
    note(f'{flag} {name}: --cfg-options ' + ' '.join(changes))


def translate_pretrained(cfg) -> None:
    """mmdet 2.x ``model.pretrained=FILE`` (FasterNet's README): the backbone's ``Pretrained`` init here."""
    pretrained = cfg.model.pop('pretrained', None)
    if pretrained:
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        note(f'model.pretrained={pretrained}: model.backbone.init_cfg=dict(type=Pretrained, checkpoint=...)')


def _legacy_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--options', nargs='+', action=_dict_action(), default=None, help=argparse.SUPPRESS)
    for flag in ('--gpu-id', '--gpus'):
        parser.add_argument(flag, type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument('--gpu-ids', type=int, nargs='+', default=None, help=argparse.SUPPRESS)


def _dict_action():
    from mmengine.config import DictAction
    return DictAction


def _legacy_device_notes(args) -> None:
    for flag in ('gpu_id', 'gpus', 'gpu_ids'):
        if getattr(args, flag, None) is not None:
            note(f'--{flag.replace("_", "-")}: one process per GPU here: torchrun --nproc_per_node N '
                 f'(or dist_train.sh / dist_test.sh CONFIG ... N)')
    if getattr(args, 'options', None):
        note('--options: --cfg-options')
        args.cfg_options = {**(args.options or {}), **(args.cfg_options or {})}


def fuse_for_inference(model):
    from mmcv.cnn import fuse_conv_bn
    from mmengine.model import is_model_wrapper
    net = model.module if is_model_wrapper(model) else model
    backbone = getattr(net, 'backbone', None)
    if backbone is not None and hasattr(backbone, 'model'):
        _fold(backbone.model.eval())
    return fuse_conv_bn(model)


def _fold(module) -> None:
    """timm's reparameterize_model walk, except that a ``fuse()`` that fails is skipped: features_only prunes a
    family's classifier (RapidNet's BN + linear head), whose own fuse() then meets an Identity."""
    for name, child in list(module.named_children()):
        if hasattr(child, 'fuse'):
            try:
                setattr(module, name, child.fuse())
                continue
            except AttributeError:
                pass
        elif hasattr(child, 'reparameterize'):
            child.reparameterize()
        elif hasattr(child, 'switch_to_deploy'):
            child.switch_to_deploy()
        _fold(child)


# -------------------------------------------------------------------------------------------------- config
def _common_args(parser: argparse.ArgumentParser) -> None:
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='override config entries, key=value (e.g. train_dataloader.batch_size=4)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default=None,
                        help='job launcher; default: detected from torchrun / SLURM / OpenMPI variables')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)


def load_config(args, launcher: str, task: Optional[str] = None):
    from mmengine.config import Config
    if task is not None:
        args.config = resolve_config(args.config, task)
    cfg = Config.fromfile(args.config)
    cfg.launcher = launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    translate_pretrained(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if launcher != 'none' and not torch.cuda.is_available():
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)
    return cfg


def _prepare_process(args) -> str:
    launcher = detect_launcher(args.launcher)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if launcher == 'pytorch':
        _init_torchrun_group()
    return launcher


# --------------------------------------------------------------------------------------------------- train
def build_train_parser(task: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=f'Train {TASKS[task]["what"]} ({TASKS[task]["scope"]})')
    parser.add_argument('config', help='config file')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CKPT, or from the latest checkpoint in the work dir when no CKPT')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (dynamic loss scale)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale the lr by total batch / the config's auto_scale_lr.base_batch_size")
    parser.add_argument('--rapidnet_model', '--backbone-model', dest='backbone_model', default=None,
                        metavar='NAME', help="set the backbone's timm model (and the neck's input channels)")
    g = parser.add_argument_group('mmdet 2.x / mmseg 0.x spellings')
    g.add_argument('--resume-from', default=None, help='same as --resume CKPT')
    g.add_argument('--auto-resume', action='store_true', help='same as --resume (latest in the work dir)')
    g.add_argument('--no-validate', action='store_true', help='no validation during training')
    g.add_argument('--seed', type=int, default=None, help='randomness.seed')
    g.add_argument('--diff-seed', action='store_true', help='randomness.diff_rank_seed=True')
    g.add_argument('--deterministic', action='store_true', help='randomness.deterministic=True')
    _legacy_common(parser)
    _common_args(parser)
    return parser


def run_train(task: str, argv: Optional[List[str]] = None):
    """Parse ``argv``, build the runner, train; returns the runner."""
    args = build_train_parser(task).parse_args(argv)
    _legacy_device_notes(args)
    launcher = _prepare_process(args)
    cfg = load_config(args, launcher, task)
    if args.backbone_model:
        set_backbone_model(cfg, args.backbone_model, '--rapidnet_model')
    if args.resume_from:
        args.resume = args.resume_from
    elif args.auto_resume and args.resume is None:
        args.resume = 'auto'
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    for key, value in (('seed', args.seed), ('diff_rank_seed', args.diff_seed or None),
                       ('deterministic', args.deterministic or None)):
        if value is not None:
            cfg.setdefault('randomness', {})[key] = value
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise SystemExit(f'{args.config}: --auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    runner = build_runner(cfg)
    runner.train()
    return runner


# ---------------------------------------------------------------------------------------------------- test
def build_test_parser(task: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=f'Test {TASKS[task]["what"]} ({TASKS[task]["scope"]})')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help="checkpoint: ours, or the authors' mmdet 2.x / mmseg 0.x / detectron2")
    parser.add_argument('--checkpoint', dest='checkpoint_flag', default=None, metavar='CKPT',
                        help='the checkpoint as an option (RapidNet / RepNeXt test.py spelling)')
    parser.add_argument('--eval', nargs='+', default=None, metavar='METRIC',
                        help='metrics: bbox, segm, proposal (detection); mIoU, mDice, mFscore (segmentation)')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='fold conv-BN pairs (and the backbone\'s re-parameterised branches) before testing')
    g = parser.add_argument_group('mmdet 2.x / mmseg 0.x spellings')
    g.add_argument('--eval-options', nargs='+', action=_dict_action(), default=None,
                   help='merged into test_evaluator (e.g. classwise=True)')
    g.add_argument('--format-only', action='store_true', help='test_evaluator.format_only=True (no metrics)')
    g.add_argument('--show-score-thr', type=float, default=None, help='score threshold of painted boxes')
    g.add_argument('--gpu-collect', action='store_true', help="test_evaluator.collect_device='gpu'")
    g.add_argument('--tmpdir', default=None, help=argparse.SUPPRESS)
    g.add_argument('--aug-test', action='store_true', help='same as --tta')
    g.add_argument('--opacity', type=float, default=None, help='painted mask opacity (segmentation)')
    _legacy_common(parser)
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation: flip (detection, box-only detectors), multi-scale + flip '
                             '(segmentation)')
    parser.add_argument('--out', help='detection: dump predictions to a .pkl; segmentation: write predictions '
                                      'to this directory')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='save painted predictions under this directory')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds between shown images')
    _common_args(parser)
    return parser


def _enable_visualization(cfg, args, task: str) -> None:
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise SystemExit('--show/--show-dir need default_hooks.visualization in the config')
    hook['draw'] = True
    if args.show:
        hook['show'], hook['wait_time'] = True, args.wait_time
    if args.show_dir:
        if task == 'detection':
            hook['test_out_dir'] = args.show_dir
        else:
            cfg.visualizer['save_dir'] = args.show_dir


def _enable_tta(cfg, task: str) -> None:
    if task == 'segmentation':
        if 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
            raise SystemExit('--tta needs tta_pipeline and tta_model in the config')
    else:
        if cfg.model.get('roi_head', {}).get('mask_head'):
            raise SystemExit("--tta: mmdet 3.3's DetTTAModel merges boxes only, so it cannot test a Mask R-CNN config")
        cfg.setdefault('tta_model', dict(type='DetTTAModel', tta_cfg=dict(
            nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)))
        if 'tta_pipeline' not in cfg:  # the test pipeline, once plain and once flipped
            dataset = cfg.test_dataloader.dataset
            while 'dataset' in dataset:
                dataset = dataset['dataset']
            pipeline = copy.deepcopy(dataset.pipeline)
            pipeline[-1] = dict(type='TestTimeAug', transforms=[
                [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
                [dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                        'scale_factor', 'flip', 'flip_direction'))]])
            cfg.tta_pipeline = pipeline
    cfg.model = dict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def _evaluators(cfg):
    evaluator = cfg.test_evaluator
    return list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]


def _configure_evaluator(cfg, args, task: str) -> None:
    """mmdet 2.x ``--eval bbox segm`` / mmseg 0.x ``--eval mIoU`` and their companions, on the 3.x evaluator."""
    for evaluator in _evaluators(cfg):
        if args.eval:
            if task == 'detection':
                evaluator['metric'] = list(args.eval)
            elif task == 'segmentation':
                evaluator['iou_metrics'] = list(args.eval)
        if args.eval_options:
            evaluator.update(args.eval_options)
        if args.format_only:
            evaluator['format_only'] = True
        if args.gpu_collect:
            evaluator['collect_device'] = 'gpu'
    if args.show_score_thr is not None and cfg.default_hooks.get('visualization') is not None:
        cfg.default_hooks.visualization['score_thr'] = args.show_score_thr
    if args.opacity is not None and cfg.get('visualizer') is not None:
        cfg.visualizer['alpha'] = args.opacity


def _fuse_hook():
    from mmengine.hooks import Hook

    class FuseConvBN(Hook):
        """``--fuse-conv-bn``: fold once the checkpoint is loaded, before the first test batch."""

        def before_test(self, runner) -> None:
            fuse_for_inference(runner.model)
            runner.logger.info('--fuse-conv-bn: conv-BN pairs and re-parameterised branches folded')

    return FuseConvBN()


def run_test(task: str, argv: Optional[List[str]] = None) -> dict:
    """Parse ``argv``, load CKPT strictly, run the test loop; returns the metrics dict."""
    parser = build_test_parser(task)
    args = parser.parse_args(argv)
    if args.checkpoint and args.checkpoint_flag and args.checkpoint != args.checkpoint_flag:
        parser.error(f'two checkpoints: {args.checkpoint} and --checkpoint {args.checkpoint_flag}')
    args.checkpoint = args.checkpoint or args.checkpoint_flag
    if not args.checkpoint:
        parser.error('a checkpoint is needed: CONFIG CKPT or --checkpoint CKPT')
    _legacy_device_notes(args)
    if args.tmpdir:
        note('--tmpdir: results are collected by mmengine (collect_device cpu/gpu); no temporary folder to name')
    args.tta = args.tta or args.aug_test
    launcher = _prepare_process(args)
    cfg = load_config(args, launcher, task)
    cfg.load_from, cfg.resume = args.checkpoint, False
    _configure_evaluator(cfg, args, task)
    if args.show or args.show_dir:
        _enable_visualization(cfg, args, task)
    if args.tta:
        _enable_tta(cfg, task)
    if args.out and task == 'segmentation':
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    runner = build_runner(cfg)
    if args.fuse_conv_bn:
        runner.register_hook(_fuse_hook(), priority='VERY_HIGH')
    if args.out and task == 'detection':
        from mmdet.evaluation import DumpDetResults
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit('--out must name a .pkl file')
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    return runner.test()


def main(task: str, mode: str, argv: Optional[List[str]] = None) -> int:
    """The scripts' entry: ``mode`` 'train' or 'test'. A checkpoint problem is one line on stderr, exit status 1."""
    from models._checkpoint import CheckpointError
    try:
        (run_train if mode == 'train' else run_test)(task, argv)
    except CheckpointError as err:
        rank = os.environ.get('RANK', '0')
        print(('' if rank == '0' else f'[rank {rank}] ') + f'error: {err}', file=sys.stderr, flush=True)
        return 1
    return 0
