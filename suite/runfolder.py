"""Read what a run folder says about its run, fast and without torch (the status ledger's input).

Files (docs/DESIGN.md): DONE, FAILED and job.json (written by the suite), run.json and
metrics.jsonl (written by the agent). Only the last line of metrics.jsonl is read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atari100k.fileio import atomic_write_json, read_json
from atari100k.locking import lock_held

DONE, FAILED, JOB, RUN, METRICS = "DONE", "FAILED", "job.json", "run.json", "metrics.jsonl"
CHECKPOINT, TRAIN_LOCK = "checkpoint.pt", ".train.lock"  # as agent.run_folder writes them (docs/DESIGN.md)


@dataclass(frozen=True)
class RunFacts:
    """What the run folder holds; every field None/False when its file is absent."""

    exists: bool
    done: dict[str, Any] | None
    """DONE's JSON ({} if unreadable)."""
    failed: dict[str, Any] | None
    """FAILED's JSON: error, traceback, time, job_id."""
    failed_mtime: float | None
    job: dict[str, Any] | None
    """job.json: executor, job_id, submitted_at, submitit_folder, sweep (+ local: host, pid)."""
    job_mtime: float | None
    budget_steps: int | None
    """From run.json."""
    step: int | None
    """Last `step` in metrics.jsonl."""
    elapsed_s: float | None
    """Training wall time summed over resumes (last metrics row)."""
    sps: float | None
    """Agent steps/s of the last metrics row."""
    metrics_mtime: float | None
    trainer_locked: bool | None = None
    """Whether an `atari100k train` holds the folder's .train.lock now (None: no lock file, or
    the filesystem cannot tell; not looked at for finished runs)."""
    has_checkpoint: bool = False
    recent_sps: float | None = None
    """Agent steps/s over the last RECENT_ROWS metrics rows (`recent_rate`; fewer where the
    file's last 8 KB holds fewer)."""


def _read_json_or_empty(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


RECENT_ROWS = 10
"""Metrics rows a running run's recent speed is measured over (`recent_rate`)."""


def tail_json_lines(path: Path, max_rows: int, tail_bytes: int = 8192) -> list[dict[str, Any]]:
    """The last `max_rows` complete JSON-object lines of a jsonl file, oldest first, reading
    only its last `tail_bytes` (a line cut by that window or half-written at the end is skipped)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - tail_bytes))
            lines = handle.read().splitlines()
    except OSError:
        return []
    rows: list[dict[str, Any]] = []
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
            if len(rows) == max_rows:
                break
    return rows[::-1]


def last_json_line(path: Path, tail_bytes: int = 8192) -> dict[str, Any] | None:
    """The last complete JSON line of a jsonl file, reading only its tail."""
    rows = tail_json_lines(path, 1, tail_bytes)
    return rows[-1] if rows else None


def recent_rate(rows: list[dict[str, Any]]) -> float | None:
    """Agent steps per second of training wall time from the first to the last of `rows` (metrics
    rows, oldest first; `elapsed_s` runs on across resumes), None with fewer than two.

    Rows that count `updates` are taken from the first one after learning began: the random
    prefill before it runs several times faster (DER 30 vs 12 steps/s on one CPU core), so a window
    that reaches back into it would promise an ETA a fraction of the real one. Until two rows lie
    inside learning, the rate is unknown (None)."""
    timed = [r for r in rows if isinstance(r.get("step"), (int, float))
             and isinstance(r.get("elapsed_s"), (int, float))]
    if any("updates" in r for r in timed):
        learning = [i for i, r in enumerate(timed) if isinstance(r.get("updates"), (int, float)) and r["updates"] > 0]
        timed = timed[learning[0]:] if learning else []
    if len(timed) < 2:
        return None
    steps, seconds = timed[-1]["step"] - timed[0]["step"], timed[-1]["elapsed_s"] - timed[0]["elapsed_s"]
    return steps / seconds if steps > 0 and seconds > 0 else None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def read_run_folder(run_dir: Path) -> RunFacts:
    """Collect the facts of one run folder (a handful of stat/open calls)."""
    run_dir = Path(run_dir)
    try:
        names = set(os.listdir(run_dir))
    except OSError:
        return RunFacts(False, None, None, None, None, None, None, None, None, None, None)
    done = _read_json_or_empty(run_dir / DONE) if DONE in names else None
    failed = _read_json_or_empty(run_dir / FAILED) if FAILED in names else None
    job = _read_json_or_empty(run_dir / JOB) if JOB in names else None
    if job is not None and not (job.get("executor") == "local" or (job.get("executor") and job.get("job_id"))):
        job = None  # damaged: no job can be told from it, so the run reads as if never submitted (resubmittable)
    budget = None
    if RUN in names:
        budget = _read_json_or_empty(run_dir / RUN).get("budget_steps")
    # A finished run's speed is its whole average: one row will do (status reads thousands).
    rows = tail_json_lines(run_dir / METRICS, 1 if done is not None else RECENT_ROWS) if METRICS in names else []
    row = rows[-1] if rows else {}
    step = row.get("step")
    if done is not None and done.get("step") is not None:
        step = done["step"]
    return RunFacts(
        exists=True,
        done=done,
        failed=failed,
        failed_mtime=_mtime(run_dir / FAILED) if failed is not None else None,
        job=job,
        job_mtime=_mtime(run_dir / JOB) if job is not None else None,
        budget_steps=int(budget) if budget is not None else None,
        step=int(step) if step is not None else None,
        elapsed_s=float((done or {}).get("elapsed_s") or row.get("elapsed_s") or 0) if (done or row) else None,
        sps=float(row["sps"]) if row.get("sps") is not None else None,
        metrics_mtime=_mtime(run_dir / METRICS) if METRICS in names else None,
        recent_sps=recent_rate(rows),
        trainer_locked=lock_held(run_dir / TRAIN_LOCK) if done is None and TRAIN_LOCK in names else None,
        has_checkpoint=CHECKPOINT in names,
    )


def write_job_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write job.json (the latest submission of this run) atomically."""
    atomic_write_json(Path(run_dir) / JOB, record)
