"""Actor-critic learned in imagination (DreamerV2 Sec. 2.2), with the reference's alignment.

Imagination starts from every posterior state of the batch (T*B starts) and rolls the
prior H steps with actions from the actor:

    states   z_0 -> z_1 -> ... -> z_H          (z_0 from replay)
    actions  a_k sampled at z_k, stored at index k+1 (index 0 holds zeros)
    reward   r_k = reward head at z_k; discount d_k = discount head at z_k, except
             d_0 = gamma * (1 - is_terminal) of the replayed start state
    weight   w = cumprod([1, d_0, ..., d_{H-1}])   (d_k says whether z_{k+1} is valid)
    targets  T_0..T_{H-1} = lambda_return(r[:-1], v[:-1], d[:-1], bootstrap=v[H])
    critic   v(z_k) regressed onto T_k, k = 0..H-1, weighted by w_k
    actor    log pi(a_k|z_k) * sg(T_{k+1} - v_slow(z_k)) + eta * H[pi(.|z_k)], k = 0..H-2,
             weighted by w_k   (REINFORCE; rho mixes in T_{k+1} for dynamics backprop)
"""

from __future__ import annotations

import contextlib
import copy
from typing import Callable

import torch
from torch import nn

from agent.dreamerv2.config import DreamerV2Config as Config
from agent.dreamerv2.distributions import (
    categorical_entropy, onehot_log_prob, onehot_mode, sampling_noise, straight_through_onehot,
)
from agent.dreamerv2.networks import MLP
from agent.dreamerv2.stepwise import StepwiseMLP
from agent.dreamerv2.optim import Optimizer
from agent.dreamerv2.rssm import State
from agent.dreamerv2.world_model import WorldModel


