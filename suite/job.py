"""What runs inside one job (a Slurm array task or a local worker process): train one run.

`run_one` wraps the agent's entry point: it removes a stale FAILED, logs where the run
starts from, calls `train_run`, and on any exception writes FAILED (error = the last
line of the exception) and re-raises. `SlurmRunJob` is the submitit-Checkpointable
callable; `python -m suite.worker` is the local worker.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import submitit

from atari100k.fileio import atomic_write_json
from suite.runfolder import FAILED, METRICS, last_json_line

# The agent's entry point. A "module:function" string so that tests can point a job at a
# stand-in trainer; users never change it.
DEFAULT_TRAINER = "agent:train_run"


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _load(trainer: str) -> Callable[..., Any]:
    module, _, name = trainer.partition(":")
    return getattr(importlib.import_module(module), name)


def _spec(spec: dict[str, Any]) -> Any:
    from agent import RunSpec

    return RunSpec.from_dict(spec)


def current_job_id() -> str | None:
    """The Slurm job id (`<array>_<task>` for array tasks) of this process, if any."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def write_failed(run_dir: Path, error: BaseException, job_id: str | None) -> None:
    """FAILED: {error: last line of the exception, traceback, time, job_id} (atomic)."""
    lines = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()
    atomic_write_json(Path(run_dir) / FAILED, {
        "error": lines[-1] if lines else type(error).__name__,
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        "time": _now(),
        "job_id": job_id,
    })


def run_one(spec: dict[str, Any], run_dir: str | Path, stop: threading.Event | None,
            trainer: str = DEFAULT_TRAINER, job_id: str | None = None) -> str:
    """Train one run into `run_dir`; returns the agent's status (done/interrupted/already_done)."""
    run_dir = Path(run_dir)
    try:
        (run_dir / FAILED).unlink(missing_ok=True)  # a new attempt: the old failure is stale
        row = last_json_line(run_dir / METRICS) or {}
        print(f"[atari100k job {job_id or os.getpid()}] {run_dir}: starting at step {row.get('step', 0)} "
              f"(checkpoint {'present' if (run_dir / 'checkpoint.pt').exists() else 'absent'}) on {socket.gethostname()} "
              f"with code from {Path(__file__).resolve().parent.parent} at t={time.time():.3f}",
              flush=True)
        result = _load(trainer)(_spec(spec), run_dir, stop=stop, progress=False)
        status = getattr(result, "status", str(result))
        print(f"[atari100k job {job_id or os.getpid()}] {run_dir}: {status} at t={time.time():.3f}", flush=True)
        return status
    except Exception as error:
        write_failed(run_dir, error, job_id)
        raise


class TrainerJob(submitit.helpers.Checkpointable):
    """A Slurm array task's callable: only its trainer is pickled (its threads, events and worker
    processes belong to one attempt), and unpickling builds it afresh for the requeued attempt."""

    def __init__(self, trainer: str = DEFAULT_TRAINER) -> None:
        self.trainer = trainer

    def __getstate__(self) -> dict[str, Any]:
        return {"trainer": self.trainer}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["trainer"])


class SlurmRunJob(TrainerJob):
    """One Slurm array task: trains its run in a worker thread; requeues on timeout/preemption.

    submitit calls `checkpoint()` from its SIGUSR2 handler in the main thread, then
    requeues the job and exits. Training therefore runs in a worker thread: `checkpoint`
    sets the stop event, joins the worker (the agent checkpoints at its next step
    boundary and returns "interrupted"), and returns a fresh callable for the requeue,
    which resumes from that checkpoint.
    """

    def __init__(self, trainer: str = DEFAULT_TRAINER) -> None:
        super().__init__(trainer)
        self._stop: threading.Event | None = None
        self._worker: threading.Thread | None = None

    def __call__(self, spec: dict[str, Any], run_dir: str) -> str:
        job_id = current_job_id()
        self._stop = threading.Event()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["status"] = run_one(spec, run_dir, self._stop, self.trainer, job_id)
            except BaseException as error:  # handed to the main thread below
                outcome["error"] = error

        self._worker = threading.Thread(target=work, name="train_run", daemon=True)
        self._worker.start()
        try:
            # join with a timeout: keeps the main thread responsive to signals.
            while self._worker.is_alive():
                self._worker.join(timeout=1.0)
        except Exception as error:
            # Raised by submitit's signal handler, e.g. "timed-out too many times": the
            # run will not be requeued, so record why (run_one records its own errors).
            write_failed(Path(run_dir), error, job_id)
            raise
        if "error" in outcome:
            raise outcome["error"]
        if outcome.get("status") == "interrupted":
            # Stopped without a signal from Slurm (should not happen): fail loudly rather
            # than report success for an unfinished run.
            raise RuntimeError("training was interrupted without a requeue")
        return outcome["status"]

    def checkpoint(self, spec: dict[str, Any], run_dir: str) -> submitit.helpers.DelayedSubmission:
        """Stop training at a step boundary (the agent checkpoints), then requeue."""
        if self._stop is not None:
            self._stop.set()
        if self._worker is not None:
            self._worker.join()
        print(f"[atari100k job {current_job_id()}] {run_dir}: checkpointed, requeueing", flush=True)
        # A fresh instance: threads and events do not pickle.
        return submitit.helpers.DelayedSubmission(SlurmRunJob(self.trainer), spec, run_dir)
