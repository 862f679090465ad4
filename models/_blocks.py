"""Layers shared by several families: conv-BN folding, the conv+norm pair that folds, and the deploy-form conv.

``timm.utils.reparameterize_model`` replaces every child that has ``fuse()`` by what it returns, so a foldable
piece only needs a ``fuse()`` method returning the deploy-form module. Deploy forms build on :class:`DeployConv2d`
(:func:`fuse_to_deploy_conv`) and :class:`Residual`; their CPU fast paths (oneDNN on pre-packed weights) run only in
plain eager inference (:func:`onednn_inference`), everything else gets the portable form.
"""
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import GELU as TimmGELU
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

__all__ = ['fuse_conv_bn', 'fuse_bn_linear', 'ConvNorm', 'plain_eager', 'DeployConv2d', 'deploy_conv2d',
           'fuse_to_deploy_conv', 'Residual', 'onednn_inference', 'pack_conv_weight', 'run_packed', 'cached',
           'pack_linear_weight', 'run_packed_linear',
           'onednn_post_op', 'NO_POST_OP', 'GELU_POST_OP', 'derived_tensor', 'clear_deploy_cache', 'ONEDNN_POINTWISE']


def plain_eager() -> bool:
    """Plain eager execution: not TorchScript, not traced (ONNX export, torch.fx), not compiled or exported, no
    Python dispatch mode (e.g. FlopCounterMode) active, and no autocast. Deploy fast paths (in-place writes, ``out=``
    GEMMs, direct oneDNN calls) run only then; everything else gets the portable form. Autocast: in-place and
    ``out=`` ops are never autocast, so a fast path meets a half-precision activation and a float32 weight
    (``addmm_``: "self and mat2 must have the same dtype"; FasterNet's and MPViT's deploy forms under AMP)."""
    if torch.jit.is_scripting():
        return False
    else:
        return not (torch.jit.is_tracing() or is_fx_symbolic_tracing() or torch.compiler.is_compiling()
                    or torch._C._len_torch_dispatch_stack() > 0 or torch._C._is_any_autocast_enabled())


def is_tracing() -> bool:
    """Traced by ``torch.jit.trace`` (ONNX export), not scripted: where a deploy form picks the graph runtimes run
    fastest rather than the eager fast path."""
    if torch.jit.is_scripting():
        return False
    else:
        return torch.jit.is_tracing()


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


# --------------------------------------------------------------------------------------------------------------------
# Deploy convs: folded convs that pick faster oneDNN CPU kernels in plain eager inference


def _has_onednn_pointwise() -> bool:
    """oneDNN conv / linear with fused post-ops on pre-packed weights (the ops PyTorch's Inductor uses on CPU);
    absent from builds without oneDNN."""
    try:
        ops = torch.ops.mkldnn
        return torch.backends.mkldnn.is_available() and all(
            hasattr(ops, name) for name in ('_convolution_pointwise', '_linear_pointwise',
                                            '_reorder_convolution_weight', '_reorder_linear_weight'))
    except (AttributeError, RuntimeError):
        return False


ONEDNN_POINTWISE = _has_onednn_pointwise()
_onednn_ok = ONEDNN_POINTWISE  # cleared (for the process) if a oneDNN call is ever refused; the plain path remains
if ONEDNN_POINTWISE:
    _conv_pointwise = torch.ops.mkldnn._convolution_pointwise.default
    _linear_pointwise = torch.ops.mkldnn._linear_pointwise.default

# Tensors derived from a module's parameters (pre-packed oneDNN weights, kernels assembled from several parameters).
# Kept outside the modules, so state_dict, deepcopy, pickling and TorchScript never see them; entries die with their
# module. An entry keeps (tensor, data_ptr, version) of each source and is reused only while every source is that same
# tensor, at that address and version: replacing or writing a weight (load_state_dict, an optimiser step, .to() /
# .cuda() round trips, which swap param.data) rebuilds it. Writes through .data bypass the version counter and are
# not seen (clear_deploy_cache).
_DERIVED: 'weakref.WeakKeyDictionary[nn.Module, Dict[Any, Tuple[Any, ...]]]' = weakref.WeakKeyDictionary()
_MAX_DERIVED = 8  # entries per module: a few input shapes / thread counts at a time


def _version(t: torch.Tensor) -> int:
    return -1 if t.is_inference() else t._version  # inference tensors have no version counter (and stay unchanged)


