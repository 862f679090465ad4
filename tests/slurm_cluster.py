"""A one-node SLURM cluster on localhost for the launcher tests (not a test module): munged, slurmctld and slurmd
from Debian's packages (`make setup-launchers`), each with its own socket, ports, state and logs under one folder,
started as daemons and stopped (SIGTERM, then SIGKILL) by :func:`slurm_cluster`."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time

DAEMONS = ('munged', 'slurmctld', 'slurmd', 'srun', 'sbatch', 'sinfo')


def missing_commands():
    return [name for name in DAEMONS if shutil.which(name) is None and not os.path.exists(f'/usr/sbin/{name}')]


def _which(name: str) -> str:
    return shutil.which(name) or f'/usr/sbin/{name}'


def _free_ports(n: int):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(('127.0.0.1', 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _config(root: str, host: str, cpus: int) -> str:
    ctld_port, slurmd_port = _free_ports(2)
    return '\n'.join([
        'ClusterName=tests', f'SlurmctldHost={host}', f'SlurmctldPort={ctld_port}', f'SlurmdPort={slurmd_port}',
        'AuthType=auth/munge', f'AuthInfo=socket={root}/munge.socket', 'CredType=cred/munge',
        'SlurmUser=root', 'SlurmdUser=root', f'StateSaveLocation={root}/state', f'SlurmdSpoolDir={root}/spool',
        f'SlurmctldPidFile={root}/slurmctld.pid', f'SlurmdPidFile={root}/slurmd.pid',
        f'SlurmctldLogFile={root}/slurmctld.log', f'SlurmdLogFile={root}/slurmd.log',
        # no cgroups in a container: plain process tracking, no task affinity, no accounting daemon
        'ProctrackType=proctrack/linuxproc', 'TaskPlugin=task/none', 'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none', 'SchedulerType=sched/builtin',
        'SelectType=select/cons_tres', 'SelectTypeParameters=CR_CPU', 'MpiDefault=none', 'ReturnToService=2',
        f'NodeName={host} CPUs={cpus} State=UNKNOWN',
        f'PartitionName=tests Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4', ''])


def _stop(pid_file: str) -> None:
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def slurm_cluster(root: str, cpus: int = 2, timeout: float = 60):
    """Start the cluster under ``root``; yields the environment (``SLURM_CONF``) that srun / sbatch / submitit need."""
    host = socket.gethostname()
    for sub in ('state', 'spool'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    conf = os.path.join(root, 'slurm.conf')
    with open(conf, 'w') as f:
        f.write(_config(root, host, cpus))
    env = dict(os.environ, SLURM_CONF=conf)
    pid_files = [os.path.join(root, name) for name in ('slurmd.pid', 'slurmctld.pid', 'munged.pid')]
    try:
        # --force: munged refuses to run as root otherwise; the key is the one Debian's package generated
        subprocess.run([_which('munged'), '--force', f'--socket={root}/munge.socket', f'--pid-file={root}/munged.pid',
                        f'--log-file={root}/munged.log', f'--seed-file={root}/munged.seed',
                        '--key-file=/etc/munge/munge.key'], check=True, capture_output=True, timeout=30)
        subprocess.run([_which('slurmctld'), '-f', conf], check=True, env=env, capture_output=True, timeout=30)
        subprocess.run([_which('slurmd'), '-f', conf], check=True, env=env, capture_output=True, timeout=30)
        deadline = time.monotonic() + timeout
        while True:  # the node registers with the controller, then reports idle
            state = subprocess.run(['sinfo', '-h', '-o', '%t'], env=env, capture_output=True, text=True).stdout
            if state.strip() == 'idle':
                break
            if time.monotonic() > deadline:
                logs = {name: _tail(os.path.join(root, name)) for name in ('slurmctld.log', 'slurmd.log')}
                raise RuntimeError(f'SLURM node not idle after {timeout:.0f} s (sinfo: {state.strip()!r}): {logs}')
            time.sleep(0.5)
        yield env
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # let finished jobs' step daemons report before slurmd goes
            queue = subprocess.run(['squeue', '-h'], env=env, capture_output=True, text=True).stdout
            if not queue.strip():
                break
            time.sleep(0.5)
    finally:
        for pid_file in pid_files:
            _stop(pid_file)


def _tail(path: str, n: int = 3) -> str:
    try:
        with open(path) as f:
            return ' | '.join(f.read().strip().splitlines()[-n:])
    except OSError:
        return 'no log'
