#!/usr/bin/env bash
# Runs the test suite with the project's venv; fails when no test ran (pytest exit 5), prints the suite time.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS
.venv/bin/python -m pytest "$@"
rc=$?
echo "[tests] suite time: $((SECONDS - start))s"
if [[ $rc -eq 5 ]]; then
  echo "[tests] FAILED: no test was collected or run" >&2
  exit 1
fi
exit $rc
