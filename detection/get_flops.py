"""Params and FLOPs of a whole detector (FasterNet's ``python get_flops.py CONFIG``), at its test input size.

    python detection/get_flops.py CONFIG [--shape H [W]] [--cfg-options k=v ...]

The input is one image of the test pipeline's ``Resize`` scale (e.g. 1333x800 -> 800x1333), padded as the data
preprocessor pads (``pad_size_divisor``), or ``--shape``. FLOPs are counted by ``torch.utils.flop_counter``
(multiply-adds x 2) over one forward in ``tensor`` mode (backbone, neck, RPN, RoI heads on the test-time
proposals); ``GMACs`` is the number mmcv's and mmdet 2.x's ``get_flops.py`` print as "Flops".
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from dense import runner as dense_runner  # noqa: E402


def test_shape(cfg):
    """(H, W) of the test pipeline's Resize scale, padded to the data preprocessor's divisor."""
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset['dataset']
    scales = [t['scale'] for t in dataset.get('pipeline', []) if t.get('type') == 'Resize' and 'scale' in t]
    width, height = scales[0] if scales else (1333, 800)
    divisor = cfg.model.get('data_preprocessor', {}).get('pad_size_divisor', 1) or 1
    return math.ceil(height / divisor) * divisor, math.ceil(width / divisor) * divisor


def count(cfg, shape):
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from torch.utils.flop_counter import FlopCounterMode
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model).eval()
    height, width = shape
    sample = DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                         pad_shape=(height, width), batch_input_shape=(height, width),
                                         scale_factor=(1.0, 1.0)))
    inputs = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(inputs, [sample], mode='tensor')
    params = sum(p.numel() for p in model.parameters())
    return params, counter.get_total_flops()


def main(argv=None) -> int:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='params and FLOPs of a detector config at its test size')
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs='+', default=None, help='input H [W] (default: the test size)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    args = parser.parse_args(argv)
    args.work_dir = None
    cfg = dense_runner.load_config(args, 'none', 'detection')
    shape = test_shape(cfg) if not args.shape else (args.shape[0], args.shape[-1])
    params, flops = count(cfg, shape)
    line = '=' * 30
    print(f'{line}\nInput shape: (3, {shape[0]}, {shape[1]})\nParams: {params / 1e6:.2f} M\n'
          f'FLOPs: {flops / 1e9:.2f} G (GMACs {flops / 2e9:.2f}, what mmcv reports as Flops)\n{line}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
