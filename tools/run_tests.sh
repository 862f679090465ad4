#!/usr/bin/env bash
# Runs the test suite with the project's venv (PY overrides it: the newest-torch run of `make test`); fails when no
# test ran (pytest exit 5), prints the suite time.
# tests/test_deploy_runtimes.py (OpenVINO, ONNX Runtime, coremltools) runs in a pytest process of its own: in one
# process after the classification training tests, the heap was corrupted (SIGSEGV inside malloc, at varying tests;
# each module passes alone). Root cause not found yet; isolating it keeps one crash from hiding the rest.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PY:-.venv/bin/python}"
ISOLATED=tests/test_deploy_runtimes.py
start=$SECONDS
files=(); opts=(); isolated=0
for arg in "$@"; do
  if [[ "$arg" == "$ISOLATED" ]]; then isolated=1
  elif [[ "$arg" == tests/* ]]; then files+=("$arg")
  else opts+=("$arg"); fi
done
((${#files[@]} == 0 && isolated == 0)) && isolated=1 && files=(--ignore="$ISOLATED")
rc=0
if [[ ${#files[@]} -gt 0 ]]; then
  "$PY" -m pytest "${opts[@]}" "${files[@]}"
  rc=$?
fi
if ((isolated)); then
  "$PY" -m pytest "${opts[@]}" "$ISOLATED"
  iso=$?
  ((rc == 0 || rc == 5)) && rc=$iso
fi
echo "[tests] suite time: $((SECONDS - start))s ($("$PY" -c 'import torch; print("torch", torch.__version__)'))"
if [[ $rc -eq 5 ]]; then
  echo "[tests] FAILED: no test was collected or run" >&2
  exit 1
fi
exit $rc
