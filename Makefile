# Two commands for a fresh machine (see README):  make demo   |   make test
# Everything runs from the repository root with the project's own virtual environment.
PY := .venv/bin/python
SHELL := /bin/bash

.PHONY: setup demo test test-slow data benchmark clean

setup:  ## create/refresh .venv with exact pins and mmcv ops compiled from source (idempotent)
	@bash tools/setup_env.sh

data: setup  ## synthetic ImageNet / COCO / ADE20K sets under data/synthetic
	@$(PY) tools/make_synthetic.py --out data/synthetic

demo: setup  ## the main job: synthetic data -> 2-process CPU training -> --eval of the saved checkpoint
	@bash classification/demo.sh

test: setup  ## the fast test suite (what CI runs)
	@bash tools/run_tests.sh

test-slow: setup  ## the long tests too (overfitting detection/segmentation, heavy variants)
	@RUN_SLOW=1 bash tools/run_tests.sh

benchmark: setup  ## regenerate the params/MACs/latency tables and chart in logs/
	@$(PY) tools/benchmark.py

clean:
	rm -rf build/ output/ work_dirs/ data/synthetic .pytest_cache
