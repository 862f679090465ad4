#!/usr/bin/env bash
# Runs the test suite with the project's venv (PY overrides it: the newest-torch run of `make test`); fails when no
# test ran (pytest exit 5), prints the suite time.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS
PY="${PY:-.venv/bin/python}"
"$PY" -m pytest "$@"
rc=$?
echo "[tests] suite time: $((SECONDS - start))s ($("$PY" -c 'import torch; print("torch", torch.__version__)'))"
if [[ $rc -eq 5 ]]; then
  echo "[tests] FAILED: no test was collected or run" >&2
  exit 1
fi
exit $rc
