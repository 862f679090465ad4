"""mmseg 0.x's place for the train script (RapidNet: ``cd segmentation; python tools/train.py CONFIG ...``): the same as
segmentation/train.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from dense import runner as dense_runner  # noqa: E402

if __name__ == '__main__':
    sys.exit(dense_runner.main('segmentation', 'train'))
