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

DONE, FAILED, JOB, RUN, METRICS = "DONE", "FAILED", "job.json", "run.json", "metrics.jsonl"


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


def _read_json_or_empty(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def last_json_line(path: Path, tail_bytes: int = 8192) -> dict[str, Any] | None:
    """The last complete JSON line of a jsonl file, reading only its tail."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - tail_bytes))
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a half-written last line
        if isinstance(row, dict):
            return row
    return None


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
    budget = None
    if RUN in names:
        budget = _read_json_or_empty(run_dir / RUN).get("budget_steps")
    row = last_json_line(run_dir / METRICS) if METRICS in names else None
    row = row or {}
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
    )


def write_job_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write job.json (the latest submission of this run) atomically."""
    atomic_write_json(Path(run_dir) / JOB, record)
