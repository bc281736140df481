"""An exclusive, crash-safe lock on a folder: one `atari100k sweep` per sweep folder, one
`atari100k train` per run folder."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

from atari100k.errors import UsageError

NO_FLOCK = {errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL}
"""What flock raises where the filesystem cannot lock (Lustre mounted without flock, some NFS): go ahead unlocked."""


@contextlib.contextmanager
def exclusive_lock(path: Path, timeout_s: float, busy: Callable[[str], str]) -> Iterator[None]:
    """Hold an flock on `path` (created with its folder), waiting up to `timeout_s` for another holder.

    The holder writes "pid N on HOST" into the file; past the timeout, UsageError(busy(that text)).
    A folder that cannot be created or written is a UsageError too (one line), before any work.
    The kernel releases flock when a process dies, so a crash never leaves a stale lock.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
    except OSError as error:  # under a file, read-only, /proc: the folder can never hold a run
        raise UsageError(f"{path.parent}: cannot create or write this folder "
                         f"({error.strerror or error}); choose another folder") from error
    with handle:
        deadline, locked = time.monotonic() + timeout_s, True
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.seek(0)
                    raise UsageError(busy(handle.read().strip() or "another process")) from None
                time.sleep(0.1)
            except OSError as error:
                if error.errno not in NO_FLOCK:
                    raise
                locked = False
                break
        if not locked:
            yield
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_held(path: Path) -> bool | None:
    """Whether some process holds the flock on `path` (never creates it). None when it cannot be
    told: no file, no flock on this filesystem, any error, or a free lock last taken on another
    host (where flock is local to each node, as NFS with local_lock or Lustre's localflock, a
    trainer on another node holds a lock this node cannot see)."""
    try:
        with open(path, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            holder = handle.read(200).decode(errors="replace")
    except OSError:
        return None
    return False if holder.endswith(f" on {socket.gethostname()}") else None
