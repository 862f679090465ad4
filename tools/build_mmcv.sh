#!/usr/bin/env bash
# Builds mmcv 2.1.0 with its compiled ops for the torch of one environment and installs it there.
#
#   tools/build_mmcv.sh            build (or reuse) the wheel for this environment, install it, run the ops check
#   tools/build_mmcv.sh --tag      print the wheelhouse tag this environment needs, nothing else
#   tools/build_mmcv.sh --check    only the ops check (nms + RoIAlign; on a CUDA tensor too when a GPU is visible),
#                                  then the tag; exit 1 when mmcv is missing, broken, or lacks the CUDA ops asked for
#
# CPU or CUDA ops: CUDA when MMCV_CUDA=1 (or FORCE_CUDA=1), or when MMCV_CUDA is unset and torch sees a GPU;
# MMCV_CUDA=0 forces CPU ops (the GPU is then hidden from mmcv's setup.py, which would switch to CUDA by itself).
# nvcc: $CUDA_HOME (when unset: the nvcc on PATH, then /usr/local/cuda) when its release equals torch.version.cuda; else
# NVIDIA's nvcc wheels from the package index, assembled with the CUDA headers of the environment's own nvidia-*
# wheels into build/cuda-<version>/ (a CUDA_HOME of links, nothing installed into the environment).
# TORCH_CUDA_ARCH_LIST: the visible GPUs' compute capabilities unless set (required when no GPU is visible).
# MAX_JOBS: parallel compile jobs (default: all cores).
# Wheels live in $WHEELHOUSE/<tag>/ (default build/wheelhouse), tag = mmcv + torch + CUDA + arch list or 'cpu':
# a CPU wheel can never be installed into a CUDA environment or the reverse. CUDA builds bypass pip's own
# cache (--no-cache-dir): it is keyed by the source file only, so it would hand a CPU build to a GPU node.
# The CPU build still goes through pip's cache, as before, so CI on a machine that built it once takes seconds.
# MMCV_INSTALL=0: build the wheel into the wheelhouse only (PY may then be any environment with that torch).
# MMCV_SDIST=path/to/mmcv-2.1.0.tar.gz: build from that file (a machine without a package index).
# A failed step prints one line with the cause and the path of its full log, and exits 1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
LOG_DIR="${LOG_DIR:-$ROOT/build/logs}"
WHEELHOUSE="${WHEELHOUSE:-$ROOT/build/wheelhouse}"
MMCV_VERSION="2.1.0"
mkdir -p "$LOG_DIR"
exec 3>&1  # progress lines from inside $(...) captures reach the terminal, stderr keeps only the failure line

fail() {  # fail STEP LOG [REASON]: one line naming the first error in the log (or REASON), then the log's path
  local reason="${3:-}"
  if [[ -z "$reason" ]]; then
    reason=$(grep -m1 -iE "error:|error |No matching distribution|fatal" "$2" 2>/dev/null | cut -c1-200 || true)
  fi
  if [[ "$2" == - ]]; then
    echo "[setup] FAILED at '$1': $reason" >&2
  else
    echo "[setup] FAILED at '$1': ${reason:-see log} (full log: $2)" >&2
  fi
  exit 1
}

# torch's view of this machine (one line: version, CUDA release of the build, whether a GPU is visible, the GPUs'
# capabilities); with "check" also the ops check: nms + RoIAlign on CPU, and on CUDA when a GPU is visible (one
# Python start for both: it is the whole cost of an up-to-date setup run)
probe() {
  "$PY" - "${1:-}" <<'EOF'
import os
import sys
import time

import torch

caps = sorted({'%d.%d' % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())}
              if torch.cuda.is_available() else set())
print(torch.__version__, torch.version.cuda or 'none', int(torch.cuda.is_available()), ';'.join(caps) or 'none',
      flush=True)
if sys.argv[1] != 'check':
    sys.exit(0)
from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms  # noqa: E402

mmcv_cuda = os.environ.get('MMCV_CUDA', '')
want_cuda = mmcv_cuda == '1' or os.environ.get('FORCE_CUDA') == '1' or (not mmcv_cuda and torch.cuda.is_available())
built_with = get_compiling_cuda_version()
if want_cuda and built_with == 'not available':
    sys.exit('mmcv is installed with CPU ops only, CUDA ops were asked for')
devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() and built_with != 'not available' else [])
for device in devices:
    start = time.perf_counter()
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32, device=device)
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7], device=device), iou_threshold=0.5)
    feats = torch.arange(16, dtype=torch.float32, device=device).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0, 0, 0, 4, 4]], dtype=torch.float32, device=device)
    pooled = RoIAlign((1, 1), spatial_scale=1.0, sampling_ratio=2, aligned=True)(feats, rois)
    if keep.tolist() != [0, 2] or abs(pooled.item() - 7.5) > 1e-5:
        sys.exit(f'mmcv ops on {device} give wrong results: keep={keep.tolist()} roi_align={pooled.item()}')
    if device == 'cuda':
        torch.cuda.synchronize()
    print(f'[setup] mmcv ops check on {device}: nms + RoIAlign ok in {1e3 * (time.perf_counter() - start):.1f} ms'
          f' (mmcv built with CUDA {built_with})')
EOF
}

CHECK_OUT=""
CHECK_RC=0
if [[ "${1:-}" == --check ]]; then
  CHECK_OUT=$(probe check 2>&1) || CHECK_RC=$?
  PROBE_LINE=$(head -1 <<<"$CHECK_OUT")
else
  PROBE_LINE=$(probe 2>/dev/null) || PROBE_LINE=""
fi
read -r TORCH_VERSION TORCH_CUDA GPU_VISIBLE GPU_ARCHS _ <<<"$PROBE_LINE" || true
[[ -n "${GPU_ARCHS:-}" ]] || { echo "[setup] FAILED at 'mmcv-probe': torch is not importable with $PY" >&2; exit 1; }

WANT_CUDA=0
if [[ "${MMCV_CUDA:-}" == 1 || "${FORCE_CUDA:-0}" == 1 ]]; then
  WANT_CUDA=1
elif [[ -z "${MMCV_CUDA:-}" && "$GPU_VISIBLE" == 1 ]]; then
  WANT_CUDA=1
fi

if [[ "$WANT_CUDA" == 1 ]]; then
  [[ "$TORCH_CUDA" != none ]] \
    || fail mmcv-probe - "CUDA ops asked for, but torch $TORCH_VERSION is a CPU-only build"
  ARCHS="${TORCH_CUDA_ARCH_LIST:-}"
  [[ -n "$ARCHS" || "$GPU_ARCHS" != none ]] \
    || fail mmcv-probe - "no GPU visible: set TORCH_CUDA_ARCH_LIST (e.g. 9.0) to build CUDA ops"
  ARCHS="${ARCHS:-$GPU_ARCHS}"
  # "8.0;9.0+PTX" -> "sm80-sm90+PTX"
  ARCH_TAG=$(echo "$ARCHS" | tr ' ;,' '\n\n\n' | sed '/^$/d; s/\.//; s/^/sm/' | paste -sd- -)
  TAG="mmcv${MMCV_VERSION}-torch${TORCH_VERSION%%+*}-cu${TORCH_CUDA}-${ARCH_TAG}"
else
  TAG="mmcv${MMCV_VERSION}-torch${TORCH_VERSION%%+*}-cpu"
fi

case "${1:-}" in
  --tag) echo "$TAG"; exit 0 ;;
  --check)  # the ops check's lines, then the tag (tools/setup_env.sh reads it from the last line)
    tail -n +2 <<<"$CHECK_OUT"
    if (( CHECK_RC == 0 )); then echo "[setup] mmcv wheel tag: $TAG"; fi
    exit "$CHECK_RC" ;;
  "") ;;
  *) echo "[setup] FAILED at 'mmcv-args': unknown argument '$1' (use --tag or --check)" >&2; exit 1 ;;
esac

PIP=("$PY" -m pip --disable-pip-version-check)
HOUSE="$WHEELHOUSE/$TAG"
log="$LOG_DIR/mmcv-build-$TAG.log"

nvcc_release() {  # nvcc_release NVCC -> "12.8"
  "$1" --version 2>/dev/null | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p'
}

