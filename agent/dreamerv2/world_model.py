"""World model: encoder, RSSM, image decoder, reward and discount heads, one loss, one optimiser.

Loss (DreamerV2 Eq. 2 with the reference scales):
    image*(-log p(x|z,h)) + reward*(-log p(tanh r|z,h)) + discount*(-log p(gamma(1-term)|z,h))
    + beta * KL-balanced(post, prior)
"""

from __future__ import annotations

import torch
from torch import nn

from agent.dreamerv2.config import DreamerV2Config as Config
from agent.dreamerv2.distributions import bernoulli_log_prob, categorical_entropy, unit_normal_log_prob
from agent.dreamerv2.networks import MLP, ConvDecoder, ConvEncoder
from agent.dreamerv2.optim import Optimizer
from agent.dreamerv2.rssm import RSSM, State


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

    def reward(self, feat: torch.Tensor) -> torch.Tensor:
        """Mode of the reward head (in tanh-reward units): [..., F] -> [...]."""
        return self.reward_head(feat).squeeze(-1).float()

    def discount(self, feat: torch.Tensor) -> torch.Tensor:
        """Mean of the discount head (gamma * P(not terminal)): [..., F] -> [...]."""
        return torch.sigmoid(self.discount_head(feat).squeeze(-1).float())

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, State, dict[str, torch.Tensor]]:
        """World-model loss of a batch (time-major, see DreamerV2.train_step).

        Returns (loss scalar, posterior states [T, B, ...], metrics as 0-d tensors).
        """
        model = self.config.model
        obs = batch["obs"]
        steps, size = obs.shape[:2]
        embed = self.encoder(obs.flatten(0, 1)).reshape(steps, size, -1)
        post, prior = self.rssm.observe(embed, batch["action"], batch["is_first"])
        kl_loss, kl_value = self.rssm.kl_loss(post, prior, model.kl_balance, model.free_nats)
        feat = self.rssm.features(post)

        image_mean = self.decoder(feat.flatten(0, 1))
        image_target = obs.flatten(0, 1).float() / 255.0 - 0.5
        image_ll = unit_normal_log_prob(image_mean, image_target, event_dims=3)
        reward_ll = unit_normal_log_prob(self.reward_head(feat).squeeze(-1), torch.tanh(batch["reward"]))
        discount_target = self.config.behavior.discount * (1.0 - batch["is_terminal"].float())
        discount_ll = bernoulli_log_prob(self.discount_head(feat).squeeze(-1), discount_target)

        losses = {
            "image": -image_ll.mean(),
            "reward": -reward_ll.mean(),
            "discount": -discount_ll.mean(),
            "kl": kl_loss,
        }
        loss = (
            model.image_scale * losses["image"] + model.reward_scale * losses["reward"]
            + model.discount_scale * losses["discount"] + model.kl_scale * losses["kl"]
        )
        metrics = {f"model/{k}_loss": v.detach() for k, v in losses.items()}
        metrics["model/kl"] = kl_value.mean().detach()
        metrics["model/prior_entropy"] = _latent_entropy(prior["logits"]).detach()
        metrics["model/post_entropy"] = _latent_entropy(post["logits"]).detach()
        return loss, post, metrics

    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[State, dict[str, torch.Tensor]]:
        """One optimiser step on the world-model loss. Returns (detached posteriors, metrics)."""
        loss, post, metrics = self.loss(batch)
        metrics["model/loss"] = loss.detach()
        metrics["model/grad_norm"] = self.optimizer.step(loss)
        return {k: v.detach() for k, v in post.items()}, metrics


def _latent_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the latent categoricals [..., S, K], summed over S, averaged over the rest."""
    return categorical_entropy(logits).sum(-1).mean()
