"""Train a config of configs/detection/ on mmengine's Runner (one GPU, torchrun, SLURM or mpirun).

    python detection/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    torchrun --nproc-per-node 8 detection/train.py CONFIG

Everything lives in dense/runner.py, shared with segmentation/; see detection/README.md.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dense import runner as dense_runner  # noqa: E402

if __name__ == '__main__':
    sys.exit(dense_runner.main('detection', 'train'))
