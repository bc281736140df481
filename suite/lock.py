"""An exclusive lock on a sweep folder, so two `sweep` invocations cannot double-submit."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from atari100k.locking import exclusive_lock

LOCK_NAME = ".sweep.lock"


@contextlib.contextmanager
def sweep_lock(sweep_dir: Path, timeout_s: float = 120.0) -> Iterator[None]:
    """Hold an flock on `<sweep_dir>/.sweep.lock` (wait up to `timeout_s`).

    The second invocation waits, then re-reads the ledger under the lock and sees the
    first one's job ids, so it submits nothing twice.
    """
    def busy(holder: str) -> str:
        return f"another `atari100k sweep` ({holder}) is submitting to {sweep_dir}; wait for it and retry"

    with exclusive_lock(sweep_dir / LOCK_NAME, timeout_s, busy):
        yield
