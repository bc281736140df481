"""Provenance of a run: which code, which packages, which machine, which Slurm job, when."""

from __future__ import annotations

import datetime as _dt
import os
import platform
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


# The widest vector unit the CPU reports, widest first: CPU timings differ by ~2x between them.
_VECTOR_UNITS = (("amx_bf16", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("neon", "NEON"), ("asimd", "NEON"))


def cpu_description(cpuinfo: str | None = None, usable_cpus: int | None = None) -> str:
    """The CPU a run or a timing came from, e.g. `AMD EPYC (family 26, model 2; AVX-512), 2 CPUs`.

    Model names alone can hide a generation ("AMD EPYC" on a VM), so the family/model numbers
    and the widest vector unit are added; CPUs counts those this process may run on.
    `cpuinfo` is /proc/cpuinfo's text (read here when None; off Linux, `platform.processor()`).
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:  # the first processor describes them all
            fields[key.strip()] = value.strip()
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    details = []
    if "cpu family" in fields and "model" in fields:
        details.append(f"family {fields['cpu family']}, model {fields['model']}")
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    details += [label for flag, label in _VECTOR_UNITS if flag in flags][:1]
    if usable_cpus is None:
        usable_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
    described = f"{name} ({'; '.join(details)})" if details else name
    return f"{described}, {usable_cpus} CPU{'s' if usable_cpus != 1 else ''}"


def collect_provenance() -> dict[str, Any]:
    """The `provenance` block of run.json (see docs/DESIGN.md)."""
    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": package_versions(),
        "host": socket.gethostname(),
        "cpu": cpu_description(),
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
