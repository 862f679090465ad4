"""Detector inference throughput in images/s (FasterNet's ``benchmark.py CONFIG CKPT --launcher pytorch
--fuse-conv-bn``, mmdet 2.x's tool).

    python detection/benchmark.py CONFIG CKPT [--fuse-conv-bn] [--max-iter 2000] [--num-warmup 5]
    python -m torch.distributed.launch --nproc_per_node=1 detection/benchmark.py CONFIG CKPT --launcher pytorch

One image per forward from the test dataloader (``model.test_step``: preprocessing, backbone, heads,
post-processing), the first ``--num-warmup`` untimed; on a GPU every step is synchronised. The checkpoint is
loaded like test.py's (weights-only, strict, the authors' layouts converted). Under a launcher every rank
measures its own throughput.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from dense import runner as dense_runner  # noqa: E402


def benchmark(cfg, checkpoint, fuse, max_iter, num_warmup, log_interval):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmdet.registry import MODELS
    from models.mm import load_dense_checkpoint
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    load_dense_checkpoint(model, checkpoint)
    if fuse:
        model = dense_runner.fuse_for_inference(model)
    device = torch.device('cuda', torch.cuda.current_device()) if torch.cuda.is_available() else torch.device('cpu')
    model.to(device).eval()
    loader_cfg = dict(cfg.test_dataloader, batch_size=1)
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False)
    loader = Runner.build_dataloader(loader_cfg)
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    timed, elapsed = 0, 0.0
    with torch.no_grad():
        step = 0
        while step < max_iter:
            for data in loader:
                sync()
                start = time.perf_counter()
                model.test_step(data)
                sync()
                if step >= num_warmup:
                    elapsed += time.perf_counter() - start
                    timed += 1
                    if timed % log_interval == 0:
                        print(f'Done image [{step + 1:<4}/{max_iter}], fps: {timed / elapsed:.1f} img / s', flush=True)
                step += 1
                if step >= max_iter:
                    break
    if not timed:
        raise SystemExit(f'error: --max-iter {max_iter} leaves nothing after --num-warmup {num_warmup}')
    return timed / elapsed, timed


def main(argv=None) -> int:
    from mmengine.config import DictAction
    from models._checkpoint import CheckpointError
    parser = argparse.ArgumentParser(description='detector inference throughput (images/s)')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--fuse-conv-bn', action='store_true', help='fold conv-BN pairs and branches first')
    parser.add_argument('--max-iter', type=int, default=2000)
    parser.add_argument('--num-warmup', type=int, default=5)
    parser.add_argument('--log-interval', type=int, default=50)
    parser.add_argument('--repeat-num', type=int, default=1, help='measurements (mmdet 2.x spelling)')
    parser.add_argument('--out', help='write {"fps": ..., "images": ...} as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    parser.add_argument('--launcher', choices=dense_runner.LAUNCHERS, default=None)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.work_dir = None
    launcher = dense_runner._prepare_process(args)
    cfg = dense_runner.load_config(args, launcher, 'detection')
    try:
        runs = [benchmark(cfg, args.checkpoint, args.fuse_conv_bn, args.max_iter, args.num_warmup,
                          args.log_interval) for _ in range(max(args.repeat_num, 1))]
    except CheckpointError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    fps = sum(r[0] for r in runs) / len(runs)
    rank = os.environ.get('RANK', '0')
    print(f'{"" if rank == "0" else f"[rank {rank}] "}Overall fps: {fps:.1f} img / s'
          + (' (conv-BN fused)' if args.fuse_conv_bn else ''), flush=True)
    if args.out and rank == '0':
        from models._checkpoint import atomic_output
        with atomic_output(args.out) as tmp, open(tmp, 'w') as f:
            json.dump(dict(fps=fps, images=runs[0][1], fused=args.fuse_conv_bn, config=args.config), f)
    return 0


if __name__ == '__main__':
    sys.exit(main())
