"""One resumable run as a SLURM job with submitit, requeued at the time limit.

submitit signals the job ``slurm_signal_delay_s`` before its time limit and calls
``Run.checkpoint``, which resubmits the same call; ``run_or_resume`` continues from the
folder's latest checkpoint, so the answer is the one an uninterrupted run gives.

    pip install submitit
    python examples/slurm_submitit.py                  # on this machine (cluster="local")
    python examples/slurm_submitit.py --slurm cpu      # on SLURM partition "cpu"
"""

import argparse
from pathlib import Path

import submitit

import drxkmc


class Run(submitit.helpers.Checkpointable):
    """Run or continue one spec in its folder (Checkpointable: requeued as is)."""

    def __call__(self, spec_file: str, workdir: str):
        spec = drxkmc.RunSpec.read(spec_file)
        return drxkmc.run_or_resume(spec, workdir, progress=False).diffusivity


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slurm", metavar="PARTITION", help="submit to this SLURM partition")
    parser.add_argument("--spec", default=str(Path(__file__).with_name("spec.toml")))
    parser.add_argument("--workdir", default="runs/submitit")
    args = parser.parse_args()
    executor = submitit.AutoExecutor(
        folder="runs/submitit-logs/%j", cluster=None if args.slurm else "local"
    )
    executor.update_parameters(timeout_min=60)
    if args.slurm:
        executor.update_parameters(
            slurm_partition=args.slurm,
            cpus_per_task=1,
            mem_gb=2,
            slurm_signal_delay_s=300,  # time to finish a chunk of hops and checkpoint
            slurm_max_num_timeout=20,  # requeues allowed
        )
    job = executor.submit(Run(), args.spec, args.workdir)
    print(f"job {job.job_id}: {args.workdir}")
    print(job.result())
