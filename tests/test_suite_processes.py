"""A pid in job.json is only trusted while it is the process that wrote it (`suite/processes.py`):
`cancel` never signals a process that merely reuses the number, and a damaged job.json is no job."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atari100k.fileio import atomic_write_json
from suite.manifest import write_manifest
from suite.processes import is_recorded_process, process_identity
from suite.status import sweep_status
from suite.sweep import cancel_sweep, make_request

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process identities need /proc")


def _sleeper() -> subprocess.Popen:
    """A live process that is not ours: `sleep` (its command line names neither atari100k nor suite)."""
    return subprocess.Popen(["sleep", "60"])


def _sweep_with_local_job(root: Path, job: dict) -> Path:
    out = root / "sweep"
    request, planned = make_request("Pong", "1", ["debug"], [], 300, out=out)
    write_manifest(request, planned, None)
    run = out / "dreamerv2" / "Pong" / "seed_0"
    run.mkdir(parents=True)
    atomic_write_json(run / "run.json", {"budget_steps": 300})
    atomic_write_json(run / "job.json", {"executor": "local", "job_id": "local-1-0", "submitted_at": "t",
                                         "host": socket.gethostname(), **job})
    return out


def test_identity_tells_two_processes_with_one_pid_apart():
    sleeper = _sleeper()
    try:
        mine, theirs = process_identity(os.getpid()), process_identity(sleeper.pid)
        assert mine and theirs and mine != theirs
        assert mine == process_identity(os.getpid())  # stable for a process's life
        assert is_recorded_process(sleeper.pid, theirs, strict=True)
        assert not is_recorded_process(sleeper.pid, mine, strict=True)  # the number reused by another process
    finally:
        sleeper.kill()
        sleeper.wait()
    assert process_identity(sleeper.pid) is None and not is_recorded_process(sleeper.pid, theirs, strict=False)


def test_pids_that_name_process_groups_or_everything_are_never_a_recorded_process():
    """os.kill(-1, ...) as root signals every process, 0 the caller's group: a damaged record must not get there."""
    for pid in (-1, 0, 1, True, "123", None, 2.5):
        assert not is_recorded_process(pid, None, strict=False)
        assert not is_recorded_process(pid, "x:1", strict=True)


def test_a_record_without_identity_is_told_by_time_when_about_to_signal():
    """Records from before identities: the pool started before it wrote `submitted_at`; a process that
    took its pid over started later."""
    sleeper = _sleeper()
    try:
        time.sleep(0.05)
        started = datetime.datetime.now().astimezone()
        before = (started - datetime.timedelta(minutes=5)).isoformat(timespec="seconds")
        after = (started + datetime.timedelta(seconds=5)).isoformat(timespec="seconds")
        assert is_recorded_process(sleeper.pid, None, strict=True, recorded_at=after)
        assert not is_recorded_process(sleeper.pid, None, strict=True, recorded_at=before)  # a reused pid
        assert not is_recorded_process(sleeper.pid, None, strict=True, recorded_at="t")  # cannot tell: no
        assert is_recorded_process(sleeper.pid, None, strict=False)  # status: a live pid, as before identities
    finally:
        sleeper.kill()
        sleeper.wait()


def test_cancel_leaves_a_process_that_only_reuses_the_recorded_pid_alone(tmp_path, capsys):
    """A stale local record from before identities (its pool long gone, the pid since taken by a process
    that started after the record was written): `status` reads the run as pending (the pid lives), so
    `cancel` reaches its own check, which must leave the process alone."""
    sleeper = _sleeper()
    try:
        time.sleep(0.05)
        stale = (datetime.datetime.now().astimezone() - datetime.timedelta(hours=1)).isoformat(timespec="seconds")
        out = _sweep_with_local_job(tmp_path, {"pid": sleeper.pid, "submitted_at": stale})
        [row] = sweep_status(out, use_slurm=False).rows
        assert row.state == "pending"  # active: cancel acts on it
        assert cancel_sweep(out) == 0
        time.sleep(0.2)
        assert sleeper.poll() is None, "cancel signalled a process that is not the sweep's pool"
        assert "0 local pools" in capsys.readouterr().out
    finally:
        sleeper.kill()
        sleeper.wait()


def test_cancel_signals_the_recorded_pool(tmp_path, capsys):
    pool = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        out = _sweep_with_local_job(tmp_path, {"pid": pool.pid, "pid_identity": process_identity(pool.pid)})
        assert cancel_sweep(out) == 0
        assert pool.wait(timeout=10) == -15  # SIGTERM
        assert "1 local pool" in capsys.readouterr().out
    finally:
        pool.kill()
        pool.wait()


@pytest.mark.parametrize("content", ["{garb", "{}", "[1, 2]"])
def test_a_damaged_job_record_is_no_job(tmp_path, content):
    """Read as a queued Slurm job, a damaged job.json would keep its run 'pending' for ever and never
    resubmitted; as no job, the run is missing and the next `sweep` submits it."""
    out = _sweep_with_local_job(tmp_path, {"pid": os.getpid()})
    (out / "dreamerv2" / "Pong" / "seed_0" / "job.json").write_text(content)
    [row] = sweep_status(out, use_slurm=False).rows
    assert row.state == "missing"
