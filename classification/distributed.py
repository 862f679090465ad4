"""Rank discovery for every launcher, process-group set-up and the few collectives the loops need.

Launchers and what they export (first match wins):

* torchrun / ``submitit.helpers.TorchDistributedEnvironment``: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR``, ``MASTER_PORT``.
* Open MPI ``mpirun``: ``OMPI_COMM_WORLD_RANK`` / ``_SIZE`` / ``_LOCAL_RANK``.
* MPICH / Intel MPI (Hydra): ``PMI_RANK``, ``PMI_SIZE``, and ``MPI_LOCALRANKID`` or ``PMI_LOCAL_RANK``.
* SLURM ``srun``: ``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS`` (``SLURM_NTASKS``), ``SLURM_LOCALID``; the master is the
  first host of ``SLURM_STEP_NODELIST`` / ``SLURM_JOB_NODELIST``. Only inside a job step (srun), so a plain
  ``python main.py`` inside ``sbatch`` stays a single process instead of waiting for peers that never start.

MPI launchers do not export a rendezvous address. ``MASTER_ADDR`` from the environment wins; otherwise mpi4py (if
installed) broadcasts rank 0's host name; otherwise a single-node job uses 127.0.0.1 and a multi-node job stops with
a one-line error asking for ``MASTER_ADDR``. ``MASTER_PORT`` defaults to 29500.
"""
import dataclasses
import os
import re
import socket
import subprocess
from datetime import timedelta
from typing import Any, List, Optional

import torch
import torch.distributed as dist

from .errors import ConfigError

DEFAULT_PORT = '29500'


@dataclasses.dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launcher: str = 'none'
    device: torch.device = torch.device('cpu')

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _int_env(*names: str) -> Optional[int]:
    for name in names:
        if os.environ.get(name, '').strip():
            return int(os.environ[name])
    return None


def first_slurm_host(nodelist: str) -> str:
    """First host of a SLURM node list: 'gpu[03-05,7],cpu1' -> 'gpu03' (scontrol when available)."""
    try:
        out = subprocess.run(['scontrol', 'show', 'hostnames', nodelist], capture_output=True, text=True,
                             timeout=20, check=True).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.SubprocessError):
        pass
    head = re.match(r'([^,\[]+)(?:\[([^\]]+)\])?', nodelist.strip())
    if not head:
        return nodelist
    prefix, ranges = head.group(1), head.group(2)
    if not ranges:
        return prefix
    return prefix + ranges.split(',')[0].split('-')[0]


def _mpi_master_addr(rank: int) -> Optional[str]:
    try:
        from mpi4py import MPI  # optional: only to share rank 0's host name
    except ImportError:
        return None
    return MPI.COMM_WORLD.bcast(socket.gethostname() if rank == 0 else None, root=0)


def detect_launcher() -> DistEnv:
    """Rank, world size and local rank from the launcher's environment (no process group yet)."""
    env = os.environ
    if 'RANK' in env and 'WORLD_SIZE' in env:
        return DistEnv(int(env['RANK']), int(env['WORLD_SIZE']), _int_env('LOCAL_RANK') or 0, 'torchrun')
    if 'OMPI_COMM_WORLD_RANK' in env:
        rank, world = int(env['OMPI_COMM_WORLD_RANK']), int(env['OMPI_COMM_WORLD_SIZE'])
        local = _int_env('OMPI_COMM_WORLD_LOCAL_RANK') or 0
        local_size = _int_env('OMPI_COMM_WORLD_LOCAL_SIZE') or world
        _set_mpi_master(rank, single_node=local_size == world)
        return DistEnv(rank, world, local, 'openmpi')
    if 'PMI_RANK' in env and 'PMI_SIZE' in env:
        rank, world = int(env['PMI_RANK']), int(env['PMI_SIZE'])
        local = _int_env('MPI_LOCALRANKID', 'PMI_LOCAL_RANK', 'MPI_LOCAL_RANK')
        local_size = _int_env('MPI_LOCALNRANKS', 'PMI_LOCAL_SIZE')
        _set_mpi_master(rank, single_node=local_size == world if local_size else False)
        return DistEnv(rank, world, local if local is not None else rank % max(torch.cuda.device_count(), 1),
                       'pmi')
    if 'SLURM_PROCID' in env and 'SLURM_STEP_ID' in env:
        world = _int_env('SLURM_STEP_NUM_TASKS', 'SLURM_NTASKS') or 1
        if world > 1:
            nodes = env.get('SLURM_STEP_NODELIST') or env.get('SLURM_JOB_NODELIST') or env.get('SLURM_NODELIST')
            env.setdefault('MASTER_ADDR', first_slurm_host(nodes) if nodes else '127.0.0.1')
            env.setdefault('MASTER_PORT', DEFAULT_PORT)
            return DistEnv(int(env['SLURM_PROCID']), world, _int_env('SLURM_LOCALID') or 0, 'slurm')
    return DistEnv()


def _set_mpi_master(rank: int, single_node: bool) -> None:
    os.environ.setdefault('MASTER_PORT', DEFAULT_PORT)
    if os.environ.get('MASTER_ADDR'):
        return
    addr = _mpi_master_addr(rank)
    if addr is None and single_node:
        addr = '127.0.0.1'
    if addr is None:
        raise ConfigError('multi-node MPI launch: export MASTER_ADDR=<rank 0 host> (and MASTER_PORT) to every '
                          'rank, e.g. mpirun -x MASTER_ADDR=$(hostname), or install mpi4py')
    os.environ['MASTER_ADDR'] = addr


def resolve_device(requested: Optional[str], local_rank: int) -> torch.device:
    """The device of one rank: ``cuda:<local rank>`` (modulo the visible GPUs) when CUDA is available or the request
    is a bare ``cuda`` (DeiT's ``--device cuda``), the requested device as given otherwise. A bare ``cuda`` must not
    mean ``cuda:0`` for every rank: NCCL refuses two ranks on one GPU, and DDP / ``device_id`` need the index."""
    if requested:
        device = torch.device(requested)
        if device.type != 'cuda' or device.index is not None:
            return device
    elif not torch.cuda.is_available():
        return torch.device('cpu')
    return torch.device('cuda', local_rank % max(torch.cuda.device_count(), 1))


def init_distributed(device: Optional[str] = None, backend: Optional[str] = None, timeout_min: int = 30) -> DistEnv:
    """Detect the launcher, pick the device, and join the process group when there is more than one rank."""
    env = detect_launcher()
    env.device = resolve_device(device, env.local_rank)
    if env.device.type == 'cuda':
        torch.cuda.set_device(env.device)
    if env.distributed and not dist.is_initialized():
        os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
        os.environ.setdefault('MASTER_PORT', DEFAULT_PORT)
        backend = backend or ('nccl' if env.device.type == 'cuda' else 'gloo')
        kwargs = dict(device_id=env.device) if backend == 'nccl' else {}
        dist.init_process_group(backend, init_method='env://', rank=env.rank, world_size=env.world_size,
                                timeout=timedelta(minutes=timeout_min), **kwargs)
    return env


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(values: List[float], device: torch.device) -> List[float]:
    """Sum a few numbers over ranks in float64 (exact for counts)."""
    if not is_dist():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_gather_object(obj: Any) -> List[Any]:
    if not is_dist():
        return [obj]
    out: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if is_dist():
        dist.barrier()
