"""Run planned runs on this machine: a bounded pool of worker processes, with a progress bar.

Each run is one `python -m suite.worker` process (the same `run_one` as a Slurm task), at
most `max_parallel` at a time. Not submitit's LocalExecutor: it has no concurrency cap and
a 2-minute default timeout. Ctrl-C / SIGTERM: workers checkpoint and stop; re-running the
sweep resumes them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from atari100k.cpus import usable_cpus
from suite.job import DEFAULT_TRAINER
from suite.manifest import now_iso
from suite.plan import PlannedRun
from suite.processes import process_identity
from suite.runfolder import read_run_folder, write_job_record


def default_parallelism() -> int:
    """What fits this machine: one run per 2 CPUs (a run uses a couple of threads), at least 1."""
    return max(1, usable_cpus() // 2)


@dataclass(frozen=True)
class LocalOutcome:
    """How each worker ended."""

    returncodes: dict[str, int]
    """Run key -> worker exit code (0 done, 1 failed, 3 interrupted, <0 killed)."""
    max_concurrent: int
    """The most workers that ran at once (never above max_parallel)."""
    interrupted: bool
    """The pool was stopped by a signal before all runs finished."""


def _threads_per_run(max_parallel: int) -> int:
    return max(1, usable_cpus() // max_parallel)


def _progress_steps(sweep_dir: Path, runs: list[PlannedRun]) -> int:
    """Agent steps done over `runs` (DONE's step, else the last metrics row)."""
    return sum(read_run_folder(sweep_dir / run.rel_dir).step or 0 for run in runs)


def claim_local(runs: list[PlannedRun], sweep_dir: Path, sweep_name: str) -> Path:
    """Write each run's job.json (this process's pid marks them queued); returns the log folder.

    Called under the sweep lock, so a concurrent `sweep` sees these runs as queued.
    """
    log_dir = Path(sweep_dir) / "local" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    for index, run in enumerate(runs):
        write_job_record(Path(sweep_dir) / run.rel_dir, {
            "executor": "local", "job_id": f"local-{os.getpid()}-{index}", "submitted_at": now_iso(),
            "submitit_folder": str(log_dir.resolve()), "sweep": sweep_name,
            "host": socket.gethostname(), "pid": os.getpid(), "pid_identity": process_identity(os.getpid()),
        })
    return log_dir


def run_local(runs: list[PlannedRun], sweep_dir: Path, sweep_name: str, max_parallel: int,
              log_dir: Path, progress: bool = True, trainer: str = DEFAULT_TRAINER,
              poll_s: float = 0.5) -> LocalOutcome:
    """Train `runs` with at most `max_parallel` worker processes; block until all end."""
    from tqdm import tqdm

    sweep_dir = Path(sweep_dir)
    env = dict(os.environ)
    # Share the CPUs between the workers (unless the user chose a thread count).
    threads = env.get("OMP_NUM_THREADS") or str(_threads_per_run(max_parallel))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)

    queue = list(runs)
    running: dict[str, tuple[subprocess.Popen, IO]] = {}
    codes: dict[str, int] = {}
    max_seen = 0
    stopping = {"flag": False}

    def stop(signum: int, _frame: object) -> None:
        stopping["flag"] = True
        for proc, _log in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    bar = tqdm(total=sum(run.budget_steps for run in runs), unit="step", desc=f"{sweep_name} (0/{len(runs)} done)",
               disable=not progress, dynamic_ncols=True, smoothing=0.05)
    try:
        while queue or running:
            while queue and len(running) < max_parallel and not stopping["flag"]:
                run = queue.pop(0)
                log = open(log_dir / f"{run.rel_dir.replace('/', '_')}.log", "ab")
                proc = subprocess.Popen(
                    [sys.executable, "-m", "suite.worker", str((sweep_dir / run.rel_dir).resolve()),
                     json.dumps(run.spec.to_dict()), trainer],
                    stdout=log, stderr=subprocess.STDOUT, env=env,
                    # Own process group: the terminal's Ctrl-C reaches the pool, which then
                    # stops each worker once, cleanly.
                    start_new_session=True,
                )
                running[run.key] = (proc, log)
            max_seen = max(max_seen, len(running))
            if stopping["flag"] and queue:
                queue.clear()
            for key, (proc, log) in list(running.items()):
                code = proc.poll()
                if code is not None:
                    log.close()
                    codes[key] = code
                    del running[key]
            bar.n = min(bar.total, _progress_steps(sweep_dir, runs))
            bar.set_description(f"{sweep_name} ({sum(c == 0 for c in codes.values())}/{len(runs)} done"
                                + (f", {sum(c != 0 for c in codes.values())} failed" if any(codes.values()) else "")
                                + ")")
            bar.refresh()
            if queue or running:
                time.sleep(poll_s)
    finally:
        bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return LocalOutcome(codes, max_seen, stopping["flag"])
