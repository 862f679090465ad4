"""Layers shared by several families: conv-BN folding and the conv+norm pair that folds.

``timm.utils.reparameterize_model`` replaces every child that has ``fuse()`` by what it returns, so a foldable
piece only needs a ``fuse()`` method returning the deploy-form module.
"""
from typing import Optional

import torch
import torch.nn as nn
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

__all__ = ['fuse_conv_bn', 'fuse_bn_linear', 'ConvNorm', 'plain_eager']


def plain_eager() -> bool:
    """Plain eager execution: not TorchScript, not traced (ONNX export, torch.fx), not compiled or exported, and no
    Python dispatch mode (e.g. FlopCounterMode) active. Deploy fast paths (in-place writes, direct oneDNN calls) run
    only then; everything else gets the portable form."""
    if torch.jit.is_scripting():
        return False
    else:
        return not (torch.jit.is_tracing() or is_fx_symbolic_tracing() or torch.compiler.is_compiling()
                    or torch._C._len_torch_dispatch_stack() > 0)


@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Fold an eval-mode BatchNorm that follows ``conv`` into a new conv with bias."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
        dilation=conv.dilation, groups=conv.groups, bias=True, padding_mode=conv.padding_mode,
        device=conv.weight.device, dtype=conv.weight.dtype)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused


@torch.no_grad()
def fuse_bn_linear(bn: nn.BatchNorm1d, linear: nn.Linear) -> nn.Linear:
    """Fold an eval-mode BatchNorm1d that precedes ``linear`` into a new linear layer."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    fused = nn.Linear(linear.in_features, linear.out_features, bias=True,
                      device=linear.weight.device, dtype=linear.weight.dtype)
    fused.weight.copy_(linear.weight * scale[None, :])
    bias = linear.bias if linear.bias is not None else torch.zeros_like(fused.bias)
    fused.bias.copy_(linear.weight @ shift + bias)
    return fused


class ConvNorm(nn.Sequential):
    """Conv2d (no bias) followed by BatchNorm2d; keys ``conv.*`` and ``norm.*``; ``fuse()`` gives one conv."""

    def __init__(
            self,
            in_chs: int,
            out_chs: int,
            kernel_size: int = 1,
            stride: int = 1,
            padding: Optional[int] = None,
            dilation: int = 1,
            groups: int = 1,
            bn_weight_init: float = 1.0,
    ):
        super().__init__()
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        self.add_module('conv', nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding, dilation, groups, bias=False))
        self.add_module('norm', nn.BatchNorm2d(out_chs))
        nn.init.constant_(self.norm.weight, bn_weight_init)
        nn.init.zeros_(self.norm.bias)

    def fuse(self) -> nn.Conv2d:
        return fuse_conv_bn(self.conv, self.norm)
