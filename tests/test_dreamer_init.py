"""DreamerV2's initialisation is the reference's (Keras defaults): glorot-uniform kernels and
zero biases in every Dense, Conv2D, Conv2DTranspose and the GRU's Dense; the split posterior
layer uses the bound of the one Dense it stands for; the reward output stays zero."""

from __future__ import annotations

import math

import torch
from torch import nn

from agent.config import resolve_config
from agent.dreamerv2.dreamer import DreamerV2


def _fans(layer: nn.Module) -> tuple[int, int]:
    weight = layer.weight
    if isinstance(layer, nn.Linear):
        return weight.shape[1], weight.shape[0]
    area = weight[0, 0].numel()
    if isinstance(layer, nn.ConvTranspose2d):  # torch [in, out, k, k]
        return weight.shape[0] * area, weight.shape[1] * area
    return weight.shape[1] * area, weight.shape[0] * area


def test_every_layer_is_glorot_uniform_with_zero_bias() -> None:
    torch.manual_seed(0)
    config = resolve_config(["atari100k"])  # full size: the statistics are tight
    model = DreamerV2(config, (1, 64, 64), 6, torch.device("cpu"))
    rssm = model.world_model.rssm
    split = {id(rssm.obs_deter), id(rssm.obs_embed)}
    zero = {id(model.world_model.reward_head.out)}
    checked = 0
    for name, layer in model.named_modules():
        if not isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            continue
        if layer.bias is not None:
            assert torch.count_nonzero(layer.bias) == 0, name
        weight = layer.weight.detach()
        if id(layer) in zero:
            assert torch.count_nonzero(weight) == 0, name
            continue
        fan_in, fan_out = _fans(layer)
        if id(layer) in split:  # one Dense over [h, embed]
            fan_in = rssm.deter + rssm.obs_embed.in_features
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert weight.abs().max() <= bound * (1 + 1e-6), name
        # uniform on [-b, b]: std b / sqrt(3); with >= 1,000 weights the estimate is within 5%
        if weight.numel() >= 1000:
            assert abs(weight.std().item() / (bound / math.sqrt(3)) - 1) < 0.05, name
        checked += 1
    assert checked >= 20
    for norm in (m for m in model.modules() if isinstance(m, nn.LayerNorm)):
        assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


def test_actor_and_critic_outputs_are_not_shrunk_at_init() -> None:
    """torch's default init made the actor's logits ~8x smaller than the reference's (issue 10)."""
    torch.manual_seed(0)
    config = resolve_config(["atari100k"])
    model = DreamerV2(config, (1, 64, 64), 6, torch.device("cpu"))
    features = torch.randn(512, model.world_model.rssm.feat_dim)
    logits = model.behavior.actor(features)
    value = model.behavior.critic(features)
    assert logits.std().item() > 0.15 and value.std().item() > 0.15
