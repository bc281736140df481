"""atari100k.locking: one holder at a time, a waiter that gets the lock once it is free, the
holder named when it is not, and filesystems without flock."""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time

import pytest

from atari100k.errors import UsageError
from atari100k.locking import exclusive_lock


def test_a_waiter_gets_the_lock_when_the_holder_lets_go(tmp_path):
    path, order = tmp_path / "folder" / ".lock", []
    held = threading.Event()

    def holder() -> None:
        with exclusive_lock(path, 0.0, str):
            held.set()
            time.sleep(0.4)
            order.append("holder done")

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    with exclusive_lock(path, 10.0, str):
        order.append("waiter in")
    thread.join()
    assert order == ["holder done", "waiter in"]
    assert path.read_text() == f"pid {os.getpid()} on {os.uname().nodename}"


def test_past_the_wait_the_error_names_the_holder(tmp_path):
    path = tmp_path / ".lock"
    with exclusive_lock(path, 0.0, str):
        start = time.monotonic()
        with pytest.raises(UsageError, match=rf"^busy: pid {os.getpid()} on "):
            with exclusive_lock(path, 0.3, lambda holder: f"busy: {holder}"):
                pass
        assert time.monotonic() - start >= 0.3


def test_a_filesystem_without_flock_goes_ahead_unlocked(tmp_path, monkeypatch):
    def no_flock(*_):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    ran = []
    with exclusive_lock(tmp_path / ".lock", 0.0, str):
        ran.append(True)
    assert ran == [True]
    monkeypatch.setattr(fcntl, "flock", lambda *_: (_ for _ in ()).throw(OSError(errno.EACCES, "denied")))
    with pytest.raises(PermissionError):  # any other error is not swallowed
        with exclusive_lock(tmp_path / ".lock", 0.0, str):
            pass