def cached(owner: nn.Module, tag: Any, sources: Tuple[torch.Tensor, ...], build: Callable[[], Any]) -> Any:
    """``build()`` (derived from ``sources``: packed weights, assembled kernels), kept for ``owner`` under ``tag``
    and rebuilt once a source is replaced or written."""
    store = _DERIVED.get(owner)
    entry = store.get(tag) if store is not None else None
    if entry is not None:
        for key, t in zip(entry[0], sources):  # runs per block and call: kept flat
            if key[0] is not t or key[1] != t.data_ptr() or (key[2] >= 0 and key[2] != t._version):
                break
        else:
            return entry[1]
    value = build()
    if store is None:
        store = _DERIVED[owner] = {}
    elif len(store) >= _MAX_DERIVED:
        store.clear()
    store[tag] = (tuple((t, t.data_ptr(), _version(t)) for t in sources), value)
    return value


def clear_deploy_cache(module: Optional[nn.Module] = None) -> None:
    """Drop the derived tensors (packed weights) of ``module`` and its children, or of every module. Only needed
    after writing deploy weights through ``.data`` (which the version counter does not see)."""
    if module is None:
        _DERIVED.clear()
    else:
        for m in module.modules():
            _DERIVED.pop(m, None)


def derived_tensor(owner: nn.Module, tag: Any, sources: Tuple[torch.Tensor, ...],
                   build: Callable[[], torch.Tensor]) -> torch.Tensor:
    """:func:`cached`, except that autograd through the sources (training) always gets a fresh ``build()``."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in sources):
        return build()
    return cached(owner, tag, sources, build)


def onednn_inference(x: torch.Tensor) -> bool:
    """The deploy fast paths apply: plain eager (see :func:`plain_eager`), CPU float32, no autograd, oneDNN on."""
    # plain_eager() first: under torch.fx, x is a Proxy that cannot be tested
    return (_onednn_ok and plain_eager() and not torch.is_grad_enabled() and x.is_cpu and x.dtype == torch.float32
            and torch._C._get_mkldnn_enabled())


PostOp = Tuple[str, List[float], str]  # oneDNN post-op: (attr, scalars, algorithm)
NO_POST_OP: PostOp = ('none', [], '')
GELU_POST_OP: PostOp = ('gelu', [], 'none')  # exact (erf) GELU


def onednn_post_op(act: Optional[nn.Module]) -> Optional[PostOp]:
    """The oneDNN post-op that equals ``act`` (``None``: no fused form; the activation then runs as a module)."""
    if act is None or isinstance(act, nn.Identity):
        return NO_POST_OP
    if isinstance(act, nn.GELU):
        return ('gelu', [], act.approximate)
    if type(act) is TimmGELU:  # timm's GELU module: exact
        return GELU_POST_OP
    if isinstance(act, nn.ReLU6):
        return ('hardtanh', [0., 6.], '')
    if isinstance(act, nn.ReLU):
        return ('relu', [], '')
    if isinstance(act, nn.SiLU):
        return ('swish', [], '')
    if isinstance(act, nn.Hardswish):
        return ('hardswish', [], '')
    return None


def _gelu_(x: torch.Tensor) -> torch.Tensor:
    """GELU in place when autograd does not need the input (saves allocating a new activation map per call)."""
    if not plain_eager() or (torch.is_grad_enabled() and x.requires_grad):
        return F.gelu(x)
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        # measured: aten's GELU is ~1.6x slower on a channels-last 4-d tensor than on the same buffer seen as NHWC
        torch.ops.aten.gelu_(x.permute(0, 2, 3, 1))
        return x
    return torch.ops.aten.gelu_(x)


def _activate(y: torch.Tensor, act: Optional[nn.Module], post_op: Optional[PostOp]) -> torch.Tensor:
    """``act(y)`` for a fresh conv output ``y`` (exact GELU in place where allowed)."""
    if post_op == GELU_POST_OP:
        return _gelu_(y)
    return y if act is None else act(y)


def deploy_conv2d(
        owner: nn.Module,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: Optional[torch.Tensor],
        stride: Tuple[int, int] = (1, 1),
        padding: Tuple[int, int] = (0, 0),
        dilation: Tuple[int, int] = (1, 1),
        groups: int = 1,
        act: Optional[nn.Module] = None,
        post_op: Optional[PostOp] = NO_POST_OP,
) -> torch.Tensor:
    """``act(conv2d(x, weight, bias))`` on the fastest CPU kernel available; see :class:`DeployConv2d`. ``owner``
    keeps the pre-packed copies of ``weight``; ``post_op`` is ``onednn_post_op(act)``. Equal to the plain conv and
    activation to float rounding."""
    global _onednn_ok
    # Lean on purpose: at batch 1 the Python around a conv costs as much as a small conv (and runs with caches cold
    # after each oneDNN call, measured ~3x slower than in a tight loop).
    if onednn_inference(x):
        tag = (x.shape, torch.get_num_threads())
        store = _DERIVED.get(owner)
        entry = store.get(tag) if store is not None else None
        if entry is not None and entry[0] is weight and entry[1] == weight.data_ptr() and (
                entry[2] < 0 or entry[2] == weight._version):  # the cached() check, inlined
            packed = entry[3]
        elif x.dim() != 4:  # e.g. an unbatched input: the portable path
            return _activate(F.conv2d(x, weight, bias, stride, padding, dilation, groups), act, post_op)
        else:
            try:
                packed = pack_conv_weight(x, weight, stride, padding, dilation, groups)
            except RuntimeError:  # e.g. a build whose oneDNN lacks a kernel: the portable path, from now on
                _onednn_ok = False
                return deploy_conv2d(owner, x, weight, bias, stride, padding, dilation, groups, act, post_op)
            if store is None:
                store = _DERIVED[owner] = {}
            elif len(store) >= _MAX_DERIVED:
                store.clear()
            store[tag] = (weight, weight.data_ptr(), _version(weight), packed)
        if post_op is None:  # an activation oneDNN cannot fuse: runs after the conv
            return act(run_packed(x, packed, bias, stride, padding, dilation, groups))
        return run_packed(x, packed, bias, stride, padding, dilation, groups, post_op)
    if plain_eager() and x.is_cpu and x.dim() == 4 and _is_pointwise(weight, stride, padding, groups):
        return _activate(_pointwise_gemm(x, weight, bias), act, post_op)
    y = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    return y if act is None else act(y)


def _is_pointwise(weight: torch.Tensor, stride, padding, groups: int) -> bool:
    return weight.shape[-2:] == (1, 1) and groups == 1 and tuple(stride) == (1, 1) and tuple(padding) == (0, 0)


def pack_conv_weight(x: torch.Tensor, weight: torch.Tensor, stride, padding, dilation,
                     groups: int) -> Tuple[bool, torch.Tensor]:
    """oneDNN's own layout of ``weight`` for this input shape and thread count (measured: a layout packed for 2
    threads runs 2x slower with 1), so that no weight reorder runs per call; ``(True, w)``: the conv is a 1x1 on an
    NHWC buffer and runs as an inner product. For :func:`run_packed`; cache it per input shape and thread count."""
    b, c, h, w = x.shape
    if _is_pointwise(weight, stride, padding, groups) and x.is_contiguous(memory_format=torch.channels_last):
        return True, pack_linear_weight(weight.reshape(weight.shape[0], c), b * h * w)
    return False, torch.ops.mkldnn._reorder_convolution_weight(
        weight, list(padding), list(stride), list(dilation), groups, list(x.shape))


def run_packed(x: torch.Tensor, packed: Tuple[bool, torch.Tensor], bias: Optional[torch.Tensor], stride, padding,
               dilation, groups: int, post_op: PostOp = NO_POST_OP) -> torch.Tensor:
    """The conv of :func:`pack_conv_weight`'s weight, with ``post_op`` (e.g. :data:`GELU_POST_OP`) fused; only
    under :func:`onednn_inference`."""
    if packed[0]:  # 1x1 conv: one (B*H*W, C) x (C, O) inner product on the NHWC buffer (a view if channels-last)
        return run_packed_linear(x.permute(0, 2, 3, 1), packed[1], bias, post_op).permute(0, 3, 1, 2)
    attr, scalars, algorithm = post_op
    return _conv_pointwise(x, packed[1], bias, padding, stride, dilation, groups, attr, scalars, algorithm)


def pack_linear_weight(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """oneDNN's own layout of an (out, in) linear weight for inputs of ``rows`` rows at the current thread count. With
    few rows, MKL's per-call packing of the weight is a large share of a GEMM; a weight packed once avoids it
    (measured on MPViT-B's 7x7 stage, 49 rows: 1.3-1.5x faster GEMMs). Cache it per row count and thread count."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), rows)


def run_packed_linear(x: torch.Tensor, packed: torch.Tensor, bias: Optional[torch.Tensor],
                      post_op: PostOp = NO_POST_OP) -> torch.Tensor:
    """``x @ weight.T + bias`` on :func:`pack_linear_weight`'s weight, with ``post_op`` fused; only under
    :func:`onednn_inference`."""
    attr, scalars, algorithm = post_op
    return _linear_pointwise(x, packed, bias, attr, scalars, algorithm)


def _pointwise_gemm(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """1x1 conv as one GEMM (no oneDNN): PyTorch would send it to oneDNN with more than one thread, or to an unfold
    + GEMM with one."""
    b, c, h, w = x.shape
    out_channels = weight.shape[0]
    weight = weight.reshape(out_channels, c)
    bias = bias if bias is not None else weight.new_zeros(out_channels)
    if x.permute(0, 2, 3, 1).is_contiguous():  # NHWC buffer: (B*H*W, C) @ (C, O)
        y = torch.addmm(bias, x.permute(0, 2, 3, 1).reshape(-1, c), weight.t())
        return y.view(b, h, w, out_channels).permute(0, 3, 1, 2)
    if b == 1 and x.is_contiguous():  # NCHW buffer: (O, C) @ (C, H*W)
        return torch.addmm(bias.unsqueeze(1), weight, x.view(c, h * w)).view(1, out_channels, h, w)
    return F.conv2d(x, weight.view(out_channels, c, 1, 1), bias)


class DeployConv2d(nn.Conv2d):
    """A folded conv (always with bias) followed by an activation (``act``; ``gelu=True`` is exact GELU), that picks
    faster CPU kernels for inference. Shared by the deploy forms (RapidNet, RepNeXt, ReXNet, MPViT).

    Weights of the spatial convs are stored channels-last, so the deployed network runs NHWC end to end (oneDNN's
    depthwise kernels are ~30% faster NHWC, and no activation is reordered between layers); outputs keep their NCHW
    shape, only the strides differ. In plain eager CPU float32 inference:

    * every conv is one oneDNN call on a weight pre-packed once per input shape (oneDNN otherwise reorders the
      weight on every call, and PyTorch sends small batch-1 dense and dilated convs to a 2-5x slower im2col kernel);
    * a 1x1 conv on an NHWC buffer is one oneDNN inner product over (B*H*W, C) (no layout change);
    * the activation (GELU, ReLU, ReLU6, SiLU, Hardswish) is a fused oneDNN post-op (no separate pass over the map).

    The packed copies (one per input shape and thread count seen, at most 8) live as long as the module, outside its
    state; they are rebuilt when the weight is replaced or written in place. With autograd (plain eager) a 1x1 conv
    runs as one GEMM and GELU in place where allowed. Everything else (TorchScript, tracing for ONNX / torch.fx,
    torch.compile, dispatch modes such as FlopCounterMode, GPU, other dtypes) is the plain conv + ``act``.
    """
    __jit_ignored_attributes__ = ['post_op']
    __jit_unused_properties__ = ['gelu']

    def __init__(self, *args, gelu: bool = False, act: Optional[nn.Module] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.act = nn.GELU() if gelu else (act if act is not None else nn.Identity())
        self.post_op = onednn_post_op(self.act)

    @property
    def gelu(self) -> bool:
        """The activation is exact GELU (fused as :data:`GELU_POST_OP`)."""
        return self.post_op == GELU_POST_OP

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():
            return self.act(self._conv_forward(x, self.weight, self.bias))
        else:
            if self.padding_mode != 'zeros':
                return self.act(self._conv_forward(x, self.weight, self.bias))
            params = self._parameters  # not self.weight: nn.Module.__getattr__ is slow, and this runs per conv
            act = self._modules['act']
            return deploy_conv2d(self, x, params['weight'], params['bias'], self.stride, self.padding, self.dilation,
                                 self.groups, None if self.post_op is NO_POST_OP else act, self.post_op)


@torch.no_grad()
def fuse_to_deploy_conv(
        conv: nn.Conv2d,
        bn: Optional[nn.BatchNorm2d] = None,
        gelu: bool = False,
        scale: Optional[torch.Tensor] = None,
        act: Optional[nn.Module] = None,
) -> DeployConv2d:
    """``conv`` with ``bn`` folded in and its output channels multiplied by ``scale`` (a layer scale), as a
    :class:`DeployConv2d` followed by ``act`` (exact GELU if ``gelu``)."""
    folded = fuse_conv_bn(conv, bn) if bn is not None else conv
    out = DeployConv2d(
        folded.in_channels, folded.out_channels, folded.kernel_size, stride=folded.stride, padding=folded.padding,
        dilation=folded.dilation, groups=folded.groups, bias=True, padding_mode=folded.padding_mode, gelu=gelu,
        act=act, device=folded.weight.device, dtype=folded.weight.dtype)
    weight = folded.weight.detach().clone()
    bias = folded.bias.detach().clone() if folded.bias is not None else torch.zeros_like(out.bias)
    if scale is not None:
        weight.mul_(scale.reshape(-1, 1, 1, 1))
        bias.mul_(scale.reshape(-1))
    if weight.shape[-2:] != (1, 1):
        weight = weight.contiguous(memory_format=torch.channels_last)
    out.weight = nn.Parameter(weight, requires_grad=conv.weight.requires_grad)
    out.bias.copy_(bias)
    return out


class Residual(nn.Module):
    """Deploy form of a residual branch (layer scale and norms folded): ``x + branch(x)``."""

    def __init__(self, *branch: nn.Module):
        super().__init__()
        self.branch = nn.Sequential(*branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x).add_(x)  # the branch output is a fresh tensor: add in place
