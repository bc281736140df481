"""`atari100k train` and `train_run`: a real Atari run folder, determinism, refusals."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from agent import RunSpec, train_run
from agent.provenance import cpu_description
from atari100k import cli
from tests.test_train_helpers import csv_steps, folder_digest, metrics_rows, run_cli

PONG = ["train", "Pong", "--seed", "0", "--preset", "debug", "--steps", "300",
        "--set", "env.max_episode_frames=400", "--no-progress"]


@pytest.fixture(scope="module")
def pong_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished real-Atari debug run made by the CLI (subprocess); (folder, stdout)."""
    out = tmp_path_factory.mktemp("pong") / "run"
    done = run_cli([*PONG, "--out", str(out)])
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_pong_smoke_run_folder_is_complete(pong_run: tuple[Path, str]) -> None:
    out, stdout = pong_run
    assert {p.name for p in out.iterdir()} == {
        "run.json", "metrics.jsonl", "episodes.csv", "eval.csv", "checkpoint.pt", "DONE", "tensorboard", ".train.lock"}
    assert sorted(p.name for p in (out / "tensorboard").iterdir()) == ["frames", "steps"]
    run = json.loads((out / "run.json").read_text())
    assert run["spec"] == {"game": "Pong", "seed": 0, "presets": ["debug"],
                           "overrides": ["env.max_episode_frames=400"], "steps": 300, "algo": "dreamerv2"}
    assert run["config"]["train"]["batch_size"] == 4 and run["config"]["env"]["max_episode_frames"] == 400
    assert run["budget_steps"] == 300 and run["protocol"]["budget_frames"] == 1200
    prov = run["provenance"]
    assert set(prov) == {"git_commit", "git_dirty", "packages", "host", "slurm_job_id", "started_at", "python",
                         "accelerator", "cpu"}
    assert prov["accelerator"] is None  # no GPU here; on one: its name, CUDA version and TF32/cuDNN settings
    assert len(prov["git_commit"]) == 40 and isinstance(prov["git_dirty"], bool)
    assert prov["cpu"] == cpu_description()  # which CPU produced the run's timings
    assert prov["packages"]["torch"] and prov["packages"]["ale-py"] and prov["packages"]["atari100k"]
    assert run["resumes"] == []

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [100, 200, 300]
    assert [r["frames"] for r in rows] == [400, 800, 1200]
    assert rows[0]["updates"] == 0 and rows[-1]["updates"] > 0  # prefill is 200 steps
    assert "model/loss" in rows[-1] and "actor/loss" in rows[-1] and "critic/loss" in rows[-1]
    assert all(r["elapsed_s"] > 0 for r in rows) and rows[-1]["elapsed_s"] >= rows[0]["elapsed_s"]

    # 400-frame cap = 100 agent steps per episode (+1 reset step between episodes)
    assert (out / "episodes.csv").read_text().splitlines()[0] == "step,return,length"
    assert csv_steps(out / "episodes.csv") == [100, 201]
    eval_lines = (out / "eval.csv").read_text().splitlines()
    assert eval_lines[0] == "step,episode,return,length"
    assert [line.split(",")[:2] for line in eval_lines[1:]] == [["300", "0"], ["300", "1"]]

    done = json.loads((out / "DONE").read_text())
    assert set(done) == {"step", "frames", "eval_episodes", "eval_return_mean", "eval_return_std",
                         "finished_at", "elapsed_s"}
    assert (done["step"], done["frames"], done["eval_episodes"]) == (300, 1200, 2)
    returns = [float(line.split(",")[2]) for line in eval_lines[1:]]
    assert done["eval_return_mean"] == pytest.approx(sum(returns) / 2)
    assert "Pong seed 0 (dreamerv2): eval return" in stdout and "over 2 episodes, greedy policy" in stdout
    assert "after 300 agent steps = 1,200 frames, sticky 0.0" in stdout


def test_finished_run_is_left_alone(pong_run: tuple[Path, str]) -> None:
    out, _ = pong_run
    before = folder_digest(out)
    again = run_cli([*PONG, "--out", str(out)])
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already finished: Pong seed 0 (dreamerv2): eval return")
    assert folder_digest(out) == before
    result = train_run(RunSpec.make("Pong", 0, ("debug",), ["env.max_episode_frames=400"], 300), out)
    assert result.status == "already_done" and result.summary["step"] == 300
    assert folder_digest(out) == before


