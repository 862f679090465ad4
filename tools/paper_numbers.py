"""What the authors claim (params, MACs, ImageNet top-1, latency) and what their code measures, per variant.

One table, keyed by the project's timm model names, so the benchmark can print claims beside its own measurements.

Sources (read from the authors' public repositories and papers; see /work/shared/research/*.md):

* ``fasternet``: README model table of JierunChen/FasterNet (e8fba44). The README FLOPs are fvcore counts of the
  conv-BN-fused model (fvcore counts one multiply-add as one "flop", i.e. they are MACs).
* ``mpvit``: README table of youngwanLEE/MPViT (e2d86e6); the exact params/FLOPs are the docstrings of ``mpvit.py``.
* ``rapidnet``: mmunir127/RapidNet-Official has no results table; the paper abstract (arXiv 2412.10995) gives only
  RapidNet-Ti (76.3 % top-1, 0.9 ms on an iPhone 13 mini NPU). The per-variant paper table could not be retrieved
  here, so S/M/B carry no claim (left empty rather than guessed).
* ``repnext``: README table of suous/RepNeXt (f515377), distilled 300-epoch checkpoints (the released ``.pth``
  files); params/MACs are those of the fused (deployed) model; latency is on an iPhone 12 (iOS 16, Core ML).
* ``rexnet``: README of clovaai/rexnet (61debcc). CPU latency: Xeon E5-2630 v4, batch 1; GPU latency: V100, batch 64
  (ReXNet-lite: two M40 GPUs). The README's first table says ReXNet-2.0 is "1.8B/19M", its model table "1.5B/16M";
  the code gives 1.56 GMACs / 16.37 M, and 1.88 G / 19.49 M belongs to width 2.2: the first line is stale.

Latency claims are on other hardware (phones, a 2016 Xeon, V100/M40) and are shown as text, never compared.
"""
from dataclasses import dataclass
from typing import Dict, Optional

__all__ = ['Claim', 'CLAIMS', 'FVCORE_REFERENCE', 'claim_for', 'FAMILY_LABELS']


@dataclass(frozen=True)
class Claim:
    family: str
    label: str  # the authors' name for the variant
    top1: Optional[float] = None  # ImageNet-1k top-1 (%), 224x224
    params_m: Optional[float] = None  # millions, as printed by the authors (the printed digits are the precision)
    gmacs: Optional[float] = None  # G multiply-adds at 224x224, as printed by the authors
    latency: Optional[str] = None  # free text: value + hardware (not comparable with a CPU run here)
    source: str = ''
    note: str = ''  # a conflict or a caveat worth a footnote


FAMILY_LABELS = {
    'fasternet': 'FasterNet', 'mpvit': 'MPViT', 'rapidnet': 'RapidNet', 'repnext': 'RepNeXt', 'rexnet': 'ReXNet',
}

_FN = 'FasterNet README (fused-model fvcore FLOPs)'
_MP = 'MPViT README / mpvit.py docstrings'
_RN = 'RapidNet paper abstract (arXiv 2412.10995)'
_RP = 'RepNeXt README (distilled, fused model)'
_RX = 'ReXNet README'
_RX2_NOTE = ('README first table says 1.8B/19M, model table 1.5B/16M; code: 1.56 GMACs/16.37M '
             '(1.8B/19M are width 2.2)')

