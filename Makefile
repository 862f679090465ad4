# Two commands for a fresh machine (see README):  make demo   |   make test
# Everything runs from the repository root with the project's own virtual environment.
PY := .venv/bin/python
SHELL := /bin/bash

.PHONY: setup setup-newest setup-launchers demo test test-pinned test-newest test-slow data benchmark clean

# What the light newest-torch venv tests: everything but the mm stack (models/, classification/, tools/)
NEWEST_TESTS := tests/test_blocks.py tests/test_fasternet.py tests/test_mpvit.py tests/test_rapidnet.py \
	tests/test_repnext.py tests/test_rexnet.py tests/test_models_common.py tests/test_timm_battery.py \
	tests/test_classification.py tests/test_tools.py tests/test_deploy_runtimes.py tests/test_hostile_checkpoints.py \
	tests/test_synthetic.py

setup:  ## create/refresh .venv with exact pins and mmcv ops compiled from source (idempotent)
	@bash tools/setup_env.sh

setup-newest:  ## the light venv on the newest torch the registry serves (.venv-newest; no mm stack)
	@VENV=$(CURDIR)/.venv-newest LOCK=$(CURDIR)/requirements/lock-newest.txt BASE=$(CURDIR)/requirements/newest.txt \
		WITH_MM=0 bash tools/setup_env.sh

setup-launchers: setup  ## Debian's Open MPI and SLURM (+ munge) and mpi4py, for tests/test_launchers.py (not by default)
	@bash tools/setup_launchers.sh

data: setup  ## synthetic ImageNet / COCO / ADE20K sets under data/synthetic
	@$(PY) tools/make_synthetic.py --out data/synthetic

demo: setup  ## the main job: synthetic data -> 2-process CPU training -> --eval of the saved checkpoint
	@bash classification/demo.sh

test: test-pinned test-newest  ## the fast test suite on the pinned stack, then on the newest torch (what CI runs)

test-pinned: setup  ## the fast suite on the pinned stack only
	@bash tools/run_tests.sh

test-newest: setup-newest  ## models/, classification/, tools/ on the newest torch (.venv-newest)
	@PY=.venv-newest/bin/python bash tools/run_tests.sh $(NEWEST_TESTS) -m "not mm_stack"

test-slow: setup  ## the long tests too (overfitting detection/segmentation, heavy variants)
	@RUN_SLOW=1 bash tools/run_tests.sh

benchmark: setup  ## regenerate the params/MACs/latency tables and chart in logs/
	@$(PY) tools/benchmark.py

clean:
	rm -rf build/ output/ work_dirs/ data/synthetic .pytest_cache
