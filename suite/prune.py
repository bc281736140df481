"""Free the disk that finished runs no longer need: their checkpoints.

A run's `checkpoint.pt` holds its replay and optimiser state so that it can resume; once `DONE`
exists the run never resumes (`train` returns at once), yet the file stays: 0.65 GB for a
DreamerV2 run and 0.84 GB for DER at the 100k budget, ≈ 100 GB for a 26 × 5 sweep. Pruning
deletes it, and the temp files a checkpoint write killed midway leaves beside it
(`.checkpoint.pt.*.tmp`), in finished runs only. Everything the analysis and `status` read (run.json,
the logs, DONE) stays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from atari100k.errors import UsageError
from atari100k.locking import lock_held
from suite.runfolder import CHECKPOINT, DONE, RUN, TRAIN_LOCK


@dataclass
class PruneReport:
    """What `prune` found (and deleted, unless a dry run)."""

    pruned: list[Path] = field(default_factory=list)
    """Finished run folders whose checkpoint files went (or would go)."""
    freed_bytes: int = 0
    unfinished: int = 0
    """Run folders without DONE: left alone."""
    busy: int = 0
    """Finished run folders whose trainer still holds the lock: left alone."""
    runs: int = 0
    """Run folders seen (a folder holding run.json)."""


def run_folders(root: Path) -> Iterator[Path]:
    """Every run folder (a folder holding run.json) at or under `root`; a run folder's own
    subfolders (tensorboard/) are not searched."""
    for folder, subfolders, files in os.walk(root):
        if RUN in files:
            subfolders[:] = []
            yield Path(folder)
        else:
            subfolders.sort()


def checkpoint_files(run: Path) -> list[Path]:
    """The run's checkpoint and the temp files of interrupted checkpoint writes."""
    return sorted(path for path in run.iterdir()
                  if path.name == CHECKPOINT or (path.name.startswith(f".{CHECKPOINT}.") and path.name.endswith(".tmp")))


def prune(roots: Sequence[str | Path], dry_run: bool = False) -> PruneReport:
    """Delete the checkpoint files of every finished run under `roots` (run folders, sweeps, or
    folders of either). Raises UsageError for a root that is not a folder or holds no run folder."""
    paths = [Path(root) for root in roots]
    for path in paths:
        if not path.is_dir():
            raise UsageError(f"{path} is not a folder; give run folders, sweep folders or folders of them")
    runs_by_root = {path: list(run_folders(path)) for path in paths}  # every root checked before any delete
    for path, runs in runs_by_root.items():
        if not runs:
            raise UsageError(f"no run folders (folders holding {RUN}) under {path}")
    report = PruneReport()
    for run in dict.fromkeys(run.resolve() for runs in runs_by_root.values() for run in runs):  # named twice: once
        report.runs += 1
        if not (run / DONE).exists():
            report.unfinished += 1
            continue
        files = checkpoint_files(run)
        if not files:
            continue
        if lock_held(run / TRAIN_LOCK):
            report.busy += 1
            continue
        for file in files:
            report.freed_bytes += file.stat().st_size
            if not dry_run:
                file.unlink()
        report.pruned.append(run)
    return report


def format_report(report: PruneReport, dry_run: bool) -> str:
    """One line: what went (or would go), and what was left alone."""
    verb = "would free" if dry_run else "freed"
    kept = [f"{report.unfinished} unfinished"] if report.unfinished else []
    kept += [f"{report.busy} still held by their trainer"] if report.busy else []
    return (f"{verb} {report.freed_bytes / 2**30:.2f} GiB: the checkpoints of {len(report.pruned)} finished "
            f"run{'s' if len(report.pruned) != 1 else ''} of {report.runs}"
            + (f" (left alone: {', '.join(kept)})" if kept else ""))
