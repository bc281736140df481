"""DreamerV2's update and acting step behind CUDA graphs, as far as a CPU can check it.

A captured graph's outputs are static buffers that its next replay overwrites, so `train_step` must
hand back metrics and `act` state that the next call cannot change (the learner keeps the metrics
of its 100 pretraining updates before the run loop adds them up), and `act` must keep one graph
per (mode, number of envs).
`ReplayingStep` is agent.cuda_graph.GraphedStep on a CPU with its CUDA parts done eagerly: after
warm-up, every call writes into the same static output tensors, as a graph's replay does. Whether the
real capture replays the eager kernels is checked on a GPU (benchmarks/gpu/check_graphs.py).
"""

from __future__ import annotations

import pytest
import torch

import agent.dreamerv2.dreamer as dreamer_module
from agent.config import resolve_config
from agent.cuda_graph import GraphedStep
from agent.dreamerv2.dreamer import DreamerV2
from tests.test_model import _batch


class ReplayingStep(GraphedStep):
    """GraphedStep as on a GPU, with the CUDA parts done eagerly: warm-up calls run the step, the
    "capture" sets up static input buffers, and each "replay" runs the step on them and writes its
    results into the same static output tensors every time, as a graph's replay does. The real
    `__call__` (input copies, `copy_outputs`) is what runs."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.enabled = True

    def _warmup_call(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.step(inputs)

    def _capture(self, inputs: dict[str, torch.Tensor]) -> None:
        self.static_inputs = {key: value.clone() for key, value in inputs.items()}
        self.graph = "captured"  # a real capture records kernels without running them

    def _replay(self) -> None:
        out = self.step(self.static_inputs)
        if not self.static_outputs:
            self.static_outputs = {key: value.clone() for key, value in out.items()}
        for key, value in out.items():
            self.static_outputs[key].copy_(value)


def _model() -> DreamerV2:
    torch.manual_seed(0)
    return DreamerV2(resolve_config(("debug",), []), (1, 64, 64), 4, torch.device("cpu"))


def _rollout(model: DreamerV2, steps: int = 8) -> list[tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]]:
    """(actions, latent, one-hot action, a copy of the latent taken at once) after each of `steps` act
    calls on 2 envs, as returned (with ReplayingStep: 3 warm-up calls, then capture and replays)."""
    generator = torch.Generator().manual_seed(1)
    state = model.initial_state(2)
    torch.manual_seed(2)
    out = []
    for t in range(steps):
        obs = torch.randint(0, 256, (2, 1, 64, 64), dtype=torch.uint8, generator=generator)
        first = torch.tensor([t == 0, t in (0, 3)])
        actions, state = model.act(obs, first, state, "sample")
        out.append((actions, state[0], state[1], {k: v.clone() for k, v in state[0].items()}))
    return out


@pytest.fixture
def replaying(monkeypatch):
    monkeypatch.setattr(dreamer_module, "GraphedStep", ReplayingStep)


def test_graphed_acting_returns_state_the_next_replay_cannot_change(replaying):
    rollout = _rollout(_model())
    # Every state handed out is still what it was when it was returned, after later calls.
    for _, latent, _, kept_latent in rollout:
        assert all(torch.equal(latent[k], kept_latent[k]) for k in kept_latent)
    # and consecutive replayed states differ (the check above would pass trivially on a frozen state)
    assert not torch.equal(rollout[5][3]["deter"], rollout[6][3]["deter"])


def test_graphed_acting_equals_eager_acting(monkeypatch):
    eager = _rollout(_model())
    monkeypatch.setattr(dreamer_module, "GraphedStep", ReplayingStep)
    graphed = _rollout(_model())
    for (eager_actions, eager_latent, _, _), (graph_actions, graph_latent, _, _) in zip(eager, graphed):
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
    for _ in range(model._update.warmup + 1):  # warm-up calls, then the capture and its first replay
        model.train_step(_batch(model.config, 10, 3, 4))
    first = model.train_step(_batch(model.config, 10, 3, 4))
    kept = {key: value.clone() for key, value in first.items()}
    model.train_step(_batch(model.config, 10, 3, 4))
    assert kept and all(torch.equal(first[key], kept[key]) for key in kept)


def test_a_failed_capture_is_one_line_saying_how_to_train_without_graphs():
    """On a GPU where some op cannot be captured, the run's FAILED error line (what `status` shows)
    names the step and the switch, instead of a CUDA traceback's last line."""

    class FailingCapture(ReplayingStep):
        def _capture(self, inputs):
            raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

    step = FailingCapture(lambda inputs: {"y": inputs["x"] * 2}, torch.device("cpu"), warmup=1,
                          name="DreamerV2's acting step (sample, 1 envs)")
    assert step({"x": torch.ones(2)})["y"].tolist() == [2.0, 2.0]  # the warm-up call runs eagerly
    with pytest.raises(RuntimeError) as error:
        step({"x": torch.ones(2)})
    line = str(error.value)
    assert "\n" not in line and line.startswith("capturing DreamerV2's acting step (sample, 1 envs) as a CUDA graph")
    assert "stream is capturing" in line and "--set train.cuda_graphs=false" in line
