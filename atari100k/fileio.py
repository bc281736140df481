"""Atomic file writes: a reader (or a crash) never sees a half-written file."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "w") -> None:
    """Write `path` by calling `write(fileobj)` on a temp file in the same folder, then rename.

    The rename is atomic on POSIX, so `path` is either the old or the new content. A symlink is
    written through (its target is replaced, the link stays); a path that exists but is not a
    regular file (a device such as /dev/null, a pipe) is refused (OSError, EINVAL) instead of being
    replaced by a file.
    """
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if path.exists() and not path.is_file():
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600 files; give the result the usual umask-derived mode.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomically replace `path` with `text`."""
    atomic_write(path, lambda handle: handle.write(text))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomically replace `path` with `obj` as indented JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    with open(path) as handle:
        return json.load(handle)
