"""Output paths, checked before any work: a bad `--out` is one line and exit 2, and nothing is written.

Used by `table` and `compare` (files) and available to verbs that write a folder. Files are then
written atomically (`atari100k.fileio`), so a reader never sees a half-written one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from atari100k.errors import UsageError


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_output_path(path: str | Path, flag: str, suffixes: Sequence[str] | None = None) -> Path:
    """Refuse (UsageError, one line) an output file path that cannot be written, before any work.

    A path that is a folder, lies under a file, or whose nearest existing folder is not
    writable is refused; missing folders are created when writing. `suffixes`: allowed endings.
    """
    p = Path(path)
    if str(path).endswith(("/", os.sep)) or p.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file path")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {path}: give a file ending in {', '.join(suffixes)}")
    probe = _nearest_existing(p.parent if str(p.parent) else Path("."))
    if not probe.is_dir():
        raise UsageError(f"{flag} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"{flag} {path}: not writable")
    return p


def check_output_folder(path: str | Path, flag: str) -> Path:
    """Refuse (UsageError, one line) an output folder that is a file, lies under a file, or cannot be written."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {path}: is a file; give a folder")
    probe = _nearest_existing(p)
    if not probe.is_dir():
        raise UsageError(f"{flag} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: not writable")
    return p


def check_not_an_input(path: str | Path, inputs: Sequence[str | Path], flag: str) -> None:
    """Refuse (UsageError, one line) an output that would overwrite what the command reads: an
    input file or its `<file>.protocol.json` sidecar, or anything inside a run folder (a folder
    holding run.json: the agent's files, which `table`/`compare`/`plot` read)."""
    try:
        target = Path(path).resolve()
        sources = [Path(raw).resolve() for raw in inputs if Path(raw).exists()]  # a baseline name is no path
    except (OSError, RuntimeError) as error:  # a symlink loop
        raise UsageError(f"{flag} {path}: cannot resolve the path ({error})") from error
    for source in sources:
        if target in (source, Path(f"{source}.protocol.json")):
            raise UsageError(f"{flag} {path}: is one of the inputs; write the output elsewhere")
    for folder in (target, *target.parents):
        if (folder / "run.json").is_file():
            raise UsageError(f"{flag} {path}: lies inside the run folder {folder}; write the output elsewhere")


@contextmanager
def writing(path: str | Path, flag: str) -> Iterator[None]:
    """Turn an OSError while writing the output `path` (a place the checks could not foresee, such
    as /proc as root, or a full disk) into one line naming the flag. An OSError about another
    file (reading an input, a font cache) is left as it is."""
    try:
        yield
    except OSError as error:
        where = Path(error.filename).absolute() if error.filename else None
        target = Path(path).absolute()
        # The output itself, a folder made for it, a file inside it (plot) or its atomic temp sibling.
        ours = where is None or where == target or where in target.parents or target in where.parents \
            or where.parent == target.parent
        if not ours:
            raise
        raise UsageError(f"{flag} {path}: cannot write: {error.strerror or error}") from error


def json_default(value: Any) -> Any:
    """`json.dumps(default=...)` for numpy scalars (and anything else as its text)."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)