def lambda_return(
    reward: torch.Tensor, value: torch.Tensor, discount: torch.Tensor, bootstrap: torch.Tensor, lambda_: float
) -> torch.Tensor:
    """TD(lambda) returns, time-major, with the reference implementation's alignment.

    reward, value, discount: [H, ...]; bootstrap: [...]. Returns [H, ...] with
        V_t = reward[t] + discount[t] * ((1 - lambda_) * value[t+1] + lambda_ * V_{t+1}),
    where value[H] and V_H are `bootstrap`. lambda_=1 gives Monte-Carlo returns
    bootstrapped at the end; lambda_=0 one-step TD targets.
    """
    next_values = torch.cat([value[1:], bootstrap.unsqueeze(0)], 0)
    inputs = reward + discount * next_values * (1 - lambda_)
    returns = []
    last = bootstrap
    for t in reversed(range(reward.shape[0])):
        last = torch.addcmul(inputs[t], discount[t], last, value=lambda_)
        returns.append(last)
    return torch.stack(returns[::-1], 0)


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Temporarily stop gradients from accumulating in `module`'s parameters."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def actor_objective(logits: torch.Tensor, action: torch.Tensor, target: torch.Tensor, value: torch.Tensor,
                    weight: torch.Tensor, rho: float, entropy_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's actor loss on one imagined trajectory (dreamerv2 agent.py `actor_loss`).

        actions       a_0   [a_1]  [a_2] ... a_H      (a_0: zeros, the start state's)
        states        [z_0]  [z_1]   z_2 ... z_H
        targets        t_0   [t_1]  [t_2] ...         (lambda returns, t_0..t_{H-1})
        baselines     [v_0]  [v_1]   v_2 ... v_H      (slow critic)
        weights       [w_0]  [w_1]   w_2 ... w_H
    The policy at z_{t} is scored on a_{t+1} with advantage t_{t+1} - v_t, weighted by w_t, for
    t = 0..H-2 (the last state has no target, the one before it no action that leads anywhere).

    Args (time-major): logits [H, N, A] (the actor at z_0..z_{H-1}, with gradient); action [H+1, N, A]
      one-hot; target [H, N]; value [H+1, N]; weight [H+1, N]; rho: the REINFORCE share (1 - rho
      backpropagates the target through the dynamics); entropy_scale: the entropy bonus.
    Returns:
      (loss, entropy [H-1, N]).
    """
    logits = logits[:-1]
    advantage = (target[1:] - value[:-2]).detach()
    objective = rho * onehot_log_prob(logits, action[1:-1]) * advantage
    if rho < 1.0:
        objective = objective + (1 - rho) * target[1:]
    entropy = categorical_entropy(logits)
    objective = objective + entropy_scale * entropy
    return -(weight[:-2] * objective).mean(), entropy


def critic_regression(critic_value: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The reference's critic loss: 0.5 (v(z_t) - sg(t_t))^2 weighted by w_t, t = 0..H-1, averaged.

    critic_value [H, N]: the critic at z_0..z_{H-1}; target [H, N]; weight [H+1, N].
    """
    return (0.5 * (critic_value - target.detach()) ** 2 * weight[:-1]).mean()


class ActorCritic(nn.Module):
    """Actor (categorical over actions), critic, slow critic, and their optimisers."""

    def __init__(self, config: Config, feat_dim: int, num_actions: int):
        super().__init__()
        self.config = config
        cfg = config.behavior
        self.actor = MLP(feat_dim, num_actions, cfg.mlp_layers, cfg.mlp_units)
        self.critic = MLP(feat_dim, 1, cfg.mlp_layers, cfg.mlp_units)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        model = config.model
        self.actor_opt = Optimizer(self.actor.parameters(), cfg.actor_lr, model.eps, model.grad_clip, model.weight_decay)
        self.critic_opt = Optimizer(self.critic.parameters(), cfg.critic_lr, model.eps, model.grad_clip, model.weight_decay)
        # The count of updates: a Python int for the slow-critic schedule (reading a device
        # counter would stop the GPU every update), mirrored into a buffer for checkpoints.
        self.update_count = 0
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))
        self._actor_loss: Callable | None = None
        self._critic_loss: Callable | None = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if prefix + "updates" in state_dict:
            self.update_count = int(state_dict[prefix + "updates"])

    def act(self, feat: torch.Tensor, mode: str) -> torch.Tensor:
        """One-hot actions [N, A] from features [N, F]: sampled ('sample') or greedy ('mode')."""
        logits = self.actor(feat)
        return straight_through_onehot(logits) if mode == "sample" else onehot_mode(logits)

    def imagine(self, world_model: WorldModel, start: State, is_terminal: torch.Tensor,
                actor: StepwiseMLP | None = None) -> dict[str, torch.Tensor]:
        """Roll the prior H steps from `start` ([N, ...] states) with actor samples.

        actor: `self.actor.stepwise()` for a training step (call its `accumulate_grads()` after
        backward); the actor itself by default.

        Returns `feat` [H+1, N, F], `action` [H+1, N, A], `reward`, `discount`, `weight` [H+1, N],
        and `logits` [H, N, A]: the actor's logits at z_0..z_{H-1}, recorded with gradients
        even under no_grad, so that the actor loss reuses them instead of a second forward.
        """
        cfg = self.config.behavior
        rssm = world_model.rssm
        actor = actor or self.actor
        state = start
        feats = [rssm.features(state)]
        starts, device = feats[0].shape[0], feats[0].device
        actions = [torch.zeros(starts, self.actor.out.out_features, device=device)]
        # All the sampling noise at once, so that the loop draws nothing.
        action_noise = sampling_noise((cfg.horizon, starts), device).unbind(0)
        latent_noise = sampling_noise((cfg.horizon, starts, rssm.stoch), device).unbind(0)
        layers = rssm.loop_layers()
        logits = []
        for k in range(cfg.horizon):
            with torch.enable_grad():
                logits.append(actor(feats[-1].detach()))
            # Outside enable_grad: the sample carries a gradient only for dynamics backprop.
            action = straight_through_onehot(logits[-1], action_noise[k])
            state = rssm.img_step(state, action, uniform=latent_noise[k], layers=layers)
            feats.append(rssm.features(state))
            actions.append(action)
        feat = torch.stack(feats)
        discount = world_model.discount(feat)
        first = cfg.discount * (1.0 - is_terminal.float())
        discount = torch.cat([first.unsqueeze(0), discount[1:]], 0)
        weight = torch.cumprod(torch.cat([torch.ones_like(discount[:1]), discount[:-1]], 0), 0).detach()
        with torch.enable_grad():
            logits = torch.stack(logits)
        return {
            "feat": feat, "action": torch.stack(actions), "reward": world_model.reward(feat),
            "discount": discount, "weight": weight, "logits": logits,
        }

    def finish_update(self) -> None:
        """After the critic step: the slow critic's schedule and the update count (host-side
        decisions, kept out of `train_step` so that it is the same kernels every update)."""
        if self.update_count % self.config.behavior.slow_critic_update == 0:
            self.slow_critic.load_state_dict(self.critic.state_dict())
        self.update_count += 1
        self.updates.fill_(self.update_count)

    def compile_update(self, compiler: Callable[[Callable], Callable]) -> None:
        """Compute the actor's loss (imagination included) and the critic's with `compiler(...)`
        (a `torch.compile`) in `train_step`; the actor then runs as a plain module in the loop
        (see WorldModel.compile_update)."""
        self._actor_loss = compiler(self.actor_loss)
        self._critic_loss = compiler(self.critic_loss)

    def actor_loss(self, world_model: WorldModel, start: State, is_terminal: torch.Tensor,
                   actor: StepwiseMLP | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Imagine from `start` ([N, ...] detached states) and score the actor on it.

        is_terminal [N] of the start states; actor: as in `imagine`. Call with the world model
        frozen. Returns (actor loss, `seq`: the imagined `feat` [H+1, N, F] (no gradient),
        `target` [H, N], `weight` [H+1, N], `reward`, `discount` and the actor's `entropy` [H-1, N]).
        """
        cfg = self.config.behavior
        rho = cfg.actor_grad_mix
        # With pure REINFORCE (rho = 1) nothing needs gradients through imagination.
        grad_ctx = torch.no_grad() if rho == 1.0 else contextlib.nullcontext()
        with grad_ctx:
            seq = self.imagine(world_model, start, is_terminal, actor)
            value = self.slow_critic(seq["feat"]).squeeze(-1).float()
            target = lambda_return(seq["reward"][:-1], value[:-1], seq["discount"][:-1], value[-1], cfg.lambda_)
        loss, entropy = actor_objective(seq["logits"], seq["action"], target, value, seq["weight"], rho,
                                        cfg.actor_entropy)
        return loss, {"feat": seq["feat"].detach(), "target": target, "weight": seq["weight"],
                      "reward": seq["reward"], "discount": seq["discount"], "entropy": entropy}

    def critic_loss(self, feat: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The critic's regression on imagined features [H+1, N, F] (no gradient), targets [H, N]
        and weights [H+1, N]. Returns (loss, the critic's values [H, N])."""
        value = self.critic(feat[:-1]).squeeze(-1).float()
        return critic_regression(value, target, weight), value

    def train_step(self, world_model: WorldModel, post: State, is_terminal: torch.Tensor) -> dict[str, torch.Tensor]:
        """Actor step then critic step on one imagined batch from posteriors [T, B, ...]; call
        `finish_update` after it.

        is_terminal: [T, B] of the replayed start states. Returns metrics (0-d tensors).
        """
        start = {k: v.detach().flatten(0, 1) for k, v in post.items()}
        actor = None if self._actor_loss is not None else self.actor.stepwise()
        with frozen(world_model):
            actor_loss, seq = (self._actor_loss or self.actor_loss)(world_model, start, is_terminal.flatten(0, 1),
                                                                   actor)
        actor_norm = self.actor_opt.step(actor_loss, after_backward=actor.accumulate_grads if actor else None)
        critic_loss, critic_value = (self._critic_loss or self.critic_loss)(seq["feat"], seq["target"], seq["weight"])
        critic_norm = self.critic_opt.step(critic_loss)

        return {
            "actor/loss": actor_loss.detach(),
            "actor/entropy": seq["entropy"].mean().detach(),
            "actor/grad_norm": actor_norm,
            "critic/loss": critic_loss.detach(),
            "critic/value": critic_value.mean().detach(),
            "critic/target": seq["target"].mean().detach(),
            "critic/grad_norm": critic_norm,
            "imagine/reward": seq["reward"].mean().detach(),
            "imagine/discount": seq["discount"].mean().detach(),
        }
