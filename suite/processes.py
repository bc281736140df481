"""Which process a pid in job.json means.

A pid alone names a process only while it lives: after the local pool ends (or the machine
reboots) the same number can belong to anything, and `cancel` would SIGTERM it. So job.json also
records each process's identity, the boot id with the process's start time, and a pid counts as
the recorded process only while both match.
"""

from __future__ import annotations

import os
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def process_identity(pid: int) -> str | None:
    """`<boot id>:<start time in clock ticks since boot>` of a live process; None where /proc cannot tell
    (not Linux, the process is gone)."""
    try:
        boot = BOOT_ID.read_text().strip()
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    # Then field 3 is at index 0, so field 22 (starttime) is at index 19.
    fields = stat[stat.rindex(")") + 2:].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def pid_alive(pid: object) -> bool:
    """Whether some process has this pid (ours or not)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)  # type: ignore[call-overload]
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def is_recorded_process(pid: object, identity: object, strict: bool) -> bool:
    """Whether `pid` is alive and is the process job.json recorded with `identity`.

    A record without an identity (written before identities were recorded, or where /proc is
    missing) can only be told by the pid: `strict` (about to send a signal) then also asks the
    process's command line to mention atari100k or suite, so that a reused pid is left alone.
    """
    if not pid_alive(pid):
        return False
    if identity:
        now = process_identity(int(pid))  # type: ignore[call-overload]
        return now is None or now == identity
    if not strict:
        return True
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes()  # type: ignore[call-overload]
    except OSError:
        return True  # no /proc to tell: as before identities
    return b"atari100k" in cmdline or b"suite" in cmdline
