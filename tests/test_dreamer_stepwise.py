"""The fewer-ops DreamerV2 update computes the same function (issue 10, item 3).

- StepwiseLinear / StepwiseLayerNorm give autograd's own gradients, for inputs and parameters.
- A world-model step with the stepwise layers equals one with the plain modules.
- The filter's batched prior head, the folded update-gate bias and the one-op GRU blend equal
  the reference's per-step formulas, written out here.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from agent.config import resolve_config
from agent.dreamerv2.dreamer import DreamerV2
from agent.dreamerv2.networks import LayerNormGRUCell
from agent.dreamerv2.stepwise import StepwiseLayerNorm, StepwiseLinear

from tests.test_model import _batch


def _grads(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


def test_stepwise_layers_give_autograd_gradients() -> None:
    """A 5-step recurrence through a Linear (own bias), a Linear fed a precomputed base, a
    bias-free Linear and a LayerNorm with an offset; step 2's output gets no gradient."""
    torch.manual_seed(0)
    model = nn.ModuleDict({
        "a": nn.Linear(6, 4), "b": nn.Linear(4, 4), "c": nn.Linear(4, 4, bias=False), "norm": nn.LayerNorm(4),
    })
    with torch.no_grad():  # non-trivial norm parameters
        model["norm"].weight.uniform_(0.5, 1.5)
        model["norm"].bias.uniform_(-0.5, 0.5)
    offset = torch.tensor([0.0, 0.0, -1.0, 0.5])
    xs = torch.randn(5, 3, 6)
    base = torch.randn(5, 3, 4, requires_grad=True)

    def run(a, b, c, norm):
        h, outs = torch.zeros(3, 4), []
        for t in range(5):
            h = torch.tanh(norm(a(xs[t]) + b(h, base[t]) + c(h)))
            outs.append(h if t != 2 else h.detach())
        return torch.stack(outs).pow(2).sum()

    plain_norm = lambda x: model["norm"](x) + offset  # noqa: E731
    plain_b = lambda h, base_t: torch.addmm(base_t, h, model["b"].weight.t())  # noqa: E731
    run(model["a"], plain_b, model["c"], plain_norm).backward()
    expected, expected_base = _grads(model), base.grad.clone()
    # The caller of a `base` folds the bias in, so b's bias gets no gradient from the loop.
    assert "b.bias" not in expected
    model.zero_grad(set_to_none=True)
    base.grad = None

    layers = [StepwiseLinear(model["a"]), StepwiseLinear(model["b"]), StepwiseLinear(model["c"]),
              StepwiseLayerNorm(model["norm"], offset=offset)]
    loss = run(*layers)
    assert all(p.grad is None for p in model.parameters())  # nothing until accumulated
    loss.backward()
    for layer in layers:
        layer.accumulate_grads()
    got = _grads(model)
    assert got.keys() == expected.keys()
    for name in expected:
        assert torch.allclose(got[name], expected[name], rtol=1e-5, atol=1e-6), name
    assert torch.allclose(base.grad, expected_base, rtol=1e-5, atol=1e-6)


def test_stepwise_linear_refuses_mixing_base_and_bias() -> None:
    layer = StepwiseLinear(nn.Linear(2, 2))
    layer(torch.ones(1, 2))
    with pytest.raises(ValueError, match="always or never"):
        layer(torch.ones(1, 2), torch.zeros(1, 2))


def test_a_world_model_step_equals_the_plain_modules() -> None:
    torch.manual_seed(0)
    config = resolve_config(["debug"])
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    wm = model.world_model
    batch = _batch(config, 6, 2, 3)
    batch["is_first"][3, 1] = True  # an episode starting mid-sequence

    results = []
    for stepwise in (False, True):
        torch.manual_seed(1)  # the same sampling noise
        wm.zero_grad(set_to_none=True)
        layers = wm.rssm.loop_layers(stepwise=stepwise)
        loss, post, _ = wm.loss(batch, layers)
        loss.backward()
        layers.accumulate_grads()
        results.append((loss.detach(), post["stoch"], _grads(wm)))
    (loss_a, stoch_a, grads_a), (loss_b, stoch_b, grads_b) = results
    assert torch.equal(loss_a, loss_b) and torch.equal(stoch_a, stoch_b)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) == len(list(wm.parameters()))
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], rtol=1e-4, atol=1e-6), name


def test_the_filter_is_the_reference_recurrence_step_by_step() -> None:
    """observe() against the reference's per-step formulas: the GRU with its update bias of -1
    and blend u * cand + (1 - u) * h, the state and action zeroed where an episode starts, the
    posterior from Dense([h, embed]), and the prior head on every h_t."""
    torch.manual_seed(0)
    config = resolve_config(["debug"])
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    rssm = model.world_model.rssm
    with torch.no_grad():  # non-trivial biases and norm parameters everywhere
        for name, param in rssm.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.uniform_(-0.5, 0.5)
    steps, size = 5, 3
    embed = torch.randn(steps, size, rssm.obs_embed.in_features)
    action = torch.nn.functional.one_hot(torch.randint(0, 3, (steps, size)), 3).float()
    is_first = torch.zeros(steps, size, dtype=torch.bool)
    is_first[0] = True
    is_first[2, 1] = True
    torch.manual_seed(5)
    post, prior_logits = rssm.observe(embed, action, is_first)

    cell, elu = rssm.cell, torch.nn.functional.elu
    deter = torch.zeros(size, rssm.deter)
    stoch = torch.zeros(size, rssm.stoch * rssm.classes)
    for t in range(steps):
        keep = (~is_first[t]).float()[:, None]
        deter, stoch = deter * keep, stoch * keep
        x = elu(rssm.img_in[0](torch.cat([stoch, action[t] * keep], -1)))
        parts = cell.norm(cell.linear(torch.cat([x, deter], -1)))
        reset, cand, update = parts.chunk(3, -1)
        cand = torch.tanh(torch.sigmoid(reset) * cand)
        update = torch.sigmoid(update - 1.0)
        deter = update * cand + (1 - update) * deter
        hidden = elu(rssm.obs_deter(deter) + rssm.obs_embed(embed[t]))
        logits = rssm.obs_out[1](hidden)
        prior = rssm.img_out(deter)
        assert torch.allclose(post["deter"][t], deter, atol=1e-5), t
        assert torch.allclose(post["logits"][t].flatten(-2), logits, atol=1e-5), t
        assert torch.allclose(prior_logits[t].flatten(-2), prior, atol=1e-5), t
        stoch = post["stoch"][t].flatten(-2)  # the sample the filter drew
        assert torch.equal(stoch.sum(-1), torch.full((size,), float(rssm.stoch)))


def test_the_gru_cell_is_the_reference_cell_without_a_norm_too() -> None:
    torch.manual_seed(0)
    cell = LayerNormGRUCell(4, 3, layer_norm=False)
    x, h = torch.randn(2, 4), torch.randn(2, 3)
    reset, cand, update = cell.linear(torch.cat([x, h], -1)).chunk(3, -1)
    update = torch.sigmoid(update - 1.0)
    expected = update * torch.tanh(torch.sigmoid(reset) * cand) + (1 - update) * h
    assert torch.allclose(cell(x, h), expected, atol=1e-6)