# A CUDA_HOME whose nvcc is the release torch was built with: the given one, or one assembled from NVIDIA's wheels.
find_cuda_home() {
  local cand cands
  if [[ -n "${CUDA_HOME:-}" ]]; then  # an explicit CUDA_HOME replaces the search (CUDA_HOME=none: wheels only)
    cands=("$CUDA_HOME")
  else
    cands=("$(dirname "$(dirname "$(readlink -f "$(command -v nvcc 2>/dev/null || echo /x/x/x)")")")" \
           "$(readlink -f /usr/local/cuda || true)")
  fi
  local seen=" "
  for cand in "${cands[@]}"; do
    # a toolkit root: nvcc and the runtime headers (not e.g. /usr/local for a /usr/local/bin/nvcc wrapper)
    [[ -n "$cand" && -x "$cand/bin/nvcc" && -f "$cand/include/cuda_runtime.h" && "$seen" != *" $cand "* ]] \
      || continue
    seen+="$cand "
    if [[ "$(nvcc_release "$cand/bin/nvcc")" == "$TORCH_CUDA" ]]; then
      echo "$cand"; return 0
    fi
    echo "[setup]   nvcc in $cand is release $(nvcc_release "$cand/bin/nvcc"), torch needs $TORCH_CUDA: not used" >&3
  done
  local home="$ROOT/build/cuda-$TORCH_CUDA" major="${TORCH_CUDA%%.*}" pkgs
  if [[ -f "$home/.complete" ]]; then  # written last: a half-assembled folder is never reused
    echo "$home"; return 0
  fi
  # The compiler driver, its front end (cicc), the device-side C runtime and CCCL (thrust/cub) headers; CUDA 12's
  # toolkit was never split this way on the index (its nvcc wheel has ptxas and libnvvm only, no nvcc).
  if (( major >= 13 )); then
    pkgs=("nvidia-cuda-nvcc==$TORCH_CUDA.*" "nvidia-nvvm==$TORCH_CUDA.*" "nvidia-cuda-crt==$TORCH_CUDA.*"
          "nvidia-cuda-cccl==$TORCH_CUDA.*" "nvidia-cuda-runtime==$TORCH_CUDA.*")
  else
    pkgs=("nvidia-cuda-nvcc-cu$major==$TORCH_CUDA.*")
  fi
  local nvlog="$LOG_DIR/mmcv-nvcc-$TORCH_CUDA.log"
  echo "[setup]   nvcc $TORCH_CUDA from NVIDIA's wheels into $home (log: $nvlog)" >&3
  rm -rf "$home" && mkdir -p "$home"
  "${PIP[@]}" install --no-deps --no-cache-dir --target "$home/pkgs" "${pkgs[@]}" >"$nvlog" 2>&1 \
    || fail mmcv-nvcc "$nvlog"
  # Merge the wheels' trees (and the environment's nvidia-* headers/libraries, which torch's CUDA headers include)
  # into one CUDA_HOME: bin/ and nvvm/ as hard links or copies (nvcc locates cicc and its profile from its own
  # real path), include/ and lib64/ as symbolic links.
  "$PY" - "$home" "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >>"$nvlog" 2>&1 <<'EOF' \
    || fail mmcv-nvcc "$nvlog"
import glob
import os
import shutil
import sys

home, site = sys.argv[1], sys.argv[2]
roots = [d for base in (os.path.join(home, 'pkgs', 'nvidia'), os.path.join(site, 'nvidia'))
         for d in sorted(glob.glob(os.path.join(base, '*'))) if os.path.isdir(d)]


def merge(src, dst, link):
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        out = os.path.join(dst, os.path.relpath(dirpath, src))
        os.makedirs(out, exist_ok=True)
        for name in filenames:
            target = os.path.join(out, name)
            if name == '__init__.py' or os.path.lexists(target):
                continue  # the first root wins: the wheels asked for, then the environment's
            path = os.path.realpath(os.path.join(dirpath, name))
            if link:
                os.symlink(path, target)
            else:
                try:
                    os.link(path, target)
                except OSError:
                    shutil.copy2(path, target)


for root in roots:
    for sub, dst, link in (('bin', 'bin', False), ('nvvm', 'nvvm', False), ('include', 'include', True),
                           ('lib', 'lib64', True), ('lib64', 'lib64', True)):
        if os.path.isdir(os.path.join(root, sub)):
            merge(os.path.join(root, sub), os.path.join(home, dst), link)
# The wheels ship versioned libraries only (libcudart.so.13); the linker's -lcudart needs libcudart.so.
lib = os.path.join(home, 'lib64')
for path in sorted(glob.glob(os.path.join(lib, '*.so.*'))):
    plain = path[:path.index('.so.') + 3]
    if not os.path.lexists(plain):
        os.symlink(os.path.basename(path), plain)
print('merged', len(roots), 'roots into', home)
EOF
  [[ -x "$home/bin/nvcc" ]] || { rm -rf "$home"; fail mmcv-nvcc "$nvlog" \
    "no nvcc in ${pkgs[*]} (NVIDIA's CUDA $major wheels ship ptxas/libnvvm only): set CUDA_HOME to a CUDA $TORCH_CUDA toolkit"; }
  [[ "$(nvcc_release "$home/bin/nvcc")" == "$TORCH_CUDA" ]] || fail mmcv-nvcc "$nvlog" \
    "assembled nvcc is release '$(nvcc_release "$home/bin/nvcc")', torch needs $TORCH_CUDA"
  touch "$home/.complete"
  echo "$home"
}

