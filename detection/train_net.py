"""MPViT's detectron2 entry point, translated: ``train_net.py --config-file X [--eval-only] [--num-gpus N]
[MODEL.WEIGHTS FILE] [OUTPUT_DIR DIR]`` on this project's mmdet configs.

    python detection/train_net.py --config-file configs/retinanet/retinanet_mpvit_small_ms_3x.yaml --eval-only \\
        --num-gpus 1 MODEL.WEIGHTS retinanet_mpvit_small_ms_3x.pth

* ``--config-file``: MPViT's yaml name is matched to ``configs/detection/mpvit/`` (``retinanet_mpvit_small_ms_3x``
  is ``retinanet_mpvit-small_fpn_ms-3x_coco.py``); one of ours may be named directly.
* ``--eval-only``: detection/test.py with ``MODEL.WEIGHTS`` as the checkpoint (MPViT's detectron2 releases are
  converted on load: renamed keys, RetinaNet anchors reordered). Without it: detection/train.py, ``MODEL.WEIGHTS``
  being the backbone's ImageNet file.
* ``--num-gpus N`` (N > 1) starts N processes through torch.distributed.run; ``--resume``, ``OUTPUT_DIR``,
  ``SOLVER.MAX_ITER``, ``SOLVER.CHECKPOINT_PERIOD``, ``TEST.EVAL_PERIOD``, ``SEED`` map to their mmengine entries;
  ``key=value`` items are passed as ``--cfg-options``; other detectron2 keys are reported.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dense import runner as dense_runner  # noqa: E402


# detectron2 keys with an mmengine counterpart in the iteration-based MPViT configs
D2_KEYS = {
    'SOLVER.MAX_ITER': ('train_cfg.max_iters',),
    'SOLVER.CHECKPOINT_PERIOD': ('default_hooks.checkpoint.interval',),
    'TEST.EVAL_PERIOD': ('train_cfg.val_interval',),
    'SEED': ('randomness.seed',),
}


def translate(args):
    """(mode, argv for dense_runner) from detectron2's arguments."""
    cfg_options = [o for o in args.opts if '=' in o]  # mmengine's key=value, passed through
    opts = [o for o in args.opts if '=' not in o]
    if len(opts) % 2:
        raise SystemExit(f'error: detectron2 options come in KEY VALUE pairs, got {" ".join(opts)}')
    pairs = dict(zip(opts[0::2], opts[1::2]))
    weights = pairs.pop('MODEL.WEIGHTS', None)
    work_dir = pairs.pop('OUTPUT_DIR', None)
    for key, value in pairs.items():
        if key in D2_KEYS:
            cfg_options += [f'{target}={value}' for target in D2_KEYS[key]]
        else:
            dense_runner.note(f'{key}: a detectron2 config key; set the mmdet config entry with --cfg-options')
    argv = [args.config_file] + (['--work-dir', work_dir] if work_dir else [])
    if cfg_options:
        argv += ['--cfg-options', *cfg_options]
    if args.eval_only:
        if not weights:
            raise SystemExit('error: --eval-only needs MODEL.WEIGHTS FILE (the checkpoint to evaluate)')
        return 'test', argv[:1] + [fetch(weights)] + argv[1:]
    if weights:
        argv += ['--cfg-options', f'model.backbone.init_cfg.checkpoint={fetch(weights)}']
    if args.resume:
        argv.append('--resume')
    return 'train', argv


def fetch(path: str) -> str:
    """A URL (MPViT's README links the releases) is downloaded once to torch's hub cache."""
    if '://' not in path:
        return path
    import torch.hub
    target = os.path.join(torch.hub.get_dir(), 'checkpoints', os.path.basename(path.split('?')[0]))
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            torch.hub.download_url_to_file(path, target)
        except Exception as err:  # no network, HTTP error
            raise SystemExit(f'error: cannot download {path}: {" ".join(str(err).split())[:200]} (download it and '
                             f'pass the file as MODEL.WEIGHTS)') from None
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="MPViT's detectron2 train_net.py on this project's configs")
    parser.add_argument('--config-file', required=True, metavar='FILE')
    parser.add_argument('--eval-only', action='store_true')
    parser.add_argument('--num-gpus', type=int, default=1)
    parser.add_argument('--num-machines', type=int, default=1)
    parser.add_argument('--machine-rank', type=int, default=0)
    parser.add_argument('--dist-url', default=None)
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('opts', nargs=argparse.REMAINDER, help='detectron2 KEY VALUE pairs')
    args = parser.parse_args(argv)
    if args.num_machines > 1:
        dense_runner.note('--num-machines: start torchrun --nnodes N --node_rank R on every machine '
                          '(or dist_train.sh with NNODES / NODE_RANK / MASTER_ADDR)')
    task_mode, run_argv = translate(args)
    if args.num_gpus > 1 and 'RANK' not in os.environ:  # detectron2's launch(): one process per GPU
        cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={args.num_gpus}',
               os.path.join(os.path.dirname(os.path.abspath(__file__)), f'{task_mode}.py'), *run_argv,
               '--launcher', 'pytorch']
        return subprocess.call(cmd)
    return dense_runner.main('detection', task_mode, run_argv)


if __name__ == '__main__':
    sys.exit(main())
