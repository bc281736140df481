"""An exclusive lock on a sweep folder, so two `sweep` invocations cannot double-submit."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

from atari100k.errors import UsageError

LOCK_NAME = ".sweep.lock"


@contextlib.contextmanager
def sweep_lock(sweep_dir: Path, timeout_s: float = 120.0) -> Iterator[None]:
    """Hold an flock on `<sweep_dir>/.sweep.lock` (wait up to `timeout_s`).

    The second invocation waits, then re-reads the ledger under the lock and sees the
    first one's job ids, so it submits nothing twice. flock is released by the kernel if
    the process dies, so a crash never leaves a stale lock.
    """
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / LOCK_NAME
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise UsageError(f"another `atari100k sweep` ({holder}) is submitting to {sweep_dir}; wait for it and retry") from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
