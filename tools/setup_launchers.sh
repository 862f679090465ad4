#!/usr/bin/env bash
# Real launchers for the launcher tests (tests/test_launchers.py), installed on request (`make setup-launchers`):
# Debian's Open MPI (mpirun) and SLURM (slurmctld, slurmd, srun, sbatch) with munge, and mpi4py in .venv.
# Nothing is started here: the tests start a one-node SLURM cluster on localhost and stop it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${VENV:-$ROOT/.venv}/bin/python"
start=$SECONDS
mkdir -p "$ROOT/build/logs"
missing=()
for cmd in mpirun srun slurmctld slurmd munged; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
if ((${#missing[@]})); then
  echo "[launchers] installing Debian's openmpi-bin, slurm-wlm, munge (missing: ${missing[*]})"
  sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq openmpi-bin libopenmpi-dev slurm-wlm munge \
    >"$ROOT/build/logs/launchers-apt.log" 2>&1 || { echo "[launchers] FAILED: apt-get (log: $ROOT/build/logs/launchers-apt.log)" >&2; exit 1; }
fi
"$PY" -m pip install --disable-pip-version-check -q -r "$ROOT/requirements/launchers.txt"
"$PY" -c "from mpi4py import MPI; print('[launchers] mpi4py over', MPI.Get_library_version().split(',')[0])"
echo "[launchers] ready in $((SECONDS - start))s: $(mpirun --version | head -1), $(slurmd -V)"
