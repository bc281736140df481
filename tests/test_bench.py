"""`atari100k bench` for DreamerV2: the acting step is timed, and the run's projected updates are
the ones the learner itself makes (its observe() driven over a whole run's step counts)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch

from agent.config import resolve_config
from agent.dreamerv2.learner import DreamerLearner
from tests.test_train_helpers import run_cli


def _updates_the_learner_makes(config) -> int:
    """DreamerLearner.observe over step counts 1..steps, as the run loop calls it, with the replay
    always able to give a window and the update itself counted, not run."""
    learner = DreamerLearner(config, (1, 64, 64), 4, 1, torch.device("cpu"), 0)
    learner.replay.add = lambda *args: None
    learner.replay.can_sample = lambda length: True
    count = 0

    def counted_update() -> dict:
        nonlocal count
        count += 1
        return {}

    learner._update = counted_update
    env_step = SimpleNamespace(obs=None, reward=None, is_first=None, is_last=None, is_terminal=None)
    for step in range(1, config.train.steps + 1):
        learner.observe(None, env_step, step)
    return count


def test_dreamer_bench_projects_the_learners_own_updates_and_acting() -> None:
    done = run_cli(["bench", "--preset", "debug", "--updates", "2", "--threads", "1", "--json"])
    assert done.returncode == 0, done.stderr
    update = json.loads(done.stdout)["update"]
    config = resolve_config(("debug",), [])
    assert update["run_updates"] == _updates_the_learner_makes(config) > 0
    assert update["run_acting_steps"] == config.train.steps - config.train.prefill > 0
    assert update["act_step_ms"] > 0
    projected = (update["run_updates"] * update["update_s"] + update["run_acting_steps"] * update["act_step_ms"] / 1e3) / 60
    assert abs(update["projected_run_min"] - projected) < 1e-9
