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
import os
import os.path as osp
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


# -------------------------------------------------------------------------------------------------- config
def _common_args(parser: argparse.ArgumentParser) -> None:
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='override config entries, key=value (e.g. train_dataloader.batch_size=4)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default=None,
                        help='job launcher; default: detected from torchrun / SLURM / OpenMPI variables')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)


def load_config(args, launcher: str):
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    cfg.launcher = launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
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
    _common_args(parser)
    return parser


def run_train(task: str, argv: Optional[List[str]] = None):
    """Parse ``argv``, build the runner, train; returns the runner."""
    args = build_train_parser(task).parse_args(argv)
    launcher = _prepare_process(args)
    cfg = load_config(args, launcher)
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
    parser.add_argument('checkpoint', help="checkpoint: ours, or the authors' mmdet 2.x / mmseg 0.x / detectron2")
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


def run_test(task: str, argv: Optional[List[str]] = None) -> dict:
    """Parse ``argv``, load CKPT strictly, run the test loop; returns the metrics dict."""
    args = build_test_parser(task).parse_args(argv)
    launcher = _prepare_process(args)
    cfg = load_config(args, launcher)
    cfg.load_from, cfg.resume = args.checkpoint, False
    if args.show or args.show_dir:
        _enable_visualization(cfg, args, task)
    if args.tta:
        _enable_tta(cfg, task)
    if args.out and task == 'segmentation':
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    runner = build_runner(cfg)
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
