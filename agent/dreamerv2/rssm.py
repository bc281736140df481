"""The recurrent state-space model with categorical latents (DreamerV2 Sec. 2).

    h_t = f(h_{t-1}, z_{t-1}, a_{t-1})     deterministic, a layer-normed GRU
    prior     p(z_t | h_t)                  32 categoricals x 32 classes
    posterior q(z_t | h_t, x_t)
    features  concat(flatten(z_t), h_t)     [..., stoch*classes + deter]

A state is a dict of tensors: `deter` [N, D], `stoch` [N, S, K] (one-hot samples),
`logits` [N, S, K].
"""

from __future__ import annotations

import torch
from torch import nn

from agent.dreamerv2.config import ModelConfig
from agent.dreamerv2.distributions import categorical_kl, onehot_mode, straight_through_onehot
from agent.dreamerv2.networks import LayerNormGRUCell, glorot_uniform_, keras_init_

State = dict[str, torch.Tensor]


class RSSM(nn.Module):
    """Reference layout: img_in Dense -> GRU -> img_out Dense -> prior logits;
    obs_out Dense over [h_t, embed] -> posterior logits. ELU, no norm outside the GRU."""

    def __init__(self, config: ModelConfig, embed_dim: int, num_actions: int):
        super().__init__()
        self.deter, self.stoch, self.classes = config.deter, config.stoch, config.classes
        latent = self.stoch * self.classes
        self.img_in = nn.Sequential(nn.Linear(latent + num_actions, config.hidden), nn.ELU(inplace=True))
        self.cell = LayerNormGRUCell(config.hidden, self.deter, layer_norm=config.gru_layer_norm)
        self.img_out = nn.Sequential(
            nn.Linear(self.deter, config.hidden), nn.ELU(inplace=True), nn.Linear(config.hidden, latent)
        )
        # The posterior's first layer is split so that the embedding part runs once for all
        # time steps (outside the sequential loop); the sum equals Dense([h, embed]).
        self.obs_deter = nn.Linear(self.deter, config.hidden)
        self.obs_embed = nn.Linear(embed_dim, config.hidden, bias=False)
        self.obs_out = nn.Sequential(nn.ELU(), nn.Linear(config.hidden, latent))
        keras_init_(self)
        # obs_deter + obs_embed are one Dense over [h, embed] in the reference: its glorot
        # bound uses the combined fan-in.
        for part in (self.obs_deter, self.obs_embed):
            glorot_uniform_(part.weight, self.deter + embed_dim, config.hidden)

    @property
    def feat_dim(self) -> int:
        """Size of the features concat(flatten(z), h)."""
        return self.stoch * self.classes + self.deter

    def initial(self, batch: int, device: torch.device) -> State:
        """All-zero state for `batch` sequences (the reference's initial state)."""
        zeros = torch.zeros(batch, self.stoch, self.classes, device=device)
        return {"deter": torch.zeros(batch, self.deter, device=device), "stoch": zeros, "logits": zeros}

    def features(self, state: State) -> torch.Tensor:
        """concat(flatten(stoch), deter): [..., S*K + D]."""
        stoch = state["stoch"]
        return torch.cat([stoch.reshape(*stoch.shape[:-2], -1), state["deter"]], -1)

    @staticmethod
    def _latent(logits: torch.Tensor, sample: bool) -> torch.Tensor:
        """One-hot latents [N, S, K] from logits [N, S, K]: a straight-through sample or the mode."""
        return straight_through_onehot(logits) if sample else onehot_mode(logits)

    def img_step(self, prev: State, prev_action: torch.Tensor, sample: bool = True) -> State:
        """Prior step: h_t = f(h_{t-1}, z_{t-1}, a_{t-1}), z_t ~ p(z_t | h_t).

        prev: state [N, ...]; prev_action one-hot [N, A]. Returns the prior state.
        """
        stoch = prev["stoch"].reshape(prev["stoch"].shape[0], -1)
        x = self.img_in(torch.cat([stoch, prev_action], -1))
        deter = self.cell(x, prev["deter"])
        logits = self.img_out(deter).reshape(-1, self.stoch, self.classes)
        return {"deter": deter, "stoch": self._latent(logits, sample), "logits": logits}

    def obs_step(
        self, prev: State, prev_action: torch.Tensor, embed_proj: torch.Tensor, is_first: torch.Tensor,
        sample: bool = True,
    ) -> tuple[State, State]:
        """Posterior step. The previous state and action are zeroed where `is_first`.

        embed_proj: `project_embed(embed)` [N, hidden]; is_first bool [N].
        Returns (posterior, prior).
        """
        keep = (~is_first).float().unsqueeze(-1)
        prev = {
            "deter": prev["deter"] * keep,
            "stoch": prev["stoch"] * keep.unsqueeze(-1),
            "logits": prev["logits"] * keep.unsqueeze(-1),
        }
        prior = self.img_step(prev, prev_action * keep, sample)
        logits = self.obs_out(self.obs_deter(prior["deter"]) + embed_proj)
        logits = logits.reshape(-1, self.stoch, self.classes)
        post = {"deter": prior["deter"], "stoch": self._latent(logits, sample), "logits": logits}
        return post, prior

    def project_embed(self, embed: torch.Tensor) -> torch.Tensor:
        """The embedding's share of the posterior's first layer: [..., E] -> [..., hidden]."""
        return self.obs_embed(embed)

    def observe(
        self, embed: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor, state: State | None = None
    ) -> tuple[State, State]:
        """Filter a sequence. embed [T, B, E], action [T, B, A] (a_{t-1}), is_first [T, B].

        Returns (posteriors, priors), each a state with a leading time axis [T, B, ...].
        """
        steps, batch = action.shape[:2]
        state = self.initial(batch, embed.device) if state is None else state
        proj = self.project_embed(embed)
        posts, priors = [], []
        for t in range(steps):
            state, prior = self.obs_step(state, action[t], proj[t], is_first[t])
            posts.append(state)
            priors.append(prior)
        stack = lambda states: {k: torch.stack([s[k] for s in states]) for k in states[0]}  # noqa: E731
        return stack(posts), stack(priors)

    def kl_loss(self, post: State, prior: State, balance: float, free: float) -> tuple[torch.Tensor, torch.Tensor]:
        """KL balancing: balance*KL(sg(post)||prior) + (1-balance)*KL(post||sg(prior)).

        Each term's batch mean is clipped below at `free` nats (the reference's free_avg).
        Returns (loss scalar, KL(post||prior) per element [...] for logging).
        """
        value = categorical_kl(post["logits"], prior["logits"])
        train_prior = categorical_kl(post["logits"].detach(), prior["logits"])
        train_post = categorical_kl(post["logits"], prior["logits"].detach())
        loss = balance * train_prior.mean().clamp(min=free) + (1 - balance) * train_post.mean().clamp(min=free)
        return loss, value
