"""The two loops: one training epoch and one evaluation pass."""
import contextlib
import dataclasses
import math
import time
from typing import Any, Callable, Dict, Iterable, Optional

import torch
import torch.nn as nn
from tqdm import tqdm

from timm.utils import dispatch_clip_grad, unwrap_model

from .distributed import all_reduce_sum
from .errors import NaNLossError


@dataclasses.dataclass
class StepOptions:
    """Per-step behaviour of :func:`train_one_epoch` (everything that is not a model, data or optimizer)."""
    device: torch.device
    accum_steps: int = 1
    amp_dtype: Optional[torch.dtype] = None  # None: fp32
    scaler: Optional[Any] = None  # torch.amp.GradScaler for float16
    clip_grad: Optional[float] = None
    clip_mode: str = 'norm'
    channels_last: bool = False
    mixup_fn: Optional[Callable] = None
    model_ema: Optional[Any] = None
    lr_scheduler: Optional[Any] = None  # stepped per update when sched_on_updates
    progress: bool = False
    log_interval: int = 50
    bn_eval: bool = False  # BatchNorm in eval mode while training (frozen running statistics)


def autocast(device: torch.device, dtype: Optional[torch.dtype]):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _no_sync(model: nn.Module, skip_sync: bool):
    # DDP all-reduces gradients in backward; micro-steps before the last of an accumulation group skip it
    if skip_sync and hasattr(model, 'no_sync'):
        return model.no_sync()
    return contextlib.nullcontext()


def train_one_epoch(model: nn.Module, criterion: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                    epoch: int, num_updates: int, opt: StepOptions) -> Dict[str, float]:
    """Train for one pass over ``loader``; returns mean loss (over all ranks), lr, images/s and the update count.

    Gradient accumulation sums ``accum_steps`` micro-batch gradients (loss / group size) before one optimizer
    step, without DDP communication on the non-final micro-steps. A last, shorter group at the end of the epoch
    is scaled by its own size. Raises :class:`NaNLossError` at the first non-finite loss.
    """
    model.train()
    if opt.bn_eval:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    device = opt.device
    n_batches = len(loader)
    params = [p for p in model.parameters() if p.requires_grad]
    loss_sum, seen, start = 0.0, 0, time.perf_counter()
    bar = tqdm(total=n_batches, desc=f'epoch {epoch}', leave=False, dynamic_ncols=True, disable=not opt.progress,
               mininterval=1.0)
    optimizer.zero_grad(set_to_none=True)
    for step, (images, targets) in enumerate(loader):
        group_start = step - step % opt.accum_steps
        group_size = min(opt.accum_steps, n_batches - group_start)
        is_update = step == group_start + group_size - 1
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if opt.mixup_fn is not None:
            images, targets = opt.mixup_fn(images, targets)
        if opt.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)

        with _no_sync(model, not is_update):
            with autocast(device, opt.amp_dtype):
                outputs = model(images)
                loss = criterion(images, outputs, targets)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                bar.close()
                raise NaNLossError(f'loss is {loss_value} at epoch {epoch}, step {step}')
            scaled = loss / group_size
            if opt.scaler is not None:
                opt.scaler.scale(scaled).backward()
            else:
                scaled.backward()

        if is_update:
            if opt.scaler is not None:
                if opt.clip_grad is not None:
                    opt.scaler.unscale_(optimizer)
                    dispatch_clip_grad(params, opt.clip_grad, mode=opt.clip_mode)
                opt.scaler.step(optimizer)
                opt.scaler.update()
            else:
                if opt.clip_grad is not None:
                    dispatch_clip_grad(params, opt.clip_grad, mode=opt.clip_mode)
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            num_updates += 1
            if opt.model_ema is not None:  # EMA of the plain module (not the DDP / compiled wrapper)
                opt.model_ema.update(unwrap_model(model), step=num_updates)
            if opt.lr_scheduler is not None:
                opt.lr_scheduler.step_update(num_updates=num_updates)

        loss_sum += loss_value * images.shape[0]
        seen += images.shape[0]
        if opt.progress and (step % opt.log_interval == 0 or step == n_batches - 1):
            bar.set_postfix(loss=f'{loss_value:.4f}', lr=f'{optimizer.param_groups[0]["lr"]:.3g}', refresh=False)
        bar.update(1)
    bar.close()
    elapsed = time.perf_counter() - start
    total_loss, total_seen = all_reduce_sum([loss_sum, seen], device)  # DDP keeps ranks in step: one clock
    return dict(loss=total_loss / max(total_seen, 1), lr=optimizer.param_groups[0]['lr'],
                images_per_s=total_seen / elapsed if elapsed > 0 else 0.0, num_updates=num_updates)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: torch.device, amp_dtype: Optional[torch.dtype] = None,
             channels_last: bool = False, progress: bool = False, desc: str = 'eval') -> Dict[str, float]:
    """Top-1/top-5/loss over the whole split. Each rank sees a disjoint shard (no padding duplicates) and the
    counts are summed over ranks, so ``count`` equals the dataset size exactly."""
    model.eval()
    criterion = nn.CrossEntropyLoss(reduction='sum')
    loss_sum = correct1 = correct5 = count = 0.0
    for images, targets in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True, disable=not progress,
                                mininterval=1.0):
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp_dtype):
            logits = model(images)
        if isinstance(logits, (tuple, list)):  # a distilled model left in distilled mode: average its heads
            logits = sum(logits) / len(logits)
        logits = logits.float()
        loss_sum += criterion(logits, targets).item()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = top.eq(targets[:, None])
        correct1 += hits[:, 0].sum().item()
        correct5 += hits.any(dim=1).sum().item()
        count += targets.shape[0]
    loss_sum, correct1, correct5, count = all_reduce_sum([loss_sum, correct1, correct5, count], device)
    n = max(count, 1)
    return dict(acc1=100.0 * correct1 / n, acc5=100.0 * correct5 / n, loss=loss_sum / n, count=int(count))
