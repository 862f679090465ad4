"""The shared deploy conv (models/_blocks.py): every kernel path and fused activation equals conv2d + activation."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from models._blocks import GELU_POST_OP, NO_POST_OP, DeployConv2d, fuse_to_deploy_conv, onednn_post_op

# (in, out, kernel, dilation, groups, input shape, channels-last input): oneDNN inner product for 1x1 on NHWC,
# oneDNN conv for NCHW 1x1, dilated dense, depthwise; the GEMM 1x1 forms with autograd
CONV_CASES = [
    (16, 32, 1, 1, 1, (1, 16, 30, 30), False),
    (16, 32, 1, 1, 1, (2, 16, 5, 7), True),
    (16, 32, 1, 1, 1, (2, 16, 5, 7), False),
    (24, 24, 3, 3, 1, (1, 24, 7, 7), False),
    (24, 24, 3, 1, 24, (1, 24, 9, 9), True),
    (24, 24, 7, 1, 24, (2, 24, 9, 9), False),
]
ACTIVATIONS = {
    'identity': nn.Identity, 'gelu': nn.GELU, 'gelu_tanh': lambda: nn.GELU(approximate='tanh'), 'relu': nn.ReLU,
    'relu6': nn.ReLU6, 'silu': nn.SiLU, 'hardswish': nn.Hardswish,
    'elu': nn.ELU,  # no oneDNN post-op here: runs after the conv
}


def _folded(cin, cout, k, d, g, act, gen):
    conv = nn.Conv2d(cin, cout, k, padding=d * (k // 2), dilation=d, groups=g)
    bn = nn.BatchNorm2d(cout).eval()
    bn.running_mean.normal_(generator=gen)
    bn.running_var.uniform_(0.5, 1.5, generator=gen)
    return conv, bn, fuse_to_deploy_conv(conv, bn, act=act)


@pytest.mark.parametrize('act_name', list(ACTIVATIONS))
@pytest.mark.parametrize('case', CONV_CASES, ids=lambda c: f'{c[2]}x{c[2]}-d{c[3]}-g{c[4]}-{"nhwc" if c[6] else "nchw"}')
def test_deploy_conv_matches_conv_and_activation(case, act_name):
    cin, cout, k, d, g, shape, channels_last = case
    gen = torch.Generator().manual_seed(0)
    act = ACTIVATIONS[act_name]()
    conv, bn, deploy = _folded(cin, cout, k, d, g, act, gen)
    x = torch.randn(*shape, generator=gen) * 3  # spans ReLU6's clip and GELU's curved part
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = act(bn(conv(x)))
        torch.testing.assert_close(deploy(x), ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(deploy(x), ref, atol=1e-5, rtol=1e-5)  # second call: the cached packed weight
        torch.testing.assert_close(torch.jit.script(deploy)(x), ref, atol=1e-5, rtol=1e-5)
    x.requires_grad_()
    out = deploy(x)  # autograd: the portable forms
    out.sum().backward()
    torch.testing.assert_close(out.detach(), ref, atol=1e-5, rtol=1e-5)
    assert x.grad is not None and math.isfinite(x.grad.sum().item())


def test_post_op_table():
    assert onednn_post_op(nn.GELU()) == GELU_POST_OP and onednn_post_op(None) == NO_POST_OP
    assert onednn_post_op(nn.ReLU6()) == ('hardtanh', [0., 6.], '')
    assert onednn_post_op(nn.ELU()) is None
    assert DeployConv2d(4, 4, 1, gelu=True).gelu and not DeployConv2d(4, 4, 1, act=nn.GELU('tanh')).gelu


def test_deploy_conv_follows_weight_writes():
    """The packed copy is rebuilt after an in-place write to the weight (e.g. load_state_dict)."""
    gen = torch.Generator().manual_seed(0)
    _, _, deploy = _folded(8, 8, 3, 1, 1, nn.ReLU(), gen)
    x = torch.randn(1, 8, 6, 6, generator=gen)
    with torch.no_grad():
        deploy(x)
        deploy.weight.mul_(2)
        torch.testing.assert_close(deploy(x), F.relu(F.conv2d(x, deploy.weight, deploy.bias, padding=1)))
