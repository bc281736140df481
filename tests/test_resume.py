"""Exact resume: a run stopped or killed anywhere and re-run equals the uninterrupted run.

Compared: every metrics.jsonl row without its wall-clock fields (time, elapsed_s, sps),
episodes.csv and eval.csv byte for byte, DONE's evaluation numbers, and every TensorBoard scalar
(wall-clock ones aside) as TensorBoard's own reader loads the event files (it honours purge steps).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent import train_run
from tests.test_train import _StopAt, toy_spec
from tests.test_train_helpers import PYTHON, cli_env, csv_steps, folder_digest, logged_steps, metrics_rows, run_cli

SCORE_KEYS = ("step", "frames", "eval_episodes", "eval_return_mean", "eval_return_std")
WALL_CLOCK_TAGS = ("elapsed_s", "sps")


def tensorboard_scalars(run: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """axis (steps, frames) -> tag -> [(step, value)], as TensorBoard loads the run's event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for axis in ("steps", "frames"):
        reader = EventAccumulator(str(run / "tensorboard" / axis), size_guidance={"scalars": 0})
        reader.Reload()
        out[axis] = {tag: [(e.step, e.value) for e in reader.Scalars(tag)]
                     for tag in reader.Tags()["scalars"] if tag not in WALL_CLOCK_TAGS}
    return out


def assert_same_run(a: Path, b: Path) -> None:
    """The two run folders hold the same run (wall-clock fields aside)."""
    assert metrics_rows(a) == metrics_rows(b)
    for name in ("episodes.csv", "eval.csv"):
        assert (a / name).read_text() == (b / name).read_text(), name
    done_a, done_b = (json.loads((p / "DONE").read_text()) for p in (a, b))
    assert {k: done_a[k] for k in SCORE_KEYS} == {k: done_b[k] for k in SCORE_KEYS}
    assert tensorboard_scalars(a) == tensorboard_scalars(b)


def assert_no_gaps_or_duplicates(run: Path, budget: int, log_every: int) -> None:
    assert [r["step"] for r in metrics_rows(run)] == list(range(log_every, budget + 1, log_every))
    steps = csv_steps(run / "episodes.csv")
    assert steps == sorted(set(steps))  # one env: one episode per step at most


@pytest.fixture(scope="module")
def toy_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # as the tests that compare with it
        assert train_run(toy_spec(), out, progress=False).status == "done"
    return out


