"""One Slurm array task that trains several runs at once (`--runs-per-job K`).

Each run trains in its own worker process (`python -m suite.worker`, as the local pool runs
it), so that a run that crashes writes its FAILED and leaves its siblings training. The task's
CPUs are split between the runs: each worker is pinned to its own share of the allocated cores
and told to use that many threads; the GPU, if any, is shared (each run is small).

On SIGUSR2 (time limit or preemption) submitit calls `checkpoint()`: every worker gets SIGTERM,
checkpoints at its next step boundary and exits; the task is requeued with the same runs, and
each resumes from its checkpoint (one that had finished returns at once). A requeue by Slurm
itself (`scontrol requeue`) signals the workers with SIGTERM directly, to the same effect.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import submitit

from atari100k.text import counted
from suite.job import DEFAULT_TRAINER, TrainerJob, current_job_id

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# suite.worker's exit codes.
DONE, INTERRUPTED = 0, 3


def cpu_shares(cpus: list[int], runs: int) -> list[list[int]]:
    """Split the allocated cores into `runs` disjoint shares (as equal as possible); with fewer
    cores than runs, every run gets all of them (and one thread, see `threads_per_run`)."""
    if len(cpus) < runs:
        return [list(cpus) for _ in range(runs)]
    size, extra = divmod(len(cpus), runs)
    shares, start = [], 0
    for index in range(runs):
        end = start + size + (index < extra)
        shares.append(list(cpus[start:end]))
        start = end
    return shares


def threads_per_run(cpus: int, runs: int) -> int:
    """Intra-op threads of each run: its share of the task's CPUs, at least one."""
    return max(1, cpus // runs)


def _worker_setup(cores: list[int]) -> None:
    """In a worker, before it starts: pin it to its cores; ignore SIGUSR2 (Slurm sends the time-limit
    and preemption signal to every process of the job step, and its default action kills: the
    task's main process answers it for all the runs, see `checkpoint`); and have it get SIGTERM
    (checkpoint and exit) if that main process dies, instead of training on unseen beside a
    requeued task."""
    os.sched_setaffinity(0, cores)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # an ignored signal stays ignored across exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: no parent-death signal
        pass


class PackedRunJob(TrainerJob):
    """The callable of one array task training `len(run_dirs)` runs (see the module docstring)."""

    def __init__(self, trainer: str = DEFAULT_TRAINER) -> None:
        super().__init__(trainer)
        self._workers: list[subprocess.Popen] = []

    def __call__(self, specs: list[dict[str, Any]], run_dirs: list[str]) -> list[str]:
        job_id = current_job_id()
        allowed = sorted(os.sched_getaffinity(0))
        shares = cpu_shares(allowed, len(run_dirs))
        threads = threads_per_run(int(os.environ.get("SLURM_CPUS_PER_TASK") or len(allowed)), len(run_dirs))
        print(f"[atari100k job {job_id}] {counted(len(run_dirs), 'run')}, {counted(threads, 'thread')} each on cores "
              f"{'; '.join(','.join(map(str, share)) for share in shares)}", flush=True)
        self._workers = [self._start(spec, run_dir, share, threads)
                         for spec, run_dir, share in zip(specs, run_dirs, shares)]
        # Poll rather than wait(): the main thread stays free for submitit's signal handler.
        while any(worker.poll() is None for worker in self._workers):
            time.sleep(0.5)
        codes = [worker.returncode for worker in self._workers]
        failed = [run_dir for run_dir, code in zip(run_dirs, codes) if code not in (DONE, INTERRUPTED)]
        if failed:
            raise RuntimeError(f"{len(failed)} of {counted(len(run_dirs), 'run')} failed (see FAILED in {', '.join(failed)})")
        if INTERRUPTED in codes:
            # Stopped without submitit's checkpoint(): Slurm is requeueing or cancelling the task.
            raise RuntimeError("training was interrupted without a requeue by this task")
        return ["done"] * len(run_dirs)

    def _start(self, spec: dict[str, Any], run_dir: str, cores: list[int], threads: int) -> subprocess.Popen:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        # The worker imports this project's code, wherever the task's working directory is.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        return subprocess.Popen(
            [sys.executable, "-m", "suite.worker", run_dir, json.dumps(spec), self.trainer], env=env,
            preexec_fn=lambda: _worker_setup(cores))

    def checkpoint(self, specs: list[dict[str, Any]], run_dirs: list[str]) -> submitit.helpers.DelayedSubmission:
        """Every worker checkpoints and exits; then the task is requeued with the same runs."""
        for worker in self._workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self._workers:
            worker.wait()
        print(f"[atari100k job {current_job_id()}] {counted(len(run_dirs), 'run')} checkpointed, requeueing", flush=True)
        return submitit.helpers.DelayedSubmission(PackedRunJob(self.trainer), specs, run_dirs)

