"""Free the disk that finished runs no longer need: their checkpoints.

A run's `checkpoint.pt` holds its replay and optimiser state so that it can resume; once `DONE`
exists the run never resumes (`train` returns at once), yet the file stays: 0.65 GB for a
DreamerV2 run and 0.84 GB for DER at the 100k budget, ≈ 100 GB for a 26 × 5 sweep. Pruning
deletes it, and the temp files a checkpoint write killed midway leaves beside it
(`.checkpoint.pt.*.tmp`), in finished runs only. Everything the analysis and `status` read (run.json,
the logs, DONE) stays.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from agent.run_folder import is_agent_run_json
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
    """Run folders seen."""
    errors: list[str] = field(default_factory=list)
    """Folders that could not be read and files that could not be deleted, one line each."""


def is_run_folder(folder: Path) -> bool:
    """A folder the agent made: its run.json parses and has the agent's `spec` and `config`
    (another tool's run.json beside a checkpoint.pt is not ours to delete)."""
    try:
        data = json.loads((folder / RUN).read_text())
    except (OSError, ValueError):
        return False
    return is_agent_run_json(data)


def run_folders(root: Path, errors: list[str] | None = None) -> Iterator[Path]:
    """Every run folder (is_run_folder) at or under `root`; a folder holding a run.json is not
    searched further (tensorboard/). Symlinked folders are not followed; folders that cannot be
    read are added to `errors`."""
    def unreadable(error: OSError) -> None:
        if errors is not None:
            errors.append(f"cannot read {error.filename}: {error.strerror}")

    for folder, subfolders, files in os.walk(root, onerror=unreadable):
        if RUN in files:
            subfolders[:] = []
            if is_run_folder(Path(folder)):
                yield Path(folder)
        else:
            subfolders.sort()


def checkpoint_files(run: Path) -> list[Path]:
    """The run's checkpoint and the temp files of interrupted checkpoint writes."""
    return sorted(path for path in run.iterdir()
                  if path.name == CHECKPOINT or (path.name.startswith(f".{CHECKPOINT}.") and path.name.endswith(".tmp")))


def prune(roots: Sequence[str | Path], dry_run: bool = False) -> PruneReport:
    """Delete the checkpoint files of every finished run under `roots` (run folders, sweeps, or
    folders of either). Raises UsageError for a root that is not a folder or holds no run folder;
    a file that cannot be deleted is reported (`errors`) and the others still go."""
    paths = [Path(root) for root in roots]
    for path in paths:
        if not path.is_dir():
            raise UsageError(f"{path} is not a folder; give run folders, sweep folders or folders of them")
    report = PruneReport()
    runs_by_root = {path: list(run_folders(path, report.errors)) for path in paths}  # all checked before any delete
    for path, runs in runs_by_root.items():
        if not runs:
            raise UsageError(f"no run folders (folders whose {RUN} the agent wrote) under {path}")
    for run in dict.fromkeys(run.resolve() for runs in runs_by_root.values() for run in runs):  # each run once
        report.runs += 1
        if not (run / DONE).exists():
            report.unfinished += 1
            continue
        if lock_held(run / TRAIN_LOCK):
            report.busy += 1
            continue
        try:
            files = checkpoint_files(run)
            for file in files:
                size = file.lstat().st_size
                if not dry_run:
                    file.unlink(missing_ok=True)
                report.freed_bytes += size
        except OSError as error:  # a read-only sweep, a file gone meanwhile: say so, go on
            report.errors.append(f"cannot delete in {run}: {error.strerror or error}")
            continue
        if files:
            report.pruned.append(run)
    return report


def format_report(report: PruneReport, dry_run: bool) -> str:
    """One line: what went (or would go), and what was left alone."""
    verb = "would free" if dry_run else "freed"
    kept = [f"{report.unfinished} unfinished"] if report.unfinished else []
    kept += [f"{report.busy} still held by their trainer"] if report.busy else []
    return (f"{verb} {report.freed_bytes / 1e9:.2f} GB: the checkpoints of {len(report.pruned)} finished "
            f"run{'s' if len(report.pruned) != 1 else ''} of {report.runs}"
            + (f" (left alone: {', '.join(kept)})" if kept else ""))
