"""Train a config of configs/segmentation/ on mmengine's Runner (one GPU, torchrun, SLURM or mpirun).

    python segmentation/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    torchrun --nproc-per-node 8 segmentation/train.py CONFIG

Everything lives in dense/runner.py, shared with detection/; see segmentation/README.md.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dense import runner as dense_runner  # noqa: E402

if __name__ == '__main__':
    sys.exit(dense_runner.main('segmentation', 'train'))
