"""DreamerV2's update and acting step behind CUDA graphs, as far as a CPU can check it.

A captured graph's outputs are static buffers that its next replay overwrites, so `train_step` must
hand back metrics and `act` state that the next call cannot change (the learner keeps the metrics
of its 100 pretraining updates before the run loop adds them up), and `act` must keep one graph
per (mode, number of envs).
`ReplayingStep` stands in for agent.cuda_graph.GraphedStep on a GPU: it runs the step eagerly but
returns the same tensors every call, overwritten in place, as a graph's replay does. Whether the
real capture replays the eager kernels is checked on a GPU (benchmarks/gpu/check_graphs.py).
"""

from __future__ import annotations

import pytest
import torch

import agent.dreamerv2.dreamer as dreamer_module
from agent.config import resolve_config
from agent.dreamerv2.dreamer import DreamerV2
from tests.test_model import _batch


class ReplayingStep:
    """A step whose outputs are static buffers, rewritten by every call (a CUDA graph's replay)."""

    enabled = captured = True

    def __init__(self, step, device, enabled=True) -> None:
        self.step, self.outputs = step, None

    def __call__(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.step(inputs)
        if self.outputs is None:
            self.outputs = {key: value.clone() for key, value in out.items()}
        else:
            for key, value in out.items():
                self.outputs[key].copy_(value)
        return self.outputs


def _model() -> DreamerV2:
    torch.manual_seed(0)
    return DreamerV2(resolve_config(("debug",), []), (1, 64, 64), 4, torch.device("cpu"))


def _rollout(model: DreamerV2, steps: int = 6) -> list[tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]]:
    """(actions, latent, one-hot action) after each of `steps` act calls on 2 envs, as returned."""
    generator = torch.Generator().manual_seed(1)
    state = model.initial_state(2)
    torch.manual_seed(2)
    out = []
    for t in range(steps):
        obs = torch.randint(0, 256, (2, 1, 64, 64), dtype=torch.uint8, generator=generator)
        first = torch.tensor([t == 0, t in (0, 3)])
        actions, state = model.act(obs, first, state, "sample")
        out.append((actions, state[0], state[1]))
    return out


@pytest.fixture
def replaying(monkeypatch):
    monkeypatch.setattr(dreamer_module, "GraphedStep", ReplayingStep)


def test_graphed_acting_returns_state_the_next_replay_cannot_change(replaying):
    rollout = _rollout(_model())
    kept = [({k: v.clone() for k, v in latent.items()}, action.clone()) for _, latent, action in rollout]
    # Every state handed out is still what it was when it was returned, after later calls.
    for (_, latent, action), (kept_latent, kept_action) in zip(rollout, kept):
        assert torch.equal(action, kept_action)
        assert all(torch.equal(latent[k], kept_latent[k]) for k in kept_latent)
    # and consecutive states differ (the check above would pass trivially on a frozen state)
    assert not torch.equal(rollout[1][1]["deter"], rollout[2][1]["deter"])


def test_graphed_acting_equals_eager_acting(monkeypatch):
    eager = _rollout(_model())
    monkeypatch.setattr(dreamer_module, "GraphedStep", ReplayingStep)
    graphed = _rollout(_model())
    for (eager_actions, eager_latent, _), (graph_actions, graph_latent, _) in zip(eager, graphed):
        assert torch.equal(eager_actions, graph_actions)
        assert eager_latent.keys() == graph_latent.keys()
        assert all(torch.equal(eager_latent[k], graph_latent[k]) for k in eager_latent)


def test_one_acting_graph_per_mode_and_env_count(replaying):
    model = _model()
    obs = torch.zeros(3, 1, 64, 64, dtype=torch.uint8)
    first = torch.ones(3, dtype=torch.bool)
    model.act(obs[:2], first[:2], model.initial_state(2), "sample")
    model.act(obs, first, model.initial_state(3), "mode")
    model.act(obs[:2], first[:2], model.initial_state(2), "sample")
    assert set(model._act_graphs) == {("sample", 2), ("mode", 3)}


def test_graphed_update_metrics_survive_the_next_update(replaying):
    model = _model()
    torch.manual_seed(3)
    first = model.train_step(_batch(model.config, 10, 3, 4))
    kept = {key: value.clone() for key, value in first.items()}
    model.train_step(_batch(model.config, 10, 3, 4))
    assert kept and all(torch.equal(first[key], kept[key]) for key in kept)