wheel=$(ls "$HOUSE"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -1 || true)
if [[ -z "$wheel" ]]; then
  start=$SECONDS
  build_env=(MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}")
  cache=()
  if [[ "$WANT_CUDA" == 1 ]]; then
    cuda_home=$(find_cuda_home)
    build_env+=(FORCE_CUDA=1 CUDA_HOME="$cuda_home" TORCH_CUDA_ARCH_LIST="$ARCHS" PATH="$cuda_home/bin:$PATH")
    cache=(--no-cache-dir)
    what="CUDA $TORCH_CUDA ops for $ARCHS (nvcc: $cuda_home/bin/nvcc)"
  else
    # an empty CUDA_VISIBLE_DEVICES keeps mmcv's setup.py from switching to CUDA on a GPU node
    build_env+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
    what="CPU ops"
  fi
  echo "[setup] mmcv $MMCV_VERSION: building the wheel with $what, MAX_JOBS=${MAX_JOBS:-$(nproc)} (log: $log)"
  tmp="$HOUSE.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # The build needs torch importable and setuptools < 70 (pkg_resources), hence no build isolation.
  env "${build_env[@]}" "${PIP[@]}" wheel -v --no-deps --no-build-isolation "${cache[@]}" -w "$tmp" \
    "${MMCV_SDIST:-mmcv==$MMCV_VERSION}" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in {1..10}; do kill -0 "$pid" 2>/dev/null && sleep 2; done  # a cache hit returns in seconds
    kill -0 "$pid" 2>/dev/null || break
    progress=$(grep -oE "\[[0-9]+/[0-9]+\]" "$log" | tail -1 || true)
    echo "[setup]   mmcv build: ${progress:-preparing} $((SECONDS - start))s elapsed"
  done
  wait "$pid" || { rm -rf "$tmp"; fail mmcv-build "$log"; }
  if grep -q "Building wheel for mmcv" "$log"; then how="compiled"; else how="taken from pip's wheel cache"; fi
  mkdir -p "$HOUSE"
  wheel="$HOUSE/$(basename "$(ls "$tmp"/mmcv-*.whl)")"
  mv "$tmp"/mmcv-*.whl "$wheel" && rm -rf "$tmp"
  echo "[setup] mmcv wheel $how in $((SECONDS - start))s: $wheel ($(du -m "$wheel" | cut -f1) MiB)"
else
  echo "[setup] mmcv wheel from the wheelhouse: $wheel"
fi

if [[ "${MMCV_INSTALL:-1}" == 1 ]]; then
  ilog="$LOG_DIR/mmcv-install.log"
  "${PIP[@]}" install --no-deps --no-index --no-cache-dir --force-reinstall "$wheel" >"$ilog" 2>&1 \
    || fail mmcv-install "$ilog"
  clog="$LOG_DIR/mmcv-ops-check.log"
  probe check >"$clog" 2>&1 || fail mmcv-ops-check "$clog" "$(tail -1 "$clog" | cut -c1-200)"
  tail -n +2 "$clog"
fi
