"""RapidNet's name for the detection training script (``detection/main.py CONFIG --rapidnet_model NAME ...``):
the same as detection/train.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dense import runner as dense_runner  # noqa: E402

if __name__ == '__main__':
    sys.exit(dense_runner.main('detection', 'train'))