CLAIMS: Dict[str, Claim] = {
    # FasterNet: acc / params / FLOPs
    'fasternet_t0': Claim('fasternet', 'FasterNet-T0', 71.9, 3.9, 0.34, source=_FN),
    'fasternet_t1': Claim('fasternet', 'FasterNet-T1', 76.2, 7.6, 0.85, source=_FN),
    'fasternet_t2': Claim('fasternet', 'FasterNet-T2', 78.9, 15.0, 1.90, source=_FN),
    'fasternet_s': Claim('fasternet', 'FasterNet-S', 81.3, 31.1, 4.55, source=_FN),
    'fasternet_m': Claim('fasternet', 'FasterNet-M', 83.0, 53.5, 8.72, source=_FN),
    'fasternet_l': Claim('fasternet', 'FasterNet-L', 83.5, 93.4, 15.49, source=_FN),
    # MPViT (docstrings: 5843736 / 10573448 / 22892400 / 74845976 params, 1.654 / 2.971 / 4.800 / 16.445 GFLOPs)
    'mpvit_tiny': Claim('mpvit', 'MPViT-T', 78.2, 5.843736, 1.654163812, source=_MP),
    'mpvit_xsmall': Claim('mpvit', 'MPViT-XS', 80.9, 10.573448, 2.971396560, source=_MP),
    'mpvit_small': Claim('mpvit', 'MPViT-S', 83.0, 22.892400, 4.799650824, source=_MP),
    'mpvit_base': Claim('mpvit', 'MPViT-B', 84.3, 74.845976, 16.445326240, source=_MP),
    # RapidNet
    'rapidnet_ti': Claim('rapidnet', 'RapidNet-Ti', 76.3, latency='0.9 ms iPhone 13 mini NPU', source=_RN),
    'rapidnet_s': Claim('rapidnet', 'RapidNet-S', source=_RN, note='no per-variant claim retrievable'),
    'rapidnet_m': Claim('rapidnet', 'RapidNet-M', source=_RN, note='no per-variant claim retrievable'),
    'rapidnet_b': Claim('rapidnet', 'RapidNet-B', source=_RN, note='no per-variant claim retrievable'),
    # RepNeXt (top-1 distilled; without distillation: 72.6 / 77.5 / 78.9 / 79.4 / 81.2 / 82.4)
    'repnext_m0': Claim('repnext', 'RepNeXt-M0', 74.2, 2.3, 0.4, '0.59 ms iPhone 12', _RP),
    'repnext_m1': Claim('repnext', 'RepNeXt-M1', 78.8, 4.8, 0.8, '0.86 ms iPhone 12', _RP),
    'repnext_m2': Claim('repnext', 'RepNeXt-M2', 80.1, 6.5, 1.1, '1.00 ms iPhone 12', _RP),
    'repnext_m3': Claim('repnext', 'RepNeXt-M3', 80.7, 7.8, 1.3, '1.11 ms iPhone 12', _RP),
    'repnext_m4': Claim('repnext', 'RepNeXt-M4', 82.3, 13.3, 2.3, '1.48 ms iPhone 12', _RP),
    'repnext_m5': Claim('repnext', 'RepNeXt-M5', 83.3, 21.7, 4.5, '2.20 ms iPhone 12', _RP),
    # ReXNet (CPU: Xeon E5-2630 v4 batch 1 / GPU: V100 batch 64)
    'rexnet_090': Claim('rexnet', 'ReXNet-0.9', 77.2, 4.1, 0.35, '45 ms Xeon E5-2630v4 / 20 ms V100 b64', _RX,
                        note='no released ImageNet weights'),
    'rexnet_100': Claim('rexnet', 'ReXNet-1.0', 77.9, 4.8, 0.40, '47 ms Xeon E5-2630v4 / 21 ms V100 b64', _RX),
    'rexnet_130': Claim('rexnet', 'ReXNet-1.3', 79.5, 7.6, 0.66, '55 ms Xeon E5-2630v4 / 28 ms V100 b64', _RX),
    'rexnet_150': Claim('rexnet', 'ReXNet-1.5', 80.3, 9.7, 0.88, '59 ms Xeon E5-2630v4 / 31 ms V100 b64', _RX),
    'rexnet_200': Claim('rexnet', 'ReXNet-2.0', 81.6, 16, 1.5, '69 ms Xeon E5-2630v4 / 40 ms V100 b64', _RX,
                        note=_RX2_NOTE),
    'rexnet_220': Claim('rexnet', 'ReXNet-2.2', source=_RX, note='COCO backbone only; no ImageNet claim'),
    'rexnet_300': Claim('rexnet', 'ReXNet-3.0', 82.8, 34, 3.4, source=_RX),
    'rexnet_lite_100': Claim('rexnet', 'ReXNet-lite-1.0', 76.2, 4.7, 0.41, '31 ms Xeon / 49 ms 2xM40', _RX),
    'rexnet_lite_130': Claim('rexnet', 'ReXNet-lite-1.3', 77.8, 6.8, 0.65, '36 ms Xeon / 61 ms 2xM40', _RX),
    'rexnet_lite_150': Claim('rexnet', 'ReXNet-lite-1.5', 78.6, 8.3, 0.84, '39 ms Xeon / 68 ms 2xM40', _RX),
    'rexnet_lite_200': Claim('rexnet', 'ReXNet-lite-2.0', 80.2, 13, 1.5, '49 ms Xeon / 90 ms 2xM40', _RX),
}

# fvcore FlopCountAnalysis (MACs) of the authors' own code at 1x3x224x224, measured in the research notes:
# name -> (params of the training-form model, GMACs train form, GMACs deployed form or None).
# fvcore counts convs/matmuls plus BatchNorm (2 per element in eval), LayerNorm (5 per element) and adaptive pooling;
# tools.benchmark.count_macs reproduces that convention in its ``gmacs_fvcore`` column.
FVCORE_REFERENCE = {
    'fasternet_t0': (3_905_500, 0.338, 0.3354), 'fasternet_t1': (7_595_368, 0.855, 0.8505),
    'fasternet_t2': (14_982_888, 1.911, 1.9044), 'fasternet_s': (31_181_032, 4.560, 4.5498),
    'fasternet_m': (53_521_464, 8.742, 8.7220), 'fasternet_l': (93_465_192, 15.521, 15.4945),
    'mpvit_tiny': (5_843_736, 1.654163812, None), 'mpvit_xsmall': (10_573_448, 2.971396560, None),
    'mpvit_small': (22_892_400, 4.799650824, None), 'mpvit_base': (74_845_976, 16.445326240, None),
    'rapidnet_ti': (6_627_840, 0.628, None), 'rapidnet_s': (9_213_088, 0.912, None),
    'rapidnet_m': (17_304_496, 1.615, None), 'rapidnet_b': (30_556_496, 3.384, None),
    'repnext_m0': (2_716_480, 0.410, 0.389), 'repnext_m1': (5_323_316, 0.860, 0.825),
    'repnext_m2': (7_049_082, 1.156, 1.115), 'repnext_m3': (8_466_560, 1.388, 1.343),
    'repnext_m4': (14_080_480, 2.368, 2.295), 'repnext_m5': (22_708_860, 4.674, 4.554),
    'rexnet_090': (4_091_257, 0.363, None), 'rexnet_100': (4_796_873, 0.415, None),
    'rexnet_130': (7_557_091, 0.683, None), 'rexnet_150': (9_728_593, 0.900, None),
    'rexnet_200': (16_366_620, 1.561, None), 'rexnet_220': (19_485_308, 1.878, None),
    'rexnet_300': (34_708_792, 3.445, None),
    'rexnet_lite_100': (4_740_056, 0.422, None), 'rexnet_lite_130': (6_747_960, 0.666, None),
    'rexnet_lite_150': (8_332_296, 0.858, None), 'rexnet_lite_200': (12_966_200, 1.528, None),
}


def claim_for(model_name: str) -> Optional[Claim]:
    """The claim for a timm model name (pretrained tag and case ignored), or None."""
    base = model_name.split('.', 1)[0].lower()
    return CLAIMS.get(base)
