"""`sweep.json`: what was asked of a sweep folder, its planned runs, and by which code.

Re-running `sweep` on the same folder may add games or seeds, but not change the presets,
overrides or budget: those define what the runs' results mean.
"""

from __future__ import annotations

import datetime as _dt
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent import RunSpec
from atari100k.errors import UsageError
from atari100k.fileio import atomic_write_json, read_json
from suite.plan import PlannedRun, SweepRequest, run_dir_name

MANIFEST = "sweep.json"
_CODE_ROOT = Path(__file__).resolve().parent.parent


def now_iso() -> str:
    """Local time with offset, seconds precision."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def code_version(root: Path = _CODE_ROOT) -> dict[str, Any]:
    """Git commit and dirty flag of the code that plans (and, without a snapshot, runs) the sweep."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(dirty) if dirty is not None else None, "python": sys.version.split()[0]}


def read_manifest(sweep_dir: Path) -> dict[str, Any] | None:
    """The manifest, or None when the folder holds none."""
    path = Path(sweep_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        return read_json(path)
    except ValueError as error:
        raise UsageError(f"{path} is not valid JSON ({error}); fix or remove it") from None


def check_compatible(manifest: dict[str, Any] | None, request: SweepRequest) -> None:
    """UsageError if the folder's sweep was asked with other presets/overrides/budget."""
    if manifest is None:
        return
    old = manifest.get("settings", {})
    new = request.settings()
    if old != new:
        diffs = ", ".join(f"{k}: {old.get(k)!r} there vs {new[k]!r} now" for k in new if old.get(k) != new[k])
        raise UsageError(f"{request.out} holds a sweep with other settings ({diffs}); use another --out or --name")


def merged_runs(manifest: dict[str, Any] | None, planned: list[PlannedRun]) -> list[dict[str, Any]]:
    """The manifest's runs plus the newly planned ones (old order first, no repeats)."""
    runs = list(manifest.get("runs", [])) if manifest else []
    seen = {r["dir"] for r in runs}
    for run in planned:
        if run.rel_dir not in seen:
            runs.append({"game": run.spec.game, "seed": run.spec.seed, "dir": run.rel_dir})
            seen.add(run.rel_dir)
    return runs


def write_manifest(request: SweepRequest, planned: list[PlannedRun], submission: dict[str, Any] | None) -> dict[str, Any]:
    """Create or update `sweep.json` (atomically); returns what was written."""
    manifest = read_manifest(request.out)
    check_compatible(manifest, request)
    data: dict[str, Any] = {
        "name": manifest["name"] if manifest else request.name,
        "created_at": manifest["created_at"] if manifest else now_iso(),
        "updated_at": now_iso(),
        "settings": request.settings(),
        "budget_steps": request.budget_steps(),
        "code": code_version(),
        "asked": (manifest.get("asked", []) if manifest else [])
        + [{"time": now_iso(), "games": list(request.games), "seeds": list(request.seeds)}],
        "runs": merged_runs(manifest, planned),
        "submissions": (manifest.get("submissions", []) if manifest else []) + ([submission] if submission else []),
    }
    atomic_write_json(Path(request.out) / MANIFEST, data)
    return data


def manifest_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """The runs of a sweep folder: from sweep.json, else discovered from `<Game>/seed_<k>/` folders."""
    manifest = read_manifest(sweep_dir)
    if manifest is not None:
        return list(manifest.get("runs", []))
    runs = []
    for seed_dir in sorted(Path(sweep_dir).glob("*/seed_*")):
        if seed_dir.is_dir() and seed_dir.name[5:].isdigit():
            runs.append({"game": seed_dir.parent.name, "seed": int(seed_dir.name[5:]),
                         "dir": run_dir_name(seed_dir.parent.name, int(seed_dir.name[5:]))})
    return runs


def spec_of(manifest: dict[str, Any], run: dict[str, Any]) -> RunSpec:
    """The RunSpec of one manifest run (used by --retry-failed on a folder alone)."""
    settings = manifest["settings"]
    return RunSpec(run["game"], int(run["seed"]), tuple(settings["presets"]), tuple(settings["overrides"]), settings["steps"])
