"""What the analysis verbs need around their outputs: an output must not overwrite an input or a run
folder's files, write errors become one line, numpy scalars become JSON. The path checks themselves
(a folder, a device, an unwritable place) are `atari100k.outpaths`, shared with `sweep --out`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from atari100k.errors import UsageError


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
        target = Path(os.path.realpath(path))  # a symlink is written through to its target
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
