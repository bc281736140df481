"""DER and IQN through the shared run loop: real Breakout runs end to end, exact resume after
random stops, learning on a toy task, and bad input refused with nothing written."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest
import torch

from agent import RunSpec, train_run
from atari100k.errors import UsageError
from tests.test_resume import assert_no_gaps_or_duplicates, assert_same_run
from tests.test_train import _StopAt
from tests.test_train_helpers import folder_digest, metrics_rows, run_cli

# Small but real: Breakout, 300 steps, learning from the 100th stored transition, batch 8;
# 150-step episodes, so that an evaluation (whose stop checks count too) fits between two stops.
SMALL = ("train.steps=300", "train.log_every=50", "train.checkpoint_every=100", "der.min_replay=100",
         "der.batch_size=8", "der.target_update_period=50", "eval.every=150", "eval.episodes_during_training=2",
         "env.max_episode_frames=600")
IQN_SMALL = tuple(o.replace("der.", "iqn.") for o in SMALL) + (
    "iqn.num_tau_samples=8", "iqn.num_tau_prime_samples=8", "iqn.num_quantile_samples=8",
    "iqn.epsilon_decay_steps=100")


def breakout(algo: str) -> RunSpec:
    return RunSpec.make("Breakout", 0, ["debug"], SMALL if algo == "der" else IQN_SMALL, algo=algo)


@pytest.fixture(scope="module", params=["der", "iqn"])
def reference(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(request.param) / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        assert train_run(breakout(request.param), out, progress=False).status == "done"
    return request.param, out


def test_breakout_run_folder_records_the_algorithm_and_learns_from_replay(reference: tuple[str, Path]) -> None:
    algo, out = reference
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["algo"] == algo and algo in run["config"]
    assert run["protocol"]["observation"] == "84x84 gray" and run["protocol"]["life_loss_terminal"] is True
    assert run["protocol"]["eval_policy"] == "eps-greedy eps=0.001, noise off"
    rows = metrics_rows(out)
    assert [r["step"] for r in rows] == [50, 100, 150, 200, 250, 300]
    # one update per agent step once the replay holds more than 100 transitions (the env's
    # reset steps store nothing): ~200 updates, each with a finite loss
    assert 190 <= rows[-1]["updates"] <= 200 and rows[1]["updates"] == 0
    assert all(r["loss"] > 0 for r in rows if r.get("loss") is not None)
    assert rows[-1]["replay/steps"] <= 300
    done = json.loads((out / "DONE").read_text())
    assert done["eval_episodes"] == 2 and done["step"] == 300
    evals = (out / "eval.csv").read_text().splitlines()[1:]
    assert sorted({int(line.split(",")[0]) for line in evals}) == [150, 300]


def test_stopped_at_random_points_resumes_exactly(reference: tuple[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    algo, ref = reference
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out, rng, stops = tmp_path / "run", random.Random(7), []
    for _ in range(12):
        result = train_run(breakout(algo), out, stop=_StopAt(rng.randint(20, 400)), progress=False)
        if result.status == "done":
            break
        stops.append(result.summary["step"])
    assert result.status == "done" and len(stops) >= 3, stops
    assert any(s > 100 for s in stops), "no stop after learning started (priorities, optimiser, target)"
    assert_same_run(ref, out)
    assert_no_gaps_or_duplicates(out, 300, 50)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["der", "iqn"])
def test_learns_the_toy_task(algo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """toy:fixed pays 1 for action 0 of 3 at each of 20 steps: random ~6.7, optimum 20."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    section = algo
    overrides = ["env.image_size=32", "train.steps=1500", "train.log_every=500", f"{section}.min_replay=200",
                 f"{section}.batch_size=32", f"{section}.n_step=3", f"{section}.target_update_period=100",
                 "eval.episodes=10"]
    if algo == "iqn":
        overrides += ["iqn.epsilon_decay_steps=300", "iqn.num_tau_samples=8", "iqn.num_tau_prime_samples=8",
                      "iqn.num_quantile_samples=8"]
    spec = RunSpec(game="toy:fixed", seed=0, presets=("debug",), overrides=tuple(overrides), algo=algo)
    result = train_run(spec, tmp_path / "run", progress=False)
    assert result.status == "done"
    assert result.summary["eval_return_mean"] >= 20 / 3 + 8, result.summary


def test_bad_input_is_one_line_exit_2_and_writes_nothing(reference: tuple[str, Path], tmp_path: Path) -> None:
    algo, ref = reference
    out = tmp_path / "nothing"
    cases = [
        (["--algo", "nope"], "unknown algorithm 'nope'; choose from: dreamerv2, der, iqn"),
        (["--set", "der.n_step=3"], "der.* keys belong to --algo der"),
        (["--algo", "der", "--set", "model.lr=1"], "model.* keys belong to --algo dreamerv2"),
        (["--algo", algo, "--preset", "paper"], f"unknown preset 'paper' for --algo {algo}"),
        (["--algo", "der", "--set", "der.n_step=0"], "der.n_step must be >= 1"),
    ]
    for extra, message in cases:
        done = run_cli(["train", "Breakout", "--seed", "0", *extra, "--out", str(out)])
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert not out.exists()
    # a folder made by another algorithm is refused and left as it is
    before = folder_digest(ref)
    other = "dreamerv2" if algo == "der" else "der"
    done = run_cli(["train", "Breakout", "--seed", "0", "--algo", other, "--preset", "debug", "--out", str(ref)])
    assert done.returncode == 2 and f"was made with algo={algo}, this command asks {other}" in done.stderr
    assert folder_digest(ref) == before


@pytest.mark.parametrize("algo", ["der", "iqn"])
def test_bench_runs_on_the_debug_preset(algo: str) -> None:
    # debug sizes the replay to its 600-step run, smaller than the bench's 2,000 filler frames
    done = run_cli(["bench", "--algo", algo, "--preset", "debug", "--updates", "1", "--threads", "1"])
    assert done.returncode == 0, done.stderr
    assert "over 1 update of batch" in done.stdout and "cpu, 1 thread, torch" in done.stdout


def test_bench_comparisons_refuse_the_wrong_algorithm() -> None:
    for args, message in ((["--compare-dopamine"], "--algo der"), (["--algo", "der", "--compare-sheeprl"], "DreamerV2")):
        done = run_cli(["bench", *args, "--updates", "1"])
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def _checkpointed_toy_run(tmp_path: Path) -> tuple[RunSpec, Path]:
    """A DER toy run stopped at its first step boundary: run.json + checkpoint.pt, no DONE."""
    spec = RunSpec(game="toy:fixed", seed=0, presets=("debug",), overrides=("env.image_size=32",), algo="der")
    stop = threading.Event()
    stop.set()
    run = tmp_path / "run"
    result = train_run(spec, run, stop=stop, progress=False)
    assert result.status == "interrupted" and (run / "checkpoint.pt").exists()
    return spec, run


def test_a_damaged_checkpoint_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    spec, run = _checkpointed_toy_run(tmp_path)
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])  # cut short
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(UsageError) as error:
        train_run(spec, run, progress=False)
    message = str(error.value)
    assert "checkpoint.pt cannot be read" in message and "damaged" in message and "\n" not in message
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_a_checkpoint_of_another_version_is_refused(tmp_path: Path) -> None:
    spec, run = _checkpointed_toy_run(tmp_path)
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
    state["version"] = 1
    torch.save(state, run / "checkpoint.pt")
    with pytest.raises(UsageError, match="has checkpoint version 1, this code reads 2"):
        train_run(spec, run, progress=False)
