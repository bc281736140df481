"""Output paths, checked before any work: a bad `--out` is one line and exit 2, and nothing is written.

Used by `table`, `compare` and `plot` (analysis) and by `sweep --out` (suite). Files are then written
atomically (`atari100k.fileio`), so a reader never sees a half-written one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from atari100k.errors import UsageError


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_output_path(path: str | Path, flag: str, suffixes: Sequence[str] | None = None) -> Path:
    """Refuse (UsageError, one line) an output file path that cannot be written, before any work.

    A path that is a folder, lies under a file, or whose nearest existing folder is not
    writable is refused; missing folders are created when writing. So is an existing path that is
    not a regular file once symlinks are followed (/dev/null, /dev/stdout, a pipe): the atomic
    write would replace it with a file. `suffixes`: allowed endings.
    """
    refuse_empty_path(path, flag)
    p = Path(path)
    if p.is_symlink():  # the write goes through to the link's target (atari100k.fileio): check that place
        p = Path(os.path.realpath(p))
    if str(path).endswith(("/", os.sep)) or p.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file path")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {path}: give a file ending in {', '.join(suffixes)}")
    probe = _nearest_existing(p.parent if str(p.parent) else Path("."))
    if not probe.is_dir():
        raise UsageError(f"{flag} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"{flag} {path}: not writable")
    if p.exists() and not p.is_file():
        raise UsageError(f"{flag} {path}: is not a regular file (a device, pipe or socket); give a file path"
                         " (leave out the flag to print to the terminal)")
    return p


def refuse_empty_path(path: str | Path, flag: str) -> None:
    """Refuse (UsageError, one line) an empty or blank path."""
    if not str(path).strip():  # Path("") is the working folder: never what an empty value meant
        raise UsageError(f"{flag}: empty path; give a file or folder")


def check_output_folder(path: str | Path, flag: str) -> Path:
    """Refuse (UsageError, one line) an output folder that is empty text, a file, lies under a file, or
    cannot be written."""
    refuse_empty_path(path, flag)
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {path}: is a file; give a folder")
    probe = _nearest_existing(p)
    if not probe.is_dir():
        raise UsageError(f"{flag} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: not writable")
    return p
