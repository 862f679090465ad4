"""Images/s of classification/main.py's training loop next to a bare PyTorch loop, same model and data, one run.

    python tools/bench_train_loop.py --model fasternet_t0 --input-size 64 --batch-size 32 --steps 20

Both loops train the same model (same initial weights) with the same timm optimizer on the same in-memory batches;
the engine side is ``classification.engine.train_one_epoch`` exactly as ``main.py`` calls it (loss wrapper, NaN
check, accumulation/no_sync logic, EMA off). Rounds alternate engine / bare and the median of each is reported, so
load from other processes hits both alike. Target: engine / bare >= 0.95.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import timm  # noqa: E402
from timm.optim import create_optimizer_v2  # noqa: E402

from classification import families  # noqa: E402,F401  (registers models/)
from classification.engine import StepOptions, autocast, train_one_epoch  # noqa: E402
from classification.losses import DistillationLoss  # noqa: E402


def bare_epoch(model, batches, optimizer, device, amp_dtype, channels_last):
    model.train()
    for images, targets in batches:
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp_dtype):
            loss = F.cross_entropy(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def timed(fn, device):
    if device.type == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', default='fasternet_t0')
    p.add_argument('--input-size', type=int, default=64)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--num-classes', type=int, default=1000)
    p.add_argument('--steps', type=int, default=20, help='batches per timed round')
    p.add_argument('--rounds', type=int, default=5, help='alternating engine/bare rounds (median reported)')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--amp', action='store_true', help='bfloat16 autocast in both loops')
    p.add_argument('--channels-last', action='store_true')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp_dtype = torch.bfloat16 if args.amp else None
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(args.batch_size, 3, args.input_size, args.input_size, generator=g),
                torch.randint(0, args.num_classes, (args.batch_size,), generator=g)) for _ in range(args.steps)]
    if device.type == 'cuda':
        batches = [(x.to(device), y.to(device)) for x, y in batches]

    def make():
        model = timm.create_model(args.model, num_classes=args.num_classes).to(device)
        if args.channels_last:
            model.to(memory_format=torch.channels_last)
        return model, create_optimizer_v2(model, opt='adamw', lr=1e-4, weight_decay=0.05)

    engine_model, engine_opt = make()
    bare_model, bare_opt = make()
    bare_model.load_state_dict(engine_model.state_dict())
    criterion = DistillationLoss(torch.nn.CrossEntropyLoss())
    options = StepOptions(device=device, amp_dtype=amp_dtype, channels_last=args.channels_last)

    def run_engine():
        train_one_epoch(engine_model, criterion, batches, engine_opt, 0, 0, options)

    def run_bare():
        bare_epoch(bare_model, batches, bare_opt, device, amp_dtype, args.channels_last)

    run_engine(), run_bare()  # warm-up (allocator, kernels, optimizer state)
    engine_t, bare_t = [], []
    for _ in range(args.rounds):
        engine_t.append(timed(run_engine, device))
        bare_t.append(timed(run_bare, device))
    images = args.steps * args.batch_size
    engine_ips, bare_ips = images / statistics.median(engine_t), images / statistics.median(bare_t)
    print(f'model {args.model}  input {args.input_size}  batch {args.batch_size}  device {device}  '
          f'threads {torch.get_num_threads()}  amp {bool(args.amp)}  channels_last {args.channels_last}')
    print(f'engine (classification.engine.train_one_epoch): {engine_ips:8.1f} images/s')
    print(f'bare PyTorch loop:                              {bare_ips:8.1f} images/s')
    print(f'ratio engine / bare: {engine_ips / bare_ips:.3f}  (target >= 0.95; median of {args.rounds} rounds)')
    return engine_ips / bare_ips


if __name__ == '__main__':
    main()
