"""`atari100k bench` for DreamerV2: the acting step is timed and the run's projection counts the
learner's own cadence (pretrain, then train_steps every train_every agent steps after prefill)."""

from __future__ import annotations

import json

from agent.config import resolve_config
from tests.test_train_helpers import run_cli


def test_dreamer_bench_projects_updates_and_acting_from_the_presets_cadence() -> None:
    done = run_cli(["bench", "--preset", "debug", "--updates", "2", "--threads", "1", "--json"])
    assert done.returncode == 0, done.stderr
    update = json.loads(done.stdout)["update"]
    train = resolve_config(("debug",), []).train
    acting = train.steps - train.prefill
    assert update["run_acting_steps"] == acting > 0
    assert update["run_updates"] == train.pretrain + acting // train.train_every * train.train_steps
    assert update["act_step_ms"] > 0
    projected = (update["run_updates"] * update["update_s"] + acting * update["act_step_ms"] / 1e3) / 60
    assert abs(update["projected_run_min"] - projected) < 1e-9
