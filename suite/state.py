"""The ledger: the state of every run of a sweep, from its run folder and (if reachable) Slurm.

States: pending, running, requeued, done, failed, cancelled, missing.
- done: DONE exists (whatever Slurm says: DONE is the truth, docs/DESIGN.md).
- pending / running / requeued: the run's latest job is queued or running (requeued = it
  was interrupted by a time limit or preemption and waits to resume from its checkpoint).
- failed: FAILED exists (the job raised) or Slurm ended the job without DONE (TIMEOUT past
  the requeue limit, OUT_OF_MEMORY, NODE_FAIL...). `--retry-failed` resubmits these.
- cancelled: the job was cancelled (scancel, or a local sweep stopped with Ctrl-C).
- missing: never submitted, or its job is gone without a trace. A plain `sweep` submits these;
  a started one says where it stopped and whether it resumes from a checkpoint. (A folder with
  no sweep job whose .train.lock an `atari100k train` holds, a run by hand, counts as running;
  where flock cannot tell, fresh metrics do.)
"""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from suite.processes import is_recorded_process
from suite.runfolder import RunFacts, read_run_folder
from suite.scheduler import ACTIVE_RUNNING, CANCELLED, JobState, query_jobs

STATES = ("pending", "running", "requeued", "done", "failed", "cancelled", "missing")
ACTIVE_STATES = ("pending", "running", "requeued")
# Without Slurm, a run whose metrics changed this recently is taken as running.
FRESH_S = 15 * 60


