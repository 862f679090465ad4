"""Training criterion: timm's classification losses, optionally wrapped in DeiT-style distillation.

A distilled student (RapidNet, RepNeXt after ``set_distilled_training(True)``) returns ``(cls, dist)`` in train mode:
the class token/head learns from the labels and the distillation head from the teacher. Any other model returns one
tensor, which then serves both terms (as in DeiT).

Behaviour change vs. DeiT's soft distillation: the KL term is averaged over the batch (``batchmean``, the true KL
per sample) instead of being divided by ``batch x num_classes``, which shrank the soft term by the class count.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy


def base_criterion(args, mixup_active: bool) -> nn.Module:
    if mixup_active:  # mixup/cutmix produce soft targets with the smoothing already applied
        return SoftTargetCrossEntropy()
    if args.smoothing > 0:
        return LabelSmoothingCrossEntropy(smoothing=args.smoothing)
    return nn.CrossEntropyLoss()


class DistillationLoss(nn.Module):
    """``(1 - alpha) * base(cls, y) + alpha * kd(dist, teacher(x))``; plain ``base`` when there is no teacher."""

    def __init__(self, base: nn.Module, teacher: Optional[nn.Module] = None, kind: str = 'none',
                 alpha: float = 0.5, tau: float = 1.0):
        super().__init__()
        if kind not in ('none', 'soft', 'hard'):
            raise ValueError(f'distillation type must be none, soft or hard, got {kind!r}')
        if kind != 'none' and teacher is None:
            raise ValueError(f'{kind} distillation needs a teacher')
        self.base, self.kind, self.alpha, self.tau = base, kind, alpha, tau
        # not a submodule: the teacher must not enter the student's state_dict, optimizer or DDP
        self.__dict__['teacher'] = teacher

    def forward(self, inputs: torch.Tensor, outputs, targets: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, (tuple, list)):
            cls_out, dist_out = outputs
        else:
            cls_out = dist_out = outputs
        loss = self.base(cls_out, targets)
        if self.kind == 'none':
            return loss if not isinstance(outputs, (tuple, list)) else (loss + self.base(dist_out, targets)) / 2
        with torch.no_grad():
            teacher_out = self.teacher(inputs)
        if self.kind == 'soft':
            t = self.tau
            kd = F.kl_div(F.log_softmax(dist_out / t, dim=1), F.log_softmax(teacher_out / t, dim=1),
                          reduction='batchmean', log_target=True) * (t * t)
        else:
            kd = F.cross_entropy(dist_out, teacher_out.argmax(dim=1))
        return loss * (1 - self.alpha) + kd * self.alpha
