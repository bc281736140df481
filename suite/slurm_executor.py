"""Submit planned runs to Slurm as submitit job arrays (chunked under MaxArraySize).

One submission = one fresh submitit folder `<sweep>/submitit/<time>-<pid>/` (Slurm job ids
restart after a state purge, so a reused folder could return an old job's result), and
one array per chunk of at most MaxArraySize runs with `%max_parallel`. Each run's folder
gets a job.json naming its array task.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import submitit

from atari100k.errors import UsageError
from suite.job import DEFAULT_TRAINER, SlurmRunJob
from suite.manifest import now_iso
from suite.packed import PackedRunJob
from suite.plan import PlannedRun
from suite.profile import SlurmProfile
from suite.runfolder import write_job_record
from suite.scheduler import ClusterLimits


def submission_folder(sweep_dir: Path) -> Path:
    """A new, unique submitit folder under the sweep folder."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(sweep_dir) / "submitit" / f"{stamp}-{os.getpid()}"


def check_profile(profile: SlurmProfile, limits: ClusterLimits) -> None:
    """UsageError if the partition does not exist or the time limit exceeds its MaxTime."""
    partition = profile.partition or limits.default_partition
    if profile.partition and profile.partition not in limits.partitions:
        raise UsageError(f"--partition {profile.partition!r}: no such partition (have: {', '.join(limits.partitions)})")
    max_time = limits.partitions.get(partition) if partition else None
    if max_time is not None and profile.timeout_min() > max_time:
        raise UsageError(f"--time {profile.time} exceeds partition {partition!r}'s limit of {max_time} minutes")


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """Consecutive groups of at most `size`: runs into array tasks (`--runs-per-job`), tasks into
    arrays (array indices must stay < MaxArraySize)."""
    size = max(1, size)
    return [items[i:i + size] for i in range(0, len(items), size)]


def submit_slurm(runs: list[PlannedRun], sweep_dir: Path, sweep_name: str, profile: SlurmProfile,
                 limits: ClusterLimits, trainer: str = DEFAULT_TRAINER) -> tuple[list[Any], Path]:
    """Submit `runs` as job arrays, `profile.runs_per_job` runs per array task; write each run's
    job.json. Returns (submitit jobs, one per array task; folder).

    sbatch refusing the job (bad gres, memory, account...) is a UsageError with sbatch's
    own last line; nothing is left behind in that case.
    """
    folder = submission_folder(sweep_dir)
    # max_num_timeout is a constructor argument, not an update_parameters one.
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=profile.max_requeue)
    executor.update_parameters(name=f"a100k-{sweep_name}"[:64], **profile.submitit_parameters())
    snapshot: contextlib.AbstractContextManager = contextlib.nullcontext()
    if profile.snapshot:
        if not submitit.helpers.RsyncSnapshot.available():
            raise UsageError("--snapshot needs rsync on this machine")
        root = Path(__file__).resolve().parent.parent
        if subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True).returncode:
            raise UsageError(f"--snapshot needs the project as a git checkout ({root} is not one)")
        # Tracked files as they are now in the working tree (commit new files first).
        snapshot = submitit.helpers.RsyncSnapshot(folder / "code", root_dir=root)
    jobs: list[Any] = []
    try:
        with snapshot:
            for array in chunks(chunks(runs, profile.runs_per_job), limits.max_array_size):
                batch = []
                with executor.batch():
                    for task in array:
                        # Absolute run folders: the job's cwd may be a snapshot or elsewhere.
                        run_dirs = [str((Path(sweep_dir) / run.rel_dir).resolve()) for run in task]
                        specs = [run.spec.to_dict() for run in task]
                        job = (executor.submit(SlurmRunJob(trainer), specs[0], run_dirs[0]) if profile.runs_per_job == 1
                               else executor.submit(PackedRunJob(trainer), specs, run_dirs))
                        batch.append((task, job))
                # Record each array as soon as it is queued: a later array's failure must not
                # leave queued runs without a job.json (they would be submitted twice).
                for task, job in batch:
                    for run in task:
                        record = {"executor": "slurm", "job_id": str(job.job_id), "submitted_at": now_iso(),
                                  "submitit_folder": str(folder.resolve()), "sweep": sweep_name}
                        if profile.runs_per_job > 1:
                            record["task_runs"] = [r.rel_dir for r in task]
                        write_job_record(Path(sweep_dir) / run.rel_dir, record)
                    jobs.append(job)
    except (subprocess.CalledProcessError, submitit.core.utils.FailedJobError, OSError) as error:
        if not jobs:
            shutil.rmtree(folder, ignore_errors=True)
        message = getattr(error, "output", None) or getattr(error, "stderr", None) or str(error)
        if isinstance(message, bytes):
            message = message.decode(errors="replace")
        lines = [line for line in str(message).strip().splitlines() if line.strip()]
        done = f" ({len(jobs)} array tasks were queued before it)" if jobs else ""
        raise UsageError(f"sbatch refused the job: {lines[-1] if lines else error}{done}") from None
    return jobs, folder
