"""TensorBoard event files beside a run's logs: a live view of a run, or of a whole sweep.

    tensorboard --logdir results/<sweep>

Each run folder gets `tensorboard/steps/` (x axis: agent steps) and `tensorboard/frames/` (x axis:
emulator frames), so TensorBoard lists one run per `<algo>/<Game>/seed_<k>/tensorboard/<axis>`.
The scalars are those of `metrics.jsonl` (losses, throughput, replay size, the mean training
return of each log row), every training episode's return (`episodes/return`), and each
evaluation's mean return (`eval/return`, with `eval/return_std` and `eval/episodes`); the
frames axis holds the returns only.

Events are logs like the others: a resumed run cuts them back to its checkpoint. The writers
are opened with TensorBoard's `purge_step` (the first step after the checkpoint), which tells
TensorBoard's reader to drop the events at and after it that earlier files hold; the writers
are flushed before every checkpoint, so no event at or before a checkpoint's step can be lost.
The event files are written by `torch.utils.tensorboard` (the `tensorboard` package).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

TENSORBOARD_DIR = "tensorboard"
# metrics.jsonl fields that are axes or clocks, not scalars worth a curve.
_NOT_SCALARS = ("step", "frames", "time")


def _sort_after_existing(root: Path) -> None:
    """Wait, if need be, for the clock's next second, so that the new event files sort after every
    earlier one. TensorBoard reads a folder's files in name order, and a name is
    `events.out.tfevents.<unix seconds>.<host>.<pid>.<counter>`: two files of one process in one
    second can sort out of order (counter 10 before 9), and the purge step then drops live events.
    A resume within a second of the previous start is rare outside tests; it costs under 1 s."""
    stamps = [int(m.group(1)) for f in root.glob("*/events.out.tfevents.*")
              if (m := re.match(r"events\.out\.tfevents\.(\d+)\.", f.name))]
    wait = max(stamps, default=0) + 1 - time.time()
    if wait > 0:
        time.sleep(wait)


class TensorBoardLog:
    """The two event-file writers of one run."""

    def __init__(self, run_dir: Path, action_repeat: int, resumed_from_step: int | None) -> None:
        """`resumed_from_step`: the checkpoint's step, or None for a run from scratch, whose earlier
        event files (an attempt that died before its first checkpoint) are removed, as its logs are emptied."""
        from torch.utils.tensorboard import SummaryWriter

        self.action_repeat = action_repeat
        root = Path(run_dir) / TENSORBOARD_DIR
        if resumed_from_step is None:
            shutil.rmtree(root, ignore_errors=True)
        _sort_after_existing(root)
        steps_purge = None if resumed_from_step is None else resumed_from_step + 1
        frames_purge = None if resumed_from_step is None else resumed_from_step * action_repeat + 1
        self.steps = SummaryWriter(str(root / "steps"), purge_step=steps_purge)
        self.frames = SummaryWriter(str(root / "frames"), purge_step=frames_purge)

    def metrics_row(self, row: dict[str, Any]) -> None:
        """One metrics.jsonl row: every numeric field at the row's agent step."""
        step = int(row["step"])
        for key, value in row.items():
            if key in _NOT_SCALARS or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            self.steps.add_scalar(key, value, step)

    def episodes(self, rows: Sequence[tuple[int, float, int]]) -> None:
        """Training episodes as (end step, return, length)."""
        for step, ret, _ in rows:
            self.steps.add_scalar("episodes/return", ret, step)
            self.frames.add_scalar("episodes/return", ret, step * self.action_repeat)

    def evaluation(self, step: int, returns: Sequence[float]) -> None:
        """One finished evaluation at agent step `step`."""
        import numpy as np

        mean, std = float(np.mean(returns)), float(np.std(returns))
        for writer, x in ((self.steps, step), (self.frames, step * self.action_repeat)):
            writer.add_scalar("eval/return", mean, x)
        self.steps.add_scalar("eval/return_std", std, step)
        self.steps.add_scalar("eval/episodes", len(returns), step)

    def flush(self) -> None:
        self.steps.flush()
        self.frames.flush()

    def close(self) -> None:
        self.steps.close()
        self.frames.close()
