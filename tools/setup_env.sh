#!/usr/bin/env bash
# Builds the project's virtual environment (.venv) with exact pins, mmcv's C++ ops compiled from source.
# Idempotent: a stamp records the hash of the pins and of this script; a second run on a ready machine
# only checks the stamp and the mmcv ops import, and returns in seconds.
# A failed step prints one line with the cause and the path of its full log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
LOG_DIR="$ROOT/build/logs"
LOCK="${LOCK:-$ROOT/requirements/lock.txt}"  # override only to test failures, or with the two below
BASE="${BASE:-$ROOT/requirements/base.txt}"
WITH_MM="${WITH_MM:-1}"  # 0: no mmcv build (the light newest-torch venv: make setup-newest)
MMCV_VERSION="2.1.0"
PY="$VENV/bin/python"
STAMP="$VENV/.setup-stamp"
mkdir -p "$LOG_DIR"

fingerprint() { cat "$LOCK" "$BASE" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1; }

ops_ok() { [[ "$WITH_MM" == 0 ]] || "$PY" -c "from mmcv.ops import nms, RoIAlign" >/dev/null 2>&1; }

# The project importable from any directory (mmdet's / mmseg's own tools/, timm's train.py, notebooks): a .pth
# file in the venv's site-packages naming the repository root; rewritten (atomically) on every run.
write_path_file() {
  local site
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf '%s\n' "$ROOT" >"$site/efficient_backbones.pth.tmp"
  mv "$site/efficient_backbones.pth.tmp" "$site/efficient_backbones.pth"
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(fingerprint)" ]] && ops_ok; then
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

if ! ops_ok; then
  # mmcv publishes no wheels for current torch: compile its ops (10-20 min on 2 cores; pip caches the wheel,
  # so later environments on the same machine install it in seconds). The build needs torch importable and
  # setuptools < 70 (pkg_resources), hence no build isolation. FORCE_CUDA=0: CPU ops only.
  log="$LOG_DIR/mmcv-build.log"
  echo "[setup] mmcv $MMCV_VERSION: installing with C++ ops (compiled on first use, from pip's wheel cache after; log: $log)"
  start=$SECONDS
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "${PIP[@]}" install -v --no-deps --no-build-isolation "mmcv==$MMCV_VERSION" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 20
    progress=$(grep -oE "\[[0-9]+/[0-9]+\]" "$log" | tail -1 || true)
    echo "[setup]   mmcv build: ${progress:-preparing} $((SECONDS - start))s elapsed"
  done
  wait "$pid" || fail "mmcv-build" "$log"
  ops_ok || fail "mmcv-ops-import" "$log"
  if grep -q "Building wheel for mmcv" "$log"; then how="compiled"; else how="installed from pip's wheel cache"; fi
  echo "[setup] mmcv ops $how in $((SECONDS - start))s"
fi

write_path_file

fingerprint >"$STAMP"
echo "[setup] environment ready: $VENV"
