"""World model: encoder, RSSM, image decoder, reward and discount heads, one loss, one optimiser.

Loss (DreamerV2 Eq. 2 with the reference scales):
    image*(-log p(x|z,h)) + reward*(-log p(tanh r|z,h)) + discount*(-log p(gamma(1-term)|z,h))
    + beta * KL-balanced(post, prior)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from agent.dreamerv2.config import DreamerV2Config as Config
from agent.dreamerv2.distributions import bernoulli_log_prob, categorical_entropy, unit_normal_log_prob
from agent.dreamerv2.networks import MLP, ConvDecoder, ConvEncoder
from agent.dreamerv2.optim import Optimizer
from agent.dreamerv2.rssm import RSSM, LoopLayers, State


class WorldModel(nn.Module):
    """All world-model networks and their optimiser."""

    def __init__(self, config: Config, obs_shape: tuple[int, int, int], num_actions: int):
        super().__init__()
        model = config.model
        self.config = config
        channels, size, _ = obs_shape
        self.encoder = ConvEncoder(channels, size, model.cnn_depth)
        self.rssm = RSSM(model, self.encoder.embed_dim, num_actions)
        feat = self.rssm.feat_dim
        self.decoder = ConvDecoder(feat, channels, model.cnn_depth)
        self.reward_head = MLP(feat, 1, model.mlp_layers, model.mlp_units, zero_init_output=True)
        self.discount_head = MLP(feat, 1, model.mlp_layers, model.mlp_units)
        self.optimizer = Optimizer(self.parameters(), model.lr, model.eps, model.grad_clip, model.weight_decay)
        self._compiled_loss: Callable | None = None

    def reward(self, feat: torch.Tensor) -> torch.Tensor:
        """Mode of the reward head (in tanh-reward units): [..., F] -> [...]."""
        return self.reward_head(feat).squeeze(-1).float()

    def discount(self, feat: torch.Tensor) -> torch.Tensor:
        """Mean of the discount head (gamma * P(not terminal)): [..., F] -> [...]."""
        return torch.sigmoid(self.discount_head(feat).squeeze(-1).float())

    def loss(self, batch: dict[str, torch.Tensor], layers: LoopLayers | None = None,
             ) -> tuple[torch.Tensor, State, dict[str, torch.Tensor]]:
        """World-model loss of a batch (time-major, see DreamerV2.train_step).

        layers: the RSSM's loop layers (RSSM.observe). Returns (loss scalar, posterior states
        [T, B, ...], metrics as 0-d tensors).
        """
        obs = batch["obs"]
        steps, size = obs.shape[:2]
        embed = self.encoder(obs.flatten(0, 1)).reshape(steps, size, -1)
        post, prior_logits = self.rssm.observe(embed, batch["action"], batch["is_first"], layers=layers)
        feat = self.rssm.features(post)
        image_mean = self.decoder(feat.flatten(0, 1)).unflatten(0, (steps, size))
        loss, losses, kl_value = model_objective(
            self.config, image_mean, self.reward_head(feat).squeeze(-1), self.discount_head(feat).squeeze(-1),
            post["logits"], prior_logits, batch)
        metrics = {f"model/{k}_loss": v.detach() for k, v in losses.items()}
        metrics["model/kl"] = kl_value
        metrics["model/prior_entropy"] = _latent_entropy(prior_logits).detach()
        metrics["model/post_entropy"] = _latent_entropy(post["logits"]).detach()
        return loss, post, metrics

    def compile_update(self, compiler: Callable[[Callable], Callable]) -> None:
        """Compute the loss (forward, and the backward autograd builds from it) with
        `compiler(self.loss)` (a `torch.compile`) in `train_step`. The loop then uses the plain
        layers: the stepwise ones record into Python dicts in backward, which a compiler cannot
        trace, and a compiler schedules the per-step weight gradients itself."""
        self._compiled_loss = compiler(self.loss)

    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[State, dict[str, torch.Tensor]]:
        """One optimiser step on the world-model loss. Returns (detached posteriors, metrics)."""
        if self._compiled_loss is not None:
            loss, post, metrics = self._compiled_loss(batch)
            after_backward = None
        else:
            layers = self.rssm.loop_layers(stepwise=True)
            loss, post, metrics = self.loss(batch, layers)
            after_backward = layers.accumulate_grads
        metrics["model/loss"] = loss.detach()
        metrics["model/grad_norm"] = self.optimizer.step(loss, after_backward=after_backward)
        return {k: v.detach() for k, v in post.items()}, metrics


def _latent_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the latent categoricals [..., S, K], summed over S, averaged over the rest."""
    return categorical_entropy(logits).sum(-1).mean()


def model_objective(
    config: Config, image_mean: torch.Tensor, reward_mean: torch.Tensor, discount_logit: torch.Tensor,
    post_logits: torch.Tensor, prior_logits: torch.Tensor, batch: dict[str, torch.Tensor],
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """The world model's loss from its heads' outputs (DreamerV2 Eq. 2, the reference's scales).

    Every term is aligned on the replayed step t: the heads at the posterior of step t predict
    obs[t] (as obs/255 - 0.5, unit-variance Gaussian), tanh(reward[t]) (the reward received on
    arriving at obs[t]; unit-variance Gaussian) and gamma * (1 - is_terminal[t]) (Bernoulli, soft
    target); the KL is balanced between the step's posterior and prior.

    image_mean [T, B, C, H, W]; reward_mean, discount_logit [T, B]; post_logits, prior_logits
    [T, B, S, K]; batch as DreamerV2.train_step's. Returns (loss, the four unscaled losses,
    the mean KL for logging).
    """
    model = config.model
    image_target = batch["obs"].float() / 255.0 - 0.5
    image_ll = unit_normal_log_prob(image_mean, image_target, event_dims=3)
    reward_ll = unit_normal_log_prob(reward_mean, torch.tanh(batch["reward"]))
    discount_target = config.behavior.discount * (1.0 - batch["is_terminal"].float())
    discount_ll = bernoulli_log_prob(discount_logit, discount_target)
    kl_loss, kl_value = RSSM.kl_loss(post_logits, prior_logits, model.kl_balance, model.free_nats)
    losses = {"image": -image_ll.mean(), "reward": -reward_ll.mean(), "discount": -discount_ll.mean(), "kl": kl_loss}
    loss = (
        model.image_scale * losses["image"] + model.reward_scale * losses["reward"]
        + model.discount_scale * losses["discount"] + model.kl_scale * losses["kl"]
    )
    return loss, losses, kl_value
