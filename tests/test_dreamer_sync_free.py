"""A DreamerV2 update reads nothing back to the host (issue 10, item 2).

On a GPU every `.item()`, `float(t)`, `int(t)`, `bool(t)`, `.tolist()`, `.numpy()` or `.cpu()`
stops the queue until the GPU catches up. Here, on a CPU, those are patched to raise while one
full update (world model, actor, critic, optimisers, slow-critic schedule) runs.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from agent.config import resolve_config
from agent.dreamerv2.dreamer import DreamerV2

from tests.test_model import _batch

SYNCS = ("item", "__float__", "__int__", "__bool__", "__index__", "tolist", "numpy", "cpu")


@contextlib.contextmanager
def no_host_reads(monkeypatch):
    def refuse(name):
        def method(*args, **kwargs):
            raise AssertionError(f"host read inside the update: Tensor.{name}")
        return method

    with monkeypatch.context() as patch:
        for name in SYNCS:
            patch.setattr(torch.Tensor, name, refuse(name))
        yield


def test_the_patch_catches_a_host_read(monkeypatch):
    with no_host_reads(monkeypatch), pytest.raises(AssertionError, match="Tensor.__float__"):
        float(torch.ones(()))


@pytest.mark.parametrize("overrides", [{}, {"behavior.slow_critic_update": 1}, {"behavior.actor_grad_mix": 0.0}])
def test_an_update_is_sync_free(monkeypatch, overrides):
    torch.manual_seed(0)
    config = resolve_config(["debug"], overrides)
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    batch = _batch(config, 6, 2, 3)
    model.train_step(batch)  # lazy state (optimiser moments) outside the check
    with no_host_reads(monkeypatch):
        metrics = model.train_step(batch)
        metrics = model.train_step(batch)
    assert model.updates == 3 and int(model.behavior.updates) == 3
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in metrics.values())
    assert {"actor/grad_norm", "critic/grad_norm", "model/kl", "model/grad_norm"} <= set(metrics)


def test_the_counter_survives_a_checkpoint():
    config = resolve_config(["debug"], {"behavior.slow_critic_update": 3})
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    batch = _batch(config, 6, 2, 3)
    for _ in range(2):
        model.train_step(batch)
    other = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    other.load_checkpoint_state(model.checkpoint_state())
    assert other.updates == 2


def test_ops_per_update_are_counted_the_same_each_update():
    from agent.bench import count_ops

    config = resolve_config(["debug"])
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    batch = _batch(config, 6, 2, 3)
    model.train_step(batch)
    first, second = (count_ops(lambda: model.train_step(batch)) for _ in range(2))
    assert first == second and 500 < first["non_view_ops"] < first["ops"]
    # One more imagination step is more work: the counter sees it.
    longer = DreamerV2(resolve_config(["debug"], {"behavior.horizon": config.behavior.horizon + 1}), (1, 64, 64), 3,
                       torch.device("cpu"))
    longer.train_step(batch)
    assert count_ops(lambda: longer.train_step(batch))["non_view_ops"] > first["non_view_ops"]
