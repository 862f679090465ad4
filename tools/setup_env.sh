#!/usr/bin/env bash
# Builds the project's virtual environment (.venv) with exact pins, mmcv's C++ ops compiled from source.
# Idempotent: a stamp records the hash of the pins, of this script and tools/build_mmcv.sh, and the mmcv wheel
# this machine needs (CPU ops, or CUDA ops for torch's CUDA and the GPUs' architectures); a second run on a ready
# machine only checks the stamp and the mmcv ops, and returns in seconds.
# On a machine where torch sees a GPU (or with MMCV_CUDA=1) mmcv is built with CUDA ops: see tools/build_mmcv.sh
# for nvcc, TORCH_CUDA_ARCH_LIST, MAX_JOBS and the wheelhouse (build/wheelhouse/<tag>/).
# A failed step prints one line with the cause and the path of its full log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
LOG_DIR="$ROOT/build/logs"
LOCK="${LOCK:-$ROOT/requirements/lock.txt}"  # override only to test failures, or with the two below
BASE="${BASE:-$ROOT/requirements/base.txt}"
WITH_MM="${WITH_MM:-1}"  # 0: no mmcv build (the light newest-torch venv: make setup-newest)
PY="$VENV/bin/python"
STAMP="$VENV/.setup-stamp"
BUILD_MMCV=(env PY="$PY" LOG_DIR="$LOG_DIR" bash "$ROOT/tools/build_mmcv.sh")
mkdir -p "$LOG_DIR"

mmcv_tag() {
  if [[ "$WITH_MM" == 0 ]]; then echo no-mm; else "${BUILD_MMCV[@]}" --tag 2>/dev/null || echo none; fi
}

fingerprint() {  # fingerprint TAG
  { cat "$LOCK" "$BASE" "${BASH_SOURCE[0]}" "$ROOT/tools/build_mmcv.sh"; echo "$1"; } | sha256sum | cut -d' ' -f1
}

# the tag of the installed mmcv when its ops pass the check (nms + RoIAlign; on CUDA too with a GPU), else nothing
ready_tag() {
  [[ -x "$PY" ]] || return 1
  if [[ "$WITH_MM" == 0 ]]; then echo no-mm; return 0; fi
  "${BUILD_MMCV[@]}" --check 2>/dev/null | sed -n 's/^\[setup\] mmcv wheel tag: //p'
}

# The project importable from any directory (mmdet's / mmseg's own tools/, timm's train.py, notebooks): a .pth
# file in the venv's site-packages naming the repository root; rewritten (atomically) on every run.
write_path_file() {
  local site
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf '%s\n' "$ROOT" >"$site/efficient_backbones.pth.tmp"
  mv "$site/efficient_backbones.pth.tmp" "$site/efficient_backbones.pth"
}

if [[ -f "$STAMP" ]] && tag=$(ready_tag) && [[ -n "$tag" && "$(cat "$STAMP")" == "$(fingerprint "$tag")" ]]; then
  write_path_file
  echo "[setup] environment ready: $VENV"
  exit 0
fi

fail() {  # fail STEP LOG: one line naming the first error in the log, then the log's path
  local reason
  reason=$(grep -m1 -iE "error:|error |No matching distribution|fatal" "$2" | cut -c1-200 || true)
  echo "[setup] FAILED at '$1': ${reason:-see log} (full log: $2)" >&2
  exit 1
}

run_step() {  # run_step NAME CMD...: quiet, timed, one-line failure
  local name="$1"; shift
  local log="$LOG_DIR/$name.log" start=$SECONDS
  echo "[setup] $name ..."
  "$@" >"$log" 2>&1 || fail "$name" "$log"
  echo "[setup] $name done in $((SECONDS - start))s"
}

if [[ ! -x "$PY" ]]; then
  run_step venv python3 -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
run_step pip "${PIP[@]}" install "pip==25.3"
# Everything but mmcv, exactly as locked (torch is several GB on first install).
run_step requirements "${PIP[@]}" install -r "$LOCK"

if [[ -z "$(ready_tag || true)" ]]; then
  # mmcv publishes no wheels for current torch: compile its ops (CPU: 10-20 min on 2 cores, then from pip's wheel
  # cache; CUDA: its own wheelhouse entry). build_mmcv.sh prints its own one-line failure.
  "${BUILD_MMCV[@]}" || exit 1
fi

write_path_file

fingerprint "$(mmcv_tag)" >"$STAMP"
echo "[setup] environment ready: $VENV"