@dataclass(frozen=True)
class RunStatus:
    """One row of `atari100k status`."""

    algo: str
    """The run's algorithm (agent.algorithms)."""
    game: str
    seed: int
    dir: str
    """Run folder relative to the sweep folder."""
    state: str
    """One of STATES."""
    step: int
    """Agent steps trained so far."""
    budget: int | None
    """Budget in agent steps."""
    sps: float | None
    """Throughput in agent steps/s: an unfinished run's over its last metrics rows, a finished
    run's over its whole training wall time (`_throughput`)."""
    eta_s: float | None
    """Seconds left for this run at its throughput (None when unknown or not active)."""
    job_id: str | None
    executor: str | None
    task_runs: int
    """Runs trained by the same array task (`--runs-per-job`), this one included."""
    error: str | None
    """Last error line of a failed run (or why it counts as failed/cancelled/missing)."""
    slurm_state: str | None
    """Raw Slurm state when known."""

    @property
    def evaluating(self) -> bool:
        """Running at its budget without DONE: in its final evaluation, which trains no more."""
        return self.state == "running" and bool(self.budget) and self.step >= (self.budget or 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for --json."""
        return asdict(self)


def _fresh(facts: RunFacts, now: float) -> bool:
    """Whether the run's metrics changed in the last FRESH_S seconds (taken as running)."""
    return facts.metrics_mtime is not None and now - facts.metrics_mtime < FRESH_S


def _local_state(facts: RunFacts, now: float) -> tuple[str, str | None]:
    """State of a run whose latest job is a local worker."""
    job = facts.job or {}
    if job.get("host") == socket.gethostname():
        if job.get("worker_started_at") and is_recorded_process(job.get("worker_pid"), job.get("worker_identity"),
                                                                strict=False):
            return "running", None
        if is_recorded_process(job.get("pid"), job.get("pid_identity"), strict=False):
            return "pending", None
        return "cancelled", "local sweep stopped before the run finished"
    return ("running", None) if _fresh(facts, now) else ("cancelled", f"local run on {job.get('host')} is not progressing")


def _stopped_text(facts: RunFacts) -> str | None:
    """Why a started run without a job is not running, and what continues it."""
    if not facts.step:
        return None
    if facts.has_checkpoint:
        return f"stopped at step {facts.step:,}: `atari100k sweep` (or `train`) resumes it from its checkpoint"
    return f"stopped at step {facts.step:,} before its first checkpoint: it restarts from step 0"


def classify(facts: RunFacts, slurm: dict[str, JobState] | None, now: float) -> tuple[str, str | None, str | None]:
    """(state, error line, raw slurm state) of one run. `slurm` None = Slurm not reachable."""
    if facts.done is not None:
        return "done", None, None
    job = facts.job
    failed_is_current = facts.failed is not None and (
        job is None or facts.job_mtime is None or (facts.failed_mtime or 0) >= facts.job_mtime
    )
    failed_error = (facts.failed or {}).get("error") or "failed (no error recorded)"
    if job is None:
        if failed_is_current:
            return "failed", failed_error, None
        # `atari100k train` run by hand (no sweep job): its flock on .train.lock says so; where
        # that cannot tell, metrics written in the last FRESH_S.
        if facts.trainer_locked or (facts.trainer_locked is None and _fresh(facts, now)):
            return "running", "no sweep job: `atari100k train` run by hand", None
        return "missing", _stopped_text(facts), None
    if job.get("executor") == "local":
        if failed_is_current:
            return "failed", failed_error, None
        state, why = _local_state(facts, now)
        return state, why, None
    job_id = str(job.get("job_id"))
    if slurm is None:
        # No Slurm here (e.g. a laptop with a copy of results/): trust the folder.
        if failed_is_current:
            return "failed", failed_error, None
        return ("running" if _fresh(facts, now) else "pending"), None, None
    known = slurm.get(job_id)
    if known is None:
        if failed_is_current:
            return "failed", failed_error, None
        return "missing", f"job {job_id} unknown to Slurm", None
    raw = known.state
    if failed_is_current:
        # Also while the job is active: a packed task's other runs may still be training.
        return "failed", failed_error, raw
    if known.active:
        if raw in ACTIVE_RUNNING:
            return "running", None, raw
        if raw == "REQUEUED" or known.restarts or (facts.step or 0) > 0:
            return "requeued", None, raw
        return "pending", None, raw
    if raw in CANCELLED:
        return "cancelled", f"Slurm: {raw}", raw
    if raw == "COMPLETED":
        return "failed", "job completed without DONE (see its submitit log)", raw
    hint = {"TIMEOUT": "time limit hit and requeue limit reached (raise --time or --max-requeue)",
            "OUT_OF_MEMORY": "out of memory (raise --mem)",
            "NODE_FAIL": "node failure", "PREEMPTED": "preempted and not requeued"}.get(raw, "")
    return "failed", f"Slurm: {raw}" + (f": {hint}" if hint else ""), raw


def _throughput(facts: RunFacts) -> float | None:
    """Steps/s: an unfinished run's recent rate (what its ETA depends on: a run's first steps,
    before learning starts, are many times faster; None until it is known, as the whole run's
    average would count them), else the whole run's average."""
    if facts.done is None:
        return facts.recent_sps
    if facts.step and facts.elapsed_s:
        return facts.step / facts.elapsed_s
    return facts.sps


def sweep_states(sweep_dir: Path, runs: list[dict[str, Any]], budgets: dict[str, int] | None = None,
                 use_slurm: bool = True) -> tuple[list[RunStatus], bool]:
    """The status of each run, and whether Slurm was consulted.

    `runs` are manifest rows (`algo`, `game`, `seed`, `dir`); `budgets` (algo -> agent
    steps) are the planned budgets, used until a run's own run.json says otherwise.
    """
    sweep_dir = Path(sweep_dir)
    facts = [read_run_folder(sweep_dir / run["dir"]) for run in runs]
    slurm_ids = sorted({str(f.job["job_id"]) for f in facts
                        if f.job and f.job.get("executor") == "slurm" and f.done is None})
    slurm = query_jobs(slurm_ids) if (use_slurm and slurm_ids) else ({} if use_slurm else None)
    now = time.time()
    rows = []
    for run, fact in zip(runs, facts):
        state, error, raw = classify(fact, slurm, now)
        run_budget = fact.budget_steps or (budgets or {}).get(run["algo"])
        step = fact.step or 0
        sps = _throughput(fact)
        eta = None
        # At its budget without DONE a run is in its final evaluation, whose length no log tells
        # (100 Breakout episodes can take an hour): unknown, not 0s.
        if state in ACTIVE_STATES and sps and run_budget and step < run_budget:
            eta = (run_budget - step) / sps
        rows.append(RunStatus(
            algo=run["algo"], game=run["game"], seed=int(run["seed"]), dir=run["dir"], state=state, step=step,
            budget=run_budget, sps=sps, eta_s=eta,
            job_id=str(fact.job.get("job_id")) if fact.job else None,
            executor=fact.job.get("executor") if fact.job else None,
            task_runs=len((fact.job or {}).get("task_runs") or [None]),
            error=error, slurm_state=raw,
        ))
    return rows, slurm is not None
