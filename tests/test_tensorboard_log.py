"""agent.tensorboard_log: a resumed run's event files sort after the earlier ones, as TensorBoard
reads them in name order (a process-wide counter, unpadded, breaks ties within one second)."""

from __future__ import annotations

import time
from types import SimpleNamespace

from agent.tensorboard_log import TensorBoardLog


def test_event_files_of_resumes_within_one_second_sort_in_the_order_they_were_written(tmp_path):
    for resumed_from in (None, 1, 2, 3):  # four sessions in quick succession, as a test resumes
        TensorBoardLog(tmp_path, 4, resumed_from).close()
    names = sorted(p.name for p in (tmp_path / "tensorboard" / "steps").iterdir())
    stamps = [int(name.split(".")[3]) for name in names]
    assert len(names) == 4 and stamps == sorted(set(stamps)), names  # one second each: name order = write order


def test_a_fresh_run_does_not_wait(tmp_path, monkeypatch):
    from agent import tensorboard_log

    TensorBoardLog(tmp_path, 4, None).close()  # an attempt that died before its first checkpoint
    waits: list[float] = []  # the module's own clock, so that no other thread's sleep is recorded
    monkeypatch.setattr(tensorboard_log, "time", SimpleNamespace(time=time.time, sleep=waits.append))
    TensorBoardLog(tmp_path, 4, None).close()  # its files are removed, so nothing to sort after
    assert waits == []
    assert len(list((tmp_path / "tensorboard" / "steps").iterdir())) == 1
