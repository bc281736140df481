"""`sweep.json`: what was asked of a sweep folder, its planned runs, and by which code.

Re-running `sweep` on the same folder may add algorithms, games or seeds, but not change
the presets, overrides or budget: those define what the runs' results mean.

A manifest written before algorithms were an axis has no `algos` and no `algo` per run:
its runs are DreamerV2's, in folders `<Game>/seed_<k>` (each run's `dir` says where).
"""

from __future__ import annotations

import datetime as _dt
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent import ALGORITHMS
from agent.config import DEFAULT_ALGO
from atari100k.errors import UsageError
from atari100k.fileio import atomic_write_json, read_json
from suite.plan import PlannedRun, RunId, SweepRequest

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


def recorded_runs(manifest: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The manifest's runs (`algo`, `game`, `seed`, `dir`); a run without `algo` is DreamerV2's."""
    runs = manifest.get("runs", []) if manifest else []
    return [{"algo": r.get("algo", DEFAULT_ALGO), "game": r["game"], "seed": int(r["seed"]), "dir": r["dir"]}
            for r in runs]


def run_id(run: dict[str, Any]) -> RunId:
    """(algo, game, seed) of a manifest run (as returned by `recorded_runs`)."""
    return run["algo"], run["game"], run["seed"]


def recorded_algos(manifest: dict[str, Any] | None) -> list[str]:
    """The algorithms of a manifest's runs, first seen first."""
    return list(dict.fromkeys(run["algo"] for run in recorded_runs(manifest)))


def recorded_budgets(manifest: dict[str, Any] | None) -> dict[str, int]:
    """algo -> budget in agent steps (an old manifest's single `budget_steps` is DreamerV2's)."""
    manifest = manifest or {}
    if "budgets" in manifest:
        return {algo: int(steps) for algo, steps in manifest["budgets"].items()}
    return {DEFAULT_ALGO: int(manifest["budget_steps"])} if manifest.get("budget_steps") is not None else {}


def merged_runs(manifest: dict[str, Any] | None, planned: list[PlannedRun]) -> list[dict[str, Any]]:
    """The manifest's runs plus the newly planned ones (old order first, no repeats)."""
    runs = recorded_runs(manifest)
    seen = {r["dir"] for r in runs}
    for run in planned:
        if run.rel_dir not in seen:
            runs.append({"algo": run.spec.algo, "game": run.spec.game, "seed": run.spec.seed, "dir": run.rel_dir})
            seen.add(run.rel_dir)
    return runs


def write_manifest(request: SweepRequest, planned: list[PlannedRun], submission: dict[str, Any] | None) -> dict[str, Any]:
    """Create or update `sweep.json` (atomically); returns what was written."""
    manifest = read_manifest(request.out)
    check_compatible(manifest, request)
    runs = merged_runs(manifest, planned)
    algos = list(dict.fromkeys(run["algo"] for run in runs))
    data: dict[str, Any] = {
        "name": manifest["name"] if manifest else request.name,
        "created_at": manifest["created_at"] if manifest else now_iso(),
        "updated_at": now_iso(),
        "settings": request.settings(),
        "algos": algos,
        "budgets": {algo: request.budget_steps(algo) for algo in algos},
        "code": code_version(),
        "asked": (manifest.get("asked", []) if manifest else [])
        + [{"time": now_iso(), "algos": list(request.algos), "games": list(request.games),
            "seeds": list(request.seeds)}],
        "runs": runs,
        "submissions": (manifest.get("submissions", []) if manifest else []) + ([submission] if submission else []),
    }
    atomic_write_json(Path(request.out) / MANIFEST, data)
    return data


RUN_DIR_PATTERNS = ("*/*/seed_*", "*/seed_*")
"""Run folders under a sweep folder: `<algo>/<Game>/seed_<k>`, and `<Game>/seed_<k>` of older sweeps."""


def discover_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Runs found from the folders alone: `<algo>/<Game>/seed_<k>/`, and `<Game>/seed_<k>/` as DreamerV2's."""
    runs = []
    for seed_dir in sorted(p for pattern in RUN_DIR_PATTERNS for p in Path(sweep_dir).glob(pattern)):
        parts = seed_dir.relative_to(sweep_dir).parts
        algo = parts[0] if len(parts) == 3 else DEFAULT_ALGO
        if seed_dir.is_dir() and seed_dir.name[5:].isdigit() and algo in ALGORITHMS:
            runs.append({"algo": algo, "game": seed_dir.parent.name, "seed": int(seed_dir.name[5:]),
                         "dir": "/".join(parts)})
    return runs


def manifest_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """The runs of a sweep folder (`algo`, `game`, `seed`, `dir`): from sweep.json, else from its folders."""
    manifest = read_manifest(sweep_dir)
    return recorded_runs(manifest) if manifest is not None else discover_runs(sweep_dir)
