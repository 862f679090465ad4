"""Submit ``main.py`` to SLURM through submitit: one task per GPU, requeued with ``--resume auto`` on timeout or
preemption.

    python classification/submit.py --nodes 2 --ngpus 8 --partition gpu --timeout 2880 \\
        --job-dir /shared/jobs/repnext_m1 -- --config configs/classification/repnext/m1.yaml --data-path /data/imagenet

Everything after ``--`` is passed to ``main.py`` unchanged (checked before submitting). ``--output-dir`` defaults
to the job folder, which must be on a filesystem every node sees.
"""
import argparse
import os
import sys
from typing import List, Optional

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from classification.config import parse_args  # noqa: E402
from classification.errors import UserError, one_line  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser('classification/submit.py', description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--nodes', type=int, default=1)
    p.add_argument('--ngpus', type=int, default=8, help='GPUs (= tasks) per node; 0: a CPU job (no GPU request)')
    p.add_argument('--tasks-per-node', type=int, default=None, help='processes per node (default: --ngpus)')
    p.add_argument('--partition', default=None)
    p.add_argument('--timeout', type=int, default=2880, help='minutes per allocation (the job is requeued)')
    p.add_argument('--job-dir', default=None, help='submitit logs; default output/classification/jobs')
    p.add_argument('--cpus-per-task', type=int, default=10)
    p.add_argument('--mem-per-gpu', type=int, default=40, help='GB')
    p.add_argument('--account', default=None)
    p.add_argument('--qos', default=None)
    p.add_argument('--constraint', default=None)
    p.add_argument('--comment', default=None)
    p.add_argument('--name', default=None, help='job name (default: the model name)')
    p.add_argument('--max-requeue', type=int, default=30)
    p.add_argument('--cluster', default=None, help="submitit cluster: slurm (default on SLURM), local or debug")
    return p


class Trainer:
    """The submitted callable: export the rank environment, run main.py, requeue itself with --resume auto."""

    def __init__(self, main_argv: List[str]):
        self.main_argv = list(main_argv)

    def __call__(self) -> int:
        import submitit
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        from classification import main
        code = main.main(self.main_argv)
        if code:
            raise SystemExit(code)
        return code

    def checkpoint(self):
        import submitit
        argv = [a for i, a in enumerate(self.main_argv)
                if a != '--resume' and (i == 0 or self.main_argv[i - 1] != '--resume')
                and not a.startswith('--resume=')]
        return submitit.helpers.DelayedSubmission(Trainer(argv + ['--resume', 'auto']))


def main(argv: Optional[List[str]] = None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if '--' in argv:
        split = argv.index('--')
        own, main_argv = argv[:split], argv[split + 1:]
    else:
        own, main_argv = argv, []
    args = build_parser().parse_args(own)
    try:
        resolved = parse_args(main_argv)  # fail here, not on the cluster
    except UserError as err:
        print(f'error: {one_line(err)}', file=sys.stderr)
        return 1
    import submitit
    job_dir = os.path.abspath(args.job_dir or os.path.join('output', 'classification', 'jobs'))
    if not resolved.output_dir:
        main_argv += ['--output-dir', job_dir]
    executor = submitit.AutoExecutor(folder=os.path.join(job_dir, '%j'), cluster=args.cluster,
                                     slurm_max_num_timeout=args.max_requeue)
    extra = {k: v for k, v in dict(account=args.account, qos=args.qos, constraint=args.constraint,
                                   comment=args.comment).items() if v}
    tasks = args.tasks_per_node or max(args.ngpus, 1)
    resources = dict(gpus_per_node=args.ngpus, mem_gb=args.mem_per_gpu * args.ngpus) if args.ngpus > 0 else {}
    executor.update_parameters(
        name=args.name or resolved.model, nodes=args.nodes, tasks_per_node=tasks, cpus_per_task=args.cpus_per_task,
        timeout_min=args.timeout, slurm_partition=args.partition, slurm_signal_delay_s=120,
        slurm_additional_parameters=extra, **resources)
    job = executor.submit(Trainer(main_argv))
    print(f'submitted job {job.job_id}: {args.nodes} node(s) x {tasks} task(s), {args.ngpus} GPU(s) per node; '
          f'logs {job_dir}/{job.job_id}')
    return job


if __name__ == '__main__':
    result = main()
    sys.exit(result if isinstance(result, int) else 0)
