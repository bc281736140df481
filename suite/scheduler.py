"""What Slurm says: is it reachable, its limits, and the state of given jobs (squeue + sacct).

One squeue and one sacct call per status, whatever the number of runs. Everything here
degrades to "unknown" when Slurm is not reachable (a laptop with a copy of results/).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from atari100k.errors import UsageError

# Slurm states, grouped by what they mean for a run.
ACTIVE_PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "RESIZING"}
ACTIVE_RUNNING = {"RUNNING", "CONFIGURING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
CANCELLED = {"CANCELLED", "REVOKED"}


@dataclass(frozen=True)
class JobState:
    """A job (array task) as Slurm reports it."""

    state: str
    """Slurm state name, e.g. PENDING, RUNNING, COMPLETED, TIMEOUT, CANCELLED."""
    reason: str = ""
    """squeue's reason for a pending job (e.g. JobArrayTaskLimit), or sacct's exit code."""
    restarts: int = 0
    """How many times the job was requeued (squeue), when known."""

    @property
    def active(self) -> bool:
        """Queued or running: a run with this job must not be submitted again."""
        return self.state in ACTIVE_PENDING or self.state in ACTIVE_RUNNING


def _run(cmd: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def slurm_reachable() -> str | None:
    """None if Slurm answers, else a one-line reason."""
    for tool in ("sbatch", "squeue", "sacct", "scontrol"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found on PATH"
    try:
        out = _run(["squeue", "-h", "-o", "%i", "-u", str(os.getuid())], timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"squeue failed: {error}"
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        return "squeue: " + (lines[-1] if lines else f"exit code {out.returncode}")
    return None


def unreachable_error(reason: str) -> UsageError:
    """The one-line refusal of a command that needs Slurm, from `slurm_reachable()`'s reason."""
    return UsageError(f"Slurm is not reachable ({reason}); run on a login node or use --executor local")


@dataclass(frozen=True)
class ClusterLimits:
    """Limits of the cluster that shape a submission."""

    max_array_size: int
    """MaxArraySize: array indices must be < this, so arrays are chunked to this size."""
    partitions: dict[str, int | None]
    """Partition -> MaxTime in minutes (None = unlimited)."""
    default_partition: str | None


def _minutes(text: str) -> int | None:
    """Slurm time `[D-]HH:MM:SS` / `MM:SS` / `MM` / `UNLIMITED` -> minutes (None = unlimited)."""
    text = text.strip()
    if text.upper() in ("UNLIMITED", "INFINITE", "N/A", ""):
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 3:
        h, m, s = parts
    elif len(parts) == 2:
        if days:
            h, m, s = parts[0], parts[1], 0
        else:
            h, m, s = 0, parts[0], parts[1]
    else:
        h, m, s = (0, parts[0], 0) if not days else (parts[0], 0, 0)
    return days * 1440 + h * 60 + m + (1 if s else 0)


def parse_time_minutes(text: str) -> int:
    """User time limit (`12:00:00`, `1-00:00:00`, `90`) -> minutes; UsageError on junk."""
    try:
        minutes = _minutes(str(text))
    except ValueError:
        minutes = None
    if minutes is None or minutes <= 0:
        raise UsageError(f"--time {text!r}: use HH:MM:SS, D-HH:MM:SS or minutes (e.g. 12:00:00)")
    return minutes


DEFAULT_MAX_ARRAY_SIZE = 1001
"""Slurm's MaxArraySize when slurm.conf does not set it."""


def cluster_limits() -> ClusterLimits:
    """MaxArraySize and the partitions' time limits (two quick calls)."""
    max_array = DEFAULT_MAX_ARRAY_SIZE
    out = _run(["scontrol", "show", "config"])
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", out.stdout, re.MULTILINE)
    if match:
        max_array = int(match.group(1))
    partitions: dict[str, int | None] = {}
    default = None
    out = _run(["sinfo", "-h", "-o", "%P|%l"])
    for line in out.stdout.splitlines():
        name, _, limit = line.partition("|")
        if name.endswith("*"):
            name = name[:-1]
            default = name
        partitions[name] = _minutes(limit)
    return ClusterLimits(max_array, partitions, default)


def _array_master(job_id: str) -> str:
    return job_id.split("_", 1)[0].split("+", 1)[0]


def expand_array_ids(text: str) -> list[str]:
    """`12_[0-2,5%2]` -> 12_0, 12_1, 12_2, 12_5 (how sacct shows array tasks that never started)."""
    match = re.fullmatch(r"(\d+)_\[([^\]]+)\]", text)
    if not match:
        return [text]
    master, spec = match.group(1), match.group(2).split("%")[0]
    ids = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        ids.extend(f"{master}_{i}" for i in range(int(lo), int(hi or lo) + 1))
    return ids


def query_jobs(job_ids: list[str]) -> dict[str, JobState] | None:
    """State of each job id (`123` or array task `123_4`), or None if Slurm is not reachable.

    sacct knows finished jobs (needs slurmdbd); squeue knows queued/running ones (and
    expands pending array tasks with -r) and wins where both answer. Ids Slurm does not
    know are absent from the result.
    """
    if not job_ids:
        return {}
    if shutil.which("squeue") is None:
        return None
    masters = sorted({_array_master(j) for j in job_ids})
    states: dict[str, JobState] = {}
    if shutil.which("sacct"):
        try:
            out = _run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,ExitCode", "-j", ",".join(masters)])
        except (OSError, subprocess.TimeoutExpired):
            out = None
        if out is not None and out.returncode == 0:
            for line in out.stdout.splitlines():
                fields = line.split("|")
                if len(fields) >= 2:
                    # "CANCELLED by 0" -> CANCELLED
                    state = JobState(fields[1].split()[0] if fields[1] else "UNKNOWN", fields[2] if len(fields) > 2 else "")
                    for job_id in expand_array_ids(fields[0]):
                        states[job_id] = state
    try:
        out = _run(["squeue", "-h", "-r", "-o", "%i|%T|%r", "-j", ",".join(masters)])
    except (OSError, subprocess.TimeoutExpired):
        return None if not states else states
    if out.returncode != 0:
        # squeue -j with ids it has forgotten fails with "Invalid job id": not "unreachable".
        if "Invalid job id" not in out.stderr:
            return None if not states else states
    for job_id in job_ids:
        # Array tasks that never started (cancelled while pending) have no row of their
        # own in sacct: the array's own row (`24`) stands for them.
        master = _array_master(job_id)
        if job_id not in states and master != job_id and master in states:
            states[job_id] = states[master]
    for line in out.stdout.splitlines():
        fields = line.split("|")
        if len(fields) >= 2:
            previous = states.get(fields[0])
            requeued = previous is not None and previous.state == "REQUEUED"
            states[fields[0]] = JobState(fields[1], fields[2] if len(fields) > 2 else "", 1 if requeued else 0)
    return states


def cancel_jobs(job_ids: list[str]) -> None:
    """scancel the given jobs/array tasks (one call)."""
    if not job_ids:
        return
    out = _run(["scancel", *job_ids])
    if out.returncode != 0:
        raise UsageError(f"scancel failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}")
