"""mmseg 0.x's place for the test script (RapidNet: ``cd segmentation; python tools/test.py CONFIG ...``): the same as
segmentation/test.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from dense import runner as dense_runner  # noqa: E402

if __name__ == '__main__':
    sys.exit(dense_runner.main('segmentation', 'test'))
