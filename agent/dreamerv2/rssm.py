"""The recurrent state-space model with categorical latents (DreamerV2 Sec. 2).

    h_t = f(h_{t-1}, z_{t-1}, a_{t-1})     deterministic, a layer-normed GRU
    prior     p(z_t | h_t)                  32 categoricals x 32 classes
    posterior q(z_t | h_t, x_t)
    features  concat(flatten(z_t), h_t)     [..., stoch*classes + deter]

A state is a dict of tensors: `deter` [N, D], `stoch` [N, S, K] (one-hot samples),
`logits` [N, S, K].
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from agent.dreamerv2.config import ModelConfig
from agent.dreamerv2.distributions import categorical_kl, onehot_mode, sampling_noise, straight_through_onehot
from agent.dreamerv2.networks import LayerNormGRUCell, LinearFn, glorot_uniform_, keras_init_
from agent.dreamerv2.stepwise import Stepwise, StepwiseLayerNorm, StepwiseLinear

State = dict[str, torch.Tensor]


@dataclasses.dataclass
class LoopLayers:
    """The RSSM's layers that run once per step, as a loop calls them: the modules themselves, or
    Stepwise wrappers (then call `accumulate_grads()` after backward)."""

    img_in: LinearFn
    gru: LinearFn
    gru_norm: Callable[[torch.Tensor], torch.Tensor]  # the cell's gated_norm
    obs_deter: LinearFn
    obs_out: LinearFn

    def accumulate_grads(self) -> None:
        """Add the recorded parameter gradients of the stepwise layers into `.grad`."""
        for layer in (self.img_in, self.gru, self.gru_norm, self.obs_deter, self.obs_out):
            if isinstance(layer, Stepwise):
                layer.accumulate_grads()


def _plain(layer: nn.Linear) -> LinearFn:
    """`layer` with LinearFn's signature: x W^T + b, or x W^T + base."""
    return lambda x, base=None: layer(x) if base is None else torch.addmm(base, x, layer.weight.t())


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
    def _latent(logits: torch.Tensor, sample: bool, uniform: torch.Tensor | None = None) -> torch.Tensor:
        """One-hot latents [N, S, K] from logits [N, S, K]: a straight-through sample (with
        `uniform` [N, S, 1] when given) or the mode."""
        return straight_through_onehot(logits, uniform) if sample else onehot_mode(logits)

    def loop_layers(self, stepwise: bool = False) -> LoopLayers:
        """The per-step layers, plain or stepwise (StepwiseLinear, StepwiseLayerNorm; one set per loop)."""
        wrap = StepwiseLinear if stepwise else _plain
        cell = self.cell
        if stepwise and isinstance(cell.norm, nn.LayerNorm):
            norm = StepwiseLayerNorm(cell.norm, offset=cell.gate_bias)
        else:
            norm = cell.gated_norm()
        return LoopLayers(wrap(self.img_in[0]), wrap(self.cell.linear), norm, wrap(self.obs_deter), wrap(self.obs_out[1]))

    def _recurrent(self, layers: LoopLayers, stoch: torch.Tensor, action: torch.Tensor, deter: torch.Tensor,
                   keep: torch.Tensor | None = None) -> torch.Tensor:
        """h_t = f(h_{t-1}, z_{t-1}, a_{t-1}): stoch [N, S, K], action [N, A], deter [N, D] -> [N, D].

        keep [N, 1]: 0 where the step starts an episode (the previous state and action are zeroed).
        """
        x = torch.cat([stoch.flatten(-2), action], -1)
        if keep is not None:
            x, deter = x * keep, deter * keep
        return self.cell(F.elu(layers.img_in(x)), deter, layers.gru, layers.gru_norm)

    def prior_logits(self, deter: torch.Tensor) -> torch.Tensor:
        """Logits of p(z_t | h_t): deter [..., D] -> [..., S, K]."""
        return self.img_out(deter).unflatten(-1, (self.stoch, self.classes))

    def _posterior_logits(self, layers: LoopLayers, deter: torch.Tensor, embed_proj: torch.Tensor) -> torch.Tensor:
        """Logits of q(z_t | h_t, x_t): deter [N, D], embed_proj [N, hidden] -> [N, S, K]."""
        hidden = F.elu(layers.obs_deter(deter, embed_proj))
        return layers.obs_out(hidden).unflatten(-1, (self.stoch, self.classes))

    def img_step(self, prev: State, prev_action: torch.Tensor, sample: bool = True,
                 uniform: torch.Tensor | None = None, layers: LoopLayers | None = None) -> State:
        """Prior step: h_t = f(h_{t-1}, z_{t-1}, a_{t-1}), z_t ~ p(z_t | h_t).

        prev: state [N, ...]; prev_action one-hot [N, A]; uniform: sampling noise [N, S, 1] or None;
        layers: `loop_layers()` made once for a loop of steps (made here by default).
        Returns the prior state.
        """
        deter = self._recurrent(layers or self.loop_layers(), prev["stoch"], prev_action, prev["deter"])
        logits = self.prior_logits(deter)
        return {"deter": deter, "stoch": self._latent(logits, sample, uniform), "logits": logits}

    def obs_step(
        self, prev: State, prev_action: torch.Tensor, embed_proj: torch.Tensor, is_first: torch.Tensor,
        sample: bool = True,
    ) -> State:
        """Posterior step (acting). The previous state and action are zeroed where `is_first`.

        embed_proj: `project_embed(embed)` [N, hidden]; is_first bool [N]. Returns the posterior.
        """
        layers = self.loop_layers()
        keep = (~is_first).to(prev["deter"].dtype).unsqueeze(-1)
        deter = self._recurrent(layers, prev["stoch"], prev_action, prev["deter"], keep)
        logits = self._posterior_logits(layers, deter, embed_proj)
        return {"deter": deter, "stoch": self._latent(logits, sample), "logits": logits}

    def project_embed(self, embed: torch.Tensor) -> torch.Tensor:
        """The embedding's share of the posterior's first layer, with that layer's bias:
        [..., E] -> [..., hidden]."""
        return self.obs_embed(embed) + self.obs_deter.bias

    def observe(
        self, embed: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor, state: State | None = None,
        layers: LoopLayers | None = None,
    ) -> tuple[State, torch.Tensor]:
        """Filter a sequence. embed [T, B, E], action [T, B, A] (a_{t-1}), is_first [T, B].

        layers: `loop_layers(stepwise=True)` for a training step (call its `accumulate_grads()`
        after backward); the plain layers by default.
        Returns (posteriors, prior logits): a state with a leading time axis [T, B, ...] and
        [T, B, S, K]. Only the recurrence and the posterior run step by step; what needs no
        step's result (the embedding's projection, the masks, the sampling noise, the prior head
        over all h_t) runs once for the whole sequence.
        """
        steps, batch = action.shape[:2]
        layers = layers or self.loop_layers()
        state = self.initial(batch, embed.device) if state is None else state
        keep = (~is_first).to(embed.dtype).unsqueeze(-1)  # [T, B, 1]
        uniforms = sampling_noise((steps, batch, self.stoch), embed.device)
        # unbind: one backward op for all steps, where indexing proj[t] would add one per step.
        projs = self.project_embed(embed).unbind(0)
        deter, stoch = state["deter"], state["stoch"]
        deters, stochs, logits = [], [], []
        for t in range(steps):
            deter = self._recurrent(layers, stoch, action[t], deter, keep[t])
            logits.append(self._posterior_logits(layers, deter, projs[t]))
            stoch = straight_through_onehot(logits[-1], uniforms[t])
            deters.append(deter)
            stochs.append(stoch)
        deter = torch.stack(deters)
        post = {"deter": deter, "stoch": torch.stack(stochs), "logits": torch.stack(logits)}
        return post, self.prior_logits(deter)

    @staticmethod
    def kl_loss(post_logits: torch.Tensor, prior_logits: torch.Tensor, balance: float,
                free: float) -> tuple[torch.Tensor, torch.Tensor]:
        """KL balancing: balance*KL(sg(post)||prior) + (1-balance)*KL(post||sg(prior)).

        post_logits, prior_logits [..., S, K]. Each term's batch mean is clipped below at `free`
        nats (the reference's free_avg). Returns (loss scalar, the mean KL(post||prior), detached,
        for logging: the value of either term).
        """
        train_prior = categorical_kl(post_logits.detach(), prior_logits)
        train_post = categorical_kl(post_logits, prior_logits.detach())
        kl = train_prior.mean()
        loss = balance * kl.clamp(min=free) + (1 - balance) * train_post.mean().clamp(min=free)
        return loss, kl.detach()
