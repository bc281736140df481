"""Which process a pid in job.json means.

A pid alone names a process only while it lives: after the local pool ends (or the machine
reboots) the same number can belong to anything, and `cancel` would SIGTERM it. So job.json also
records each process's identity, the boot id with the process's start time, and a pid counts as
the recorded process only while both match. A record from before identities is told by time: the
pool started before it wrote the record, a process that took over its pid after.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
RECORD_SLACK_S = 2.0
"""How much later than a record's `submitted_at` (seconds precision) its pool may seem to have started."""


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 on (index 0 = field 3); None where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = stat[stat.rindex(")") + 2:].split()
    return fields if len(fields) > 19 else None


def process_identity(pid: int) -> str | None:
    """`<boot id>:<start time in clock ticks since boot>` (field 22) of a live process; None where
    /proc cannot tell (not Linux, the process is gone)."""
    fields = _stat_fields(pid)
    try:
        boot = BOOT_ID.read_text().strip()
    except OSError:
        return None
    return f"{boot}:{fields[19]}" if fields else None


def process_start_time(pid: int) -> float | None:
    """Unix time at which a live process started (boot time + its start in clock ticks); None where
    /proc cannot tell."""
    fields = _stat_fields(pid)
    try:
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") if fields else None


def _pid(value: object) -> int | None:
    """A recorded pid as a process number: an int > 1 (0 and -1 would signal process groups or
    everything, 1 is init), never a bool or text."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 1 else None


def pid_alive(pid: object) -> bool:
    """Whether some process has this pid (ours or not)."""
    number = _pid(pid)
    if number is None:
        return False
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_recorded_process(pid: object, identity: object, strict: bool, recorded_at: object = None) -> bool:
    """Whether `pid` is alive and is the process job.json recorded with `identity`.

    `strict` (about to send a signal): anything that cannot be verified is no: an identity that
    /proc cannot read now, or, for a record without one (written before identities), a process
    that started after the record's `recorded_at` (ISO time) or whose start cannot be told.
    Not strict (status): an unverifiable live pid counts, as before identities.
    """
    if not pid_alive(pid):
        return False
    number = _pid(pid)
    assert number is not None
    if identity:
        now = process_identity(number)
        return now == identity if (now is not None or strict) else True
    if not strict:
        return True
    started, written = process_start_time(number), _unix_time(recorded_at)
    return started is not None and written is not None and started <= written + RECORD_SLACK_S


def _unix_time(iso: object) -> float | None:
    try:
        return _dt.datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None