@pytest.mark.parametrize("args, message", [
    (["train", "Pongg", "--seed", "0"], "unknown game 'Pongg'"),
    (["train", "Pong", "--seed", "0", "--set", "train.batchsize=8"], "unknown config key 'train.batchsize'"),
    (["train", "Pong", "--seed", "0", "--set", "train.batch_size=eight"], "bad value for train.batch_size"),
    (["train", "Pong", "--seed", "0", "--set", "train.log_every=0"], "train.log_every must be > 0"),
    (["train", "Pong", "--seed", "0", "--preset", "debug", "--steps", "300", "--set", "env.max_episode_frames=400",
      "--set", "train.batch_size=8"], "was made with train.batch_size=4, this command asks 8 (that run: --preset debug "
     "--set env.max_episode_frames=400 --steps 300; this command: --preset debug --set env.max_episode_frames=400 "
     "--set train.batch_size=8 --steps 300); use another --out"),
    (["train", "Pong", "--seed", "0", "--preset", "debug", "--set", "env.max_episode_frames=400"],
     "was made with train.steps=300, this command asks 600 (that run: --preset debug --set "
     "env.max_episode_frames=400 --steps 300; this command: --preset debug --set env.max_episode_frames=400)"),
    (["train", "Pong", "--seed", "1", "--preset", "debug", "--steps", "300",
      "--set", "env.max_episode_frames=400"], "was made with seed=0, this command asks 1"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    pong_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
    args: list[str], message: str,
) -> None:
    out, _ = pong_run
    monkeypatch.chdir(tmp_path)  # the default --out would land here
    before = folder_digest(out)
    code = cli.main([*args, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("atari100k train: error: ") and message in err and err.count("\n") == 1, err
    assert folder_digest(out) == before
    assert list(tmp_path.iterdir()) == []


def test_a_folder_another_train_holds_is_refused_with_its_holder_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent import train as train_module
    from agent.run_folder import RUN_LOCK
    from atari100k.locking import exclusive_lock

    monkeypatch.setattr(train_module, "RUN_LOCK_WAIT_S", 0.3)
    out = tmp_path / "run"
    with exclusive_lock(out / RUN_LOCK, 0.0, str):  # stands for an `atari100k train` still running
        code = cli.main([*PONG, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "another `atari100k train` (pid " in err and f"is training {out}" in err
    assert [p.name for p in out.iterdir()] == [RUN_LOCK]  # no run.json, no logs


def test_another_config_is_refused_before_any_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unfinished folder (run.json + checkpoint) with another batch size: refused, untouched."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "run"
    spec = RunSpec(game="toy:cue", seed=0, presets=("debug",), overrides=("train.steps=120", "train.prefill=100"))
    assert train_run(spec, out, stop=_StopAt(step_calls=3), progress=False).status == "interrupted"
    before = folder_digest(out)
    other = RunSpec(game="toy:cue", seed=0, presets=("debug",),
                    overrides=("train.steps=120", "train.prefill=100", "train.batch_size=8"))
    from atari100k.errors import UsageError

    with pytest.raises(UsageError, match=r"made with train.batch_size=4, this command asks 8 \(that run: --preset debug "
                       r"--set train.steps=120 --set train.prefill=100; this command: .* --set train.batch_size=8\); "
                       r"use another --out"):
        train_run(other, out, progress=False)
    assert folder_digest(out) == before


class _StopAt(threading.Event):
    """A stop event that turns itself on at its n-th `is_set()` check."""

    def __init__(self, step_calls: int) -> None:
        super().__init__()
        self.left = step_calls

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0 or super().is_set()


def toy_spec(seed: int = 0, *extra: str) -> RunSpec:
    """A toy-env run of 400 agent steps with intermediate evals, many rows and checkpoints."""
    return RunSpec(game="toy:cue", seed=seed, presets=("debug",), overrides=(
        "train.steps=400", "train.prefill=100", "train.log_every=50", "train.checkpoint_every=150",
        "eval.every=100", "eval.episodes_during_training=3", *extra))


def test_same_seed_same_metrics_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    a, b = tmp_path / "a", tmp_path / "b"
    assert train_run(toy_spec(), a, progress=False).status == "done"
    assert train_run(toy_spec(), b, progress=False).status == "done"
    rows = metrics_rows(a)
    assert [r["step"] for r in rows] == list(range(50, 401, 50))
    assert rows[-1]["updates"] > 10 and rows[-1]["model/loss"] is not None
    assert rows == metrics_rows(b)
    for name in ("episodes.csv", "eval.csv"):
        assert (a / name).read_text() == (b / name).read_text()
    assert csv_steps(a / "eval.csv") == [100] * 3 + [200] * 3 + [300] * 3 + [400] * 2


class _FakeLearner:
    """A learner as the status line sees it: a phase per step and a running count of updates."""

    def __init__(self) -> None:
        self.updates = 0

    def phase(self, step: int) -> str:
        return "prefill" if step < 10 else "train"


class _FakeBar:
    def __init__(self) -> None:
        self.postfixes: list[str] = []

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfixes.append(text)


def test_status_line_shows_a_phase_change_at_once_and_the_update_rate_after_a_second(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from agent import train as train_module

    clock = [100.0]
    monkeypatch.setattr(train_module.time, "monotonic", lambda: clock[0])
    learner, bar = _FakeLearner(), _FakeBar()
    status = train_module._StatusLine(learner)
    status.show(bar, 1)
    assert bar.postfixes == ["prefill"]
    clock[0] += 0.2
    status.show(bar, 10)  # the phase changed: shown at once, before any rate is known
    assert bar.postfixes[-1] == "train"
    learner.updates, clock[0] = 25, clock[0] + 0.3
    status.show(bar, 11)  # same phase, under a second since the phase began: not redrawn
    assert len(bar.postfixes) == 2
    learner.updates, clock[0] = 60, clock[0] + 0.7
    status.show(bar, 12)  # 60 updates over the 1.0 s since the train phase began
    assert bar.postfixes[-1] == "train, 60.0 updates/s"
    learner.updates, clock[0] = 90, clock[0] + 2.0
    status.show(bar, 13)
    assert bar.postfixes[-1] == "train, 15.0 updates/s"