def test_stopped_at_random_boundaries_and_mid_evaluation_resumes_exactly(
    toy_reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out, rng = tmp_path / "run", random.Random(1234)
    statuses, stopped_at = [], []
    for _ in range(40):
        # is_set() is checked at each step boundary and at each evaluation step, so random
        # counts stop the run between steps and in the middle of evaluations alike.
        result = train_run(toy_spec(), out, stop=_StopAt(rng.randint(3, 120)), progress=False)
        statuses.append(result.status)
        if result.status == "done":
            break
        stopped_at.append(result.summary["step"])
    assert statuses[-1] == "done" and len(stopped_at) >= 3, statuses
    assert {100, 200, 300} & set(stopped_at), "no stop in the middle of an intermediate evaluation"
    assert_same_run(toy_reference, out)
    assert_no_gaps_or_duplicates(out, 400, 50)
    # every stop checkpointed where it stopped: each resume starts from that very step
    resumes = json.loads((out / "run.json").read_text())["resumes"]
    assert [r["from_step"] for r in resumes] == stopped_at
    assert all(r["resumed_at"] and r["cpu"] for r in resumes)


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a toy run under test goes (one torch thread, as the reference ran)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path / "run"


def test_crash_before_first_checkpoint_and_torn_log_line(toy_reference: Path, out: Path) -> None:
    """run.json and rows but no checkpoint (died early), and a half-written row: both repaired."""
    assert train_run(toy_spec(), out, stop=_StopAt(140), progress=False).status == "interrupted"
    assert metrics_rows(out)  # some rows were written before the stop
    (out / "checkpoint.pt").unlink()
    with open(out / "episodes.csv", "a") as handle:
        handle.write("99999,1.")  # torn row
    assert train_run(toy_spec(), out, progress=False).status == "done"
    assert_same_run(toy_reference, out)
    assert json.loads((out / "run.json").read_text())["resumes"][0]["from_step"] is None


def test_events_written_after_the_last_checkpoint_are_purged_on_resume(toy_reference: Path, out: Path) -> None:
    """As if killed long after its last checkpoint: the logs and event files hold steps past it."""
    assert train_run(toy_spec(), out, stop=_StopAt(60), progress=False).status == "interrupted"
    early = (out / "checkpoint.pt").read_bytes()
    assert train_run(toy_spec(), out, stop=_StopAt(250), progress=False).status == "interrupted"
    later = tensorboard_scalars(out)["steps"]
    (out / "checkpoint.pt").write_bytes(early)  # back to the early checkpoint; events past it stay on disk
    assert train_run(toy_spec(), out, progress=False).status == "done"
    resumed_from = json.loads((out / "run.json").read_text())["resumes"][-1]["from_step"]
    assert any(s > resumed_from for s, _ in later["episodes/return"]), "no event past the checkpoint to purge"
    assert_same_run(toy_reference, out)
    # TensorBoard's reader sees each point once, and the files really hold the purged duplicates.
    steps = [s for s, _ in tensorboard_scalars(out)["steps"]["episodes/return"]]
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    assert len(list((out / "tensorboard" / "steps").iterdir())) == 3  # one event file per session


PONG = ["train", "Pong", "--seed", "0", "--preset", "debug", "--steps", "400", "--no-progress",
        "--set", "env.max_episode_frames=400", "--set", "train.checkpoint_every=50", "--set", "train.log_every=50"]


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120) -> bool:
    """Poll until predicate() or the process ends; True if predicate() held first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise TimeoutError("the training subprocess made no progress")


def test_pong_sigterm_then_sigkill_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    reference, out = tmp_path / "reference", tmp_path / "run"
    ref = run_cli([*PONG, "--out", str(reference)])
    assert ref.returncode == 0, ref.stderr

    command = [PYTHON, "-m", "atari100k", *PONG, "--out", str(out)]
    popen = dict(env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # 1) SIGTERM once training is under way: checkpoint, exit 143 (128 + SIGTERM).
    proc = subprocess.Popen(command, **popen)
    assert _wait_for(lambda: (out / "metrics.jsonl").exists(), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "SIGTERM received" in err and "run the same command to resume" in err
    assert (out / "checkpoint.pt").exists() and not (out / "DONE").exists()

    # 2) Resume, then SIGKILL at a random point after it wrote a new checkpoint: once its log reaches a
    # random step mid-run, plus a random few ms. Placed by progress, not by wall clock, so that the kill
    # lands mid-run on a fast machine too. The seed comes from the OS: train_run reseeds `random`.
    seed = random.SystemRandom().randrange(10**6)
    rng = random.Random(seed)
    target, delay = rng.choice(range(100, 300, 50)), rng.uniform(0.0, 0.05)
    first = (out / "checkpoint.pt").stat().st_mtime_ns
    proc = subprocess.Popen(command, **popen)
    assert _wait_for(lambda: (out / "checkpoint.pt").stat().st_mtime_ns != first, proc), "resumed run ended early"
    assert _wait_for(lambda: (logged_steps(out) or [0])[-1] >= target, proc), "resumed run ended early"
    time.sleep(delay)
    proc.kill()
    proc.communicate(timeout=120)
    print(f"kill seed {seed}: {delay * 1000:.0f} ms after step {target} was logged, exit {proc.returncode}",
          file=sys.stderr)
    # The kill landed mid-run (a run that had already finished would make this test vacuous).
    assert proc.returncode == -signal.SIGKILL and not (out / "DONE").exists()

    # 3) Re-run to the end; then once more: nothing to do, nothing touched.
    done = run_cli([*PONG, "--out", str(out)])
    assert done.returncode == 0, done.stderr
    assert_same_run(reference, out)
    assert_no_gaps_or_duplicates(out, 400, 50)
    before = folder_digest(out)
    again = run_cli([*PONG, "--out", str(out)])
    assert again.returncode == 0 and again.stdout.startswith("already finished: Pong seed 0")
    assert folder_digest(out) == before
