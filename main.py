"""The original repositories' entry point (``python main.py --model ... --data-path ...``, RapidNet / RepNeXt /
MPViT, run from the repository root): the same as classification/main.py, which accepts their flags.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from classification.main import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
