"""Provenance of a run: which code, which packages, which machine, which Slurm job, when."""

from __future__ import annotations

import datetime as _dt
import os
import re
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "ale-py", "gymnasium", "numpy", "atari100k")


def utc_now() -> str:
    """The current time as ISO 8601 UTC with seconds (`2025-01-31T12:00:00+00:00`)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def project_root() -> Path:
    """The folder holding the `agent` package (a git checkout when installed editable)."""
    return Path(__file__).resolve().parent.parent


COMMIT_ENV = "ATARI100K_GIT_COMMIT"
"""Where a copy of the code without `.git` (a GPU lease, a cluster's scratch copy) is told its commit."""


def git_state(root: Path | None = None, environ: dict[str, str] | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the project's git checkout; when it is not one, (`$ATARI100K_GIT_COMMIT`,
    None) if that holds a full 40-hex commit, else (None, None).

    Only a checkout whose top level IS the project root counts, so a wheel installed into
    some other repository's virtualenv is not attributed that repository's commit.
    `dirty` ignores untracked files (results/ and scratch files are not code changes); a commit
    from the environment has dirty None (nothing here can tell).
    """
    root = root or project_root()
    told = (os.environ if environ is None else environ).get(COMMIT_ENV, "").strip().lower()
    fallback = (told, None) if re.fullmatch(r"[0-9a-f]{40}", told) else (None, None)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=20
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return fallback
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return fallback
    return commit, dirty


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None if missing)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def slurm_job_id(environ: dict[str, str] | None = None) -> str | None:
    """`<array job>_<task>` inside a Slurm array, else the job id, else None."""
    env = os.environ if environ is None else environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID") or None


def collect_provenance() -> dict[str, Any]:
    """The `provenance` block of run.json (see docs/DESIGN.md)."""
    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": package_versions(),
        "host": socket.gethostname(),
        "slurm_job_id": slurm_job_id(),
        "started_at": utc_now(),
        "python": sys.version.split()[0],
        "accelerator": _accelerator(),
    }


def _accelerator() -> dict[str, Any] | None:
    """The GPU and its math settings, when torch is already loaded (analysis never loads it)."""
    if "torch" not in sys.modules:
        return None
    from agent.device import accelerator_info

    return accelerator_info()
