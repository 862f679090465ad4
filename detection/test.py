"""Evaluate a checkpoint (ours, or the authors' released file) with a config of configs/detection/.

    python detection/test.py CONFIG CKPT [--tta] [--work-dir DIR] [--out OUT] [--show-dir DIR] [--cfg-options k=v ...]
    torchrun --nproc-per-node 8 detection/test.py CONFIG CKPT

Everything lives in dense/runner.py, shared with segmentation/; see detection/README.md.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dense import runner as dense_runner  # noqa: E402

if __name__ == '__main__':
    sys.exit(dense_runner.main('detection', 'test'))
