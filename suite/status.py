"""`atari100k status SWEEP`: one table of every run, totals per state, an overall ETA.

Reads run folders (and Slurm when reachable); never imports torch, so it works on a
laptop with a copy of results/.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atari100k.errors import UsageError
from atari100k.text import counted
from suite.manifest import MANIFEST, RUN_DIR_PATTERNS, manifest_runs, read_manifest, recorded_budgets
from suite.state import ACTIVE_STATES, STATES, RunStatus, sweep_states


def resolve_sweep_dir(sweep: str | Path, results_root: str | Path = "results") -> Path:
    """A sweep folder path, or a sweep name under `results_root`; UsageError if neither."""
    path = Path(sweep)
    for candidate in (path, Path(results_root) / path):
        if (candidate / MANIFEST).exists() or (
                candidate.is_dir() and any(any(candidate.glob(pattern)) for pattern in RUN_DIR_PATTERNS)):
            return candidate
    raise UsageError(f"no sweep at {sweep!r} (nor under {results_root}/); pass a sweep folder: the one that holds sweep.json, or <algo>/<Game>/seed_<k>/ run folders")


@dataclass(frozen=True)
class SweepStatus:
    """Everything `status` prints."""

    sweep_dir: Path
    rows: list[RunStatus]
    slurm_consulted: bool
    totals: dict[str, int]
    eta_s: float | None
    """Rough wall time until every active/missing run is done, at the current parallelism."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for --json)."""
        return {
            "sweep": str(self.sweep_dir),
            "slurm_consulted": self.slurm_consulted,
            "totals": self.totals,
            "eta_s": self.eta_s,
            "runs": [row.to_dict() for row in self.rows],
        }

    @property
    def all_done(self) -> bool:
        """Every run is done."""
        return self.totals.get("done", 0) == len(self.rows)


def overall_eta(rows: list[RunStatus]) -> float | None:
    """Remaining steps of unfinished runs / the summed throughput of the running ones, and at
    least the longest running run's own ETA (one run goes no faster than its throughput).

    Rough by design: it assumes the current number of running runs continues and that
    queued runs train as fast as the running ones; final evaluations are not counted.
    """
    # Runs in their final evaluation train no more: their steps/s would count speed that is not there.
    running = [r for r in rows if r.state == "running" and r.sps and not r.evaluating]
    speeds = [r.sps for r in rows if r.sps]
    if not running or not speeds:
        return None
    remaining = sum(max(0, (r.budget or 0) - r.step) for r in rows if r.state in ACTIVE_STATES)
    if remaining == 0:
        return None  # only final evaluations left, of a length no log tells
    longest = max((r.eta_s for r in running if r.eta_s is not None), default=0.0)
    return max(remaining / sum(r.sps for r in running), longest)


def sweep_status(sweep: str | Path, use_slurm: bool = True, results_root: str | Path = "results") -> SweepStatus:
    """Collect the status of every run of a sweep folder (or a sweep name under results/)."""
    sweep_dir = resolve_sweep_dir(sweep, results_root)
    budgets = recorded_budgets(read_manifest(sweep_dir))
    rows, consulted = sweep_states(sweep_dir, manifest_runs(sweep_dir), budgets, use_slurm)
    totals = Counter(row.state for row in rows)
    return SweepStatus(sweep_dir, rows, consulted, {s: totals.get(s, 0) for s in STATES}, overall_eta(rows))


def fmt_duration(seconds: float | None) -> str:
    """`3h05m`, `12m`, `40s`, or `-`."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def format_table(status: SweepStatus, note_width: int = 240) -> str:
    """The human table: one line per run, then totals and the overall ETA.

    The last column, `note`, holds a failed run's error or why a state was read as it was
    (a run by hand, a cancelled or unknown job); `--json` keeps it as `error`.
    """
    header = ("algo", "game", "seed", "state", "progress", "steps/s", "eta", "job", "note")
    lines = []
    for r in status.rows:
        progress = f"{r.step}/{r.budget}" if r.budget else str(r.step)
        if r.budget:
            progress += " (final evaluation)" if r.evaluating else f" ({100 * min(r.step, r.budget) / r.budget:.0f}%)"
        note = r.error or ""
        if len(note) > note_width:
            note = note[: note_width - 1] + "…"
        lines.append((r.algo, r.game, str(r.seed), r.state, progress, f"{r.sps:.1f}" if r.sps else "-",
                      fmt_duration(r.eta_s), (r.job_id or "-") + (f" ({r.task_runs} runs)" if r.task_runs > 1 else ""),
                      note))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    totals = ", ".join(f"{n} {s}" for s, n in status.totals.items() if n)
    out.append("")
    out.append(f"{counted(len(status.rows), 'run')}: {totals or 'none'}; ETA {fmt_duration(status.eta_s)}")
    if not status.slurm_consulted:
        out.append("(Slurm not consulted or not reachable: states read from the run folders alone)")
    return "\n".join(out)


def format_json(status: SweepStatus) -> str:
    """`--json` output."""
    return json.dumps(status.to_dict(), indent=2)
