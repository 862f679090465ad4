"""FasterNet's entry point (``python train_test.py -c cfg/fasternet_t0.yaml --checkpoint_path FILE --data_dir DIR
--test_phase -g 1 -e 125``): the same as classification/main.py, which reads FasterNet's flags (``-c`` names the
matching recipe of configs/classification/fasternet/, ``-b`` / ``-e`` are global batches).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from classification.main import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
