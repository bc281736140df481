"""`train.compile=true`: the DreamerV2 update and acting step through torch.compile compute what
the eager ones compute (issue 10, item 4).

Two models from one seed take the same batches and draw the same random numbers (the compiled
graphs keep torch's generator: inductor's `fallback_random`); their metrics, parameters and
actions must agree to rounding. The default run traces with the "aot_eager" backend — Dynamo's
capture of the whole update, AOTAutograd's backward, with no graph break — in seconds; inductor's
own code generation (C++ here, Triton on a GPU) costs minutes of g++ on a CPU, so its variant
runs with `pytest -m inductor` (and on a GPU in benchmarks/gpu/check_graphs.py).
"""

from __future__ import annotations

import pytest
import torch

from agent.config import resolve_config
from agent.dreamerv2.dreamer import DreamerV2

from tests.test_dreamer_sync_free import no_host_reads
from tests.test_model import _batch


def _batches(count: int) -> list[dict[str, torch.Tensor]]:
    torch.manual_seed(3)
    config = resolve_config(["debug"])
    batches = [_batch(config, 6, 3, 3) for _ in range(count)]
    for batch in batches:
        batch["is_first"][3, 1] = True  # an episode starting mid-sequence
    return batches


def _run(compile: bool, overrides: dict, batches: list, monkeypatch) -> tuple[list[dict], dict, list]:
    """Updates on `batches` (the later ones with host reads refused), then acting: (metrics of each
    update, the state dict, the actions)."""
    torch.manual_seed(0)
    config = resolve_config(["debug"], {**overrides, "train.compile": compile})
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    torch.manual_seed(1)
    metrics = [model.train_step(batches[0])]  # compiles
    with no_host_reads(monkeypatch):
        metrics += [model.train_step(batch) for batch in batches[1:]]
    state = model.initial_state(2)
    obs = torch.randint(0, 255, (3, 2, 1, 64, 64), dtype=torch.uint8)
    actions = []
    for t, mode in enumerate(("sample", "sample", "mode")):
        action, state = model.act(obs[t], torch.tensor([t == 0, False]), state, mode)
        actions.append(action)
    actions.append(state[0]["deter"])
    return [{k: v.clone() for k, v in m.items()} for m in metrics], model.state_dict(), actions


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.inductor)])
@pytest.mark.parametrize("overrides", [{}, {"behavior.actor_grad_mix": 0.0}], ids=["reinforce", "dynamics"])
def test_a_compiled_update_equals_the_eager_one(monkeypatch, backend, overrides):
    calls = []

    def counting(graph, example_inputs):
        """`backend`, counting each run of the compiled code (Dynamo may silently run eager code)."""
        compiled = torch._dynamo.lookup_backend(backend)(graph, example_inputs)

        def run(*args):
            calls.append(1)
            return compiled(*args)
        return run

    monkeypatch.setattr(DreamerV2, "compile_backend", staticmethod(counting))
    torch._dynamo.reset()  # graphs of an earlier test's models would be reused: compile afresh
    counters = torch._dynamo.utils.counters
    counters.clear()
    batches = _batches(3)
    eager = _run(False, overrides, batches, monkeypatch)
    assert not calls
    compiled = _run(True, overrides, batches, monkeypatch)
    # Five graphs (world-model loss, actor loss with imagination, critic loss, acting in each
    # mode), no graph break: the whole update is captured, and every update (three graphs) and
    # every acting step ran compiled code.
    assert counters["stats"]["unique_graphs"] == 5 and not counters["graph_break"]
    assert len(calls) == 3 * len(batches) + 3
    tolerance = {"rtol": 1e-4, "atol": 1e-5} if backend == "inductor" else {"rtol": 1e-5, "atol": 1e-6}
    for update, (want, got) in enumerate(zip(eager[0], compiled[0])):
        assert want.keys() == got.keys()
        for key in want:
            assert torch.allclose(got[key], want[key], **tolerance), (update, key, got[key], want[key])
    assert eager[1].keys() == compiled[1].keys()  # checkpoints are the same either way
    for key in eager[1]:
        assert torch.allclose(compiled[1][key].float(), eager[1][key].float(), **tolerance), key
    for want, got in zip(eager[2], compiled[2]):
        assert torch.allclose(got.float(), want.float(), **tolerance)

