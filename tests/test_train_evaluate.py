"""Evaluation: exactly N episodes, unbiased per-env quotas, deterministic, isolated RNG."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from agent import train_run
from agent.config import resolve_config
from agent.evaluate import episode_quotas, evaluate
from tests.test_train import toy_spec
from tests.test_train_helpers import metrics_rows


def test_episode_quotas_split_exactly() -> None:
    assert episode_quotas(10, 4) == [3, 3, 2, 2]
    assert episode_quotas(2, 16) == [1, 1]
    assert episode_quotas(100, 16) == [7] * 4 + [6] * 12
    assert sum(episode_quotas(7, 3)) == 7


@pytest.fixture(scope="module")
def model_and_config():
    torch.set_num_threads(1)
    from agent.dreamerv2.dreamer import DreamerV2

    config = resolve_config(["debug"], ["eval.num_envs=3"])
    torch.manual_seed(0)
    return DreamerV2(config, (1, 64, 64), 3, torch.device("cpu")), config


def test_evaluation_counts_exactly_and_repeats_exactly(model_and_config) -> None:
    model, config = model_and_config
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = evaluate(model, "toy:cue", config, seed=0, step=100, episodes=5, device=torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), before), "evaluation moved the training RNG"
    assert [e.episode for e in first] == [0, 1, 2, 3, 4]
    assert all(e.length == 20 for e in first)  # toy episodes last 20 steps
    again = evaluate(model, "toy:cue", config, seed=0, step=100, episodes=5, device=torch.device("cpu"))
    assert first == again
    other_step = evaluate(model, "toy:cue", config, seed=0, step=200, episodes=5, device=torch.device("cpu"))
    assert [e.ret for e in other_step] != [e.ret for e in first]


def test_evaluation_stops_when_asked(model_and_config) -> None:
    model, config = model_and_config
    stop = threading.Event()
    stop.set()
    assert evaluate(model, "toy:cue", config, 0, 100, 5, torch.device("cpu"), stop) is None


def test_training_is_the_same_with_or_without_intermediate_evaluations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with_eval, without = tmp_path / "a", tmp_path / "b"
    assert train_run(toy_spec(), with_eval, progress=False).status == "done"
    assert train_run(toy_spec(0, "eval.every=0"), without, progress=False).status == "done"
    assert metrics_rows(with_eval) == metrics_rows(without)
    final = [line for line in (with_eval / "eval.csv").read_text().splitlines() if line.startswith("400,")]
    assert final == (without / "eval.csv").read_text().splitlines()[1:]
    assert np.unique([line.split(",")[0] for line in (with_eval / "eval.csv").read_text().splitlines()[1:]]).size == 4


def test_every_evaluation_episode_touches_the_metrics_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An evaluation writes no log row for up to an hour; `status` reads the metrics' age to tell a live run."""
    import os

    from agent.run_folder import RunFolder

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    beats: list[float] = []
    heartbeat = RunFolder.heartbeat

    def recorded(folder: RunFolder) -> None:
        os.utime(folder.file("metrics.jsonl"), (0, 0))  # as if written long ago: the heartbeat must renew it
        heartbeat(folder)
        beats.append(folder.file("metrics.jsonl").stat().st_mtime)

    monkeypatch.setattr(RunFolder, "heartbeat", recorded)
    assert train_run(toy_spec(0, "eval.every=0", "eval.episodes=4"), tmp_path / "run", progress=False).status == "done"
    assert len(beats) == 4 and min(beats) > 1e9
