"""DER and IQN behind the shared run loop: frame stacks, exploration, replay, update cadence.

Both follow Dopamine's `JaxDQNAgent` loop (docs/dopamine_settings.md, A4-A6):
- Acting: the 4 newest frames (zeros before the episode's first; a lost life starts a new
  stack, as Dopamine's agent resets its state on every terminal); epsilon-greedy with
  `linearly_decaying_epsilon` (1 until min_replay, then linear to epsilon_train over
  epsilon_decay_steps), except with noisy nets, where the 2021 code of the published runs acts
  with a constant epsilon_train (`identity_epsilon`; Dopamine since Nov 2022: `zero_epsilon`, the
  `epsilon0` preset; `der.noisy_epsilon`); noise is
  resampled at every step while training and off in evaluation (eps_eval-greedy).
- Per agent step (`_train_step`): after the transition is stored, if the replay holds more
  than min_replay transitions, one update when training_steps % update_period == 0 and a
  target sync when training_steps % target_update_period == 0; then training_steps += 1.
- Rewards are clipped to [-1, 1] before storage (the run's logged returns stay raw).
The reset step of our env (the step after an episode's last, whose action is ignored) stores
nothing but counts as an agent step, like every step of the suite.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from agent.cuda_graph import GraphedStep
from agent.device import load_optimizer_state
from agent.dqn.config import DERConfig, IQNConfig
from agent.dqn.losses import project_distribution, quantile_huber_loss
from agent.dqn.networks import ImplicitQuantileNetwork, RainbowNetwork
from agent.dqn.replay import TransitionReplay
from agent.evaluate import derive_seed


def push_frames(stack: torch.Tensor, obs: torch.Tensor, restart: torch.Tensor) -> torch.Tensor:
    """Shift `obs` [N, 1, H, W] into frame stacks [N, S, H, W]; rows with `restart` [N] start from zeros."""
    kept = stack[:, 1:] * (~restart).to(stack.dtype)[:, None, None, None]
    return torch.cat([kept, obs.to(stack.dtype)], dim=1)


class ValuePolicy:
    """Evaluation policy of a value learner: eps_eval-greedy on the online net, noise off."""

    restart_on_life_loss = True  # Dopamine resets the frame stack on every terminal, eval included

    def __init__(self, learner: "ValueLearner") -> None:
        self.learner = learner

    def initial_state(self, batch_size: int) -> torch.Tensor:
        learner = self.learner
        return torch.zeros(batch_size, learner.cfg.stack, *learner.frame_shape, dtype=torch.uint8,
                           device=learner.device)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, is_first: torch.Tensor, state: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        learner = self.learner
        state = push_frames(state, obs.to(learner.device), is_first.to(learner.device))
        greedy = learner.q_values(state, noise=False).argmax(-1).cpu()
        n = greedy.shape[0]
        explore = torch.rand(n) <= learner.cfg.epsilon_eval
        random_actions = torch.randint(0, learner.num_actions, (n,))
        return torch.where(explore, random_actions, greedy), state


class ValueLearner:
    """What DER and IQN share; subclasses give the network (`_network`), Q-values and the loss."""

    def __init__(self, config: DERConfig | IQNConfig, obs_shape: tuple[int, int, int], num_actions: int,
                 num_envs: int, device: torch.device, seed: int) -> None:
        self.config, self.cfg = config, config.learner
        self.num_actions, self.num_envs, self.device = num_actions, num_envs, device
        self.frame_shape = tuple(obs_shape[1:])
        self.online = self._network().to(device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        graphs = config.train.cuda_graphs and device.type == "cuda"
        # Fused Adam: one pass over the ~9M parameters instead of ~10 (2-8x faster on a CPU);
        # capturable (step counters on the device) when the update is a CUDA graph.
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=self.cfg.lr, eps=self.cfg.adam_eps,
                                          fused=device.type in ("cpu", "cuda"), capturable=graphs)
        self._learn = GraphedStep(self._learn_step, device, graphs, name="the update")
        self._greedy = GraphedStep(self._greedy_step, device, graphs, name="the acting step")
        # One row per agent step at most: the replay holds the whole run.
        self.replay = TransitionReplay(config.train.steps + 1, self.frame_shape, self.cfg.stack, self.cfg.n_step,
                                       self.cfg.gamma, self.cfg.prioritized, seed=derive_seed(seed, 0, 3))
        self.rng = np.random.default_rng(derive_seed(seed, 0, 5))  # exploration draws
        self.stack = np.zeros((num_envs, self.cfg.stack, *self.frame_shape), np.uint8)
        self.restart = np.ones(num_envs, bool)  # start a new stack at the next act
        self.training_steps = 0
        self.updates = 0
        self.policy = ValuePolicy(self)
        self._discount = self.cfg.gamma ** self.cfg.n_step  # Dopamine's cumulative_gamma

    # ------------------------------------------------------------ subclass hooks
    def _network(self) -> torch.nn.Module:
        raise NotImplementedError

    def q_values(self, states: torch.Tensor, noise: bool) -> torch.Tensor:
        """Q [N, A] of uint8 frame stacks [N, S, H, W]."""
        raise NotImplementedError

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-transition loss [B] (with gradient) and extra metrics."""
        raise NotImplementedError

    # ------------------------------------------------------------------ acting
    def epsilon(self, step: int) -> float:
        """Dopamine's `linearly_decaying_epsilon`; with noisy nets epsilon_train throughout ('constant'), or 0 ('zero')."""
        cfg = self.cfg
        if getattr(cfg, "noisy", False):
            return cfg.epsilon_train if cfg.noisy_epsilon == "constant" else 0.0
        steps_left = cfg.epsilon_decay_steps + cfg.min_replay - step
        bonus = np.clip((1.0 - cfg.epsilon_train) * steps_left / cfg.epsilon_decay_steps, 0.0, 1.0 - cfg.epsilon_train)
        return float(cfg.epsilon_train + bonus)

    def act(self, obs: np.ndarray, is_first: np.ndarray, step: int) -> np.ndarray:
        restart = np.asarray(is_first, bool) | self.restart
        self.stack = push_frames(torch.from_numpy(self.stack), torch.from_numpy(obs), torch.from_numpy(restart)).numpy()
        self.restart[:] = False
        epsilon = self.epsilon(self.training_steps)
        explore = self.rng.random(self.num_envs) <= epsilon
        random_actions = self.rng.integers(0, self.num_actions, size=self.num_envs)
        if explore.all():
            return random_actions.astype(np.int64)
        greedy = self._greedy({"stack": torch.from_numpy(self.stack)})["action"].cpu().numpy()
        return np.where(explore, random_actions, greedy).astype(np.int64)

    @torch.no_grad()
    def _greedy_step(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Greedy actions [N] of frame stacks [N, S, H, W] on fresh noise (no host sync: may be a CUDA graph)."""
        if isinstance(self.online, RainbowNetwork):
            self.online.resample()
        return {"action": self.q_values(inputs["stack"], noise=True).argmax(-1)}

    # ---------------------------------------------------------------- learning
    def observe(self, actions: np.ndarray, env_step: Any, step: int) -> list[dict[str, float]]:
        metrics: list[dict[str, float]] = []
        for i in range(self.num_envs):
            if env_step.is_first[i]:
                continue  # the env's reset step: its action was not executed
            reward = float(env_step.reward[i])
            if self.cfg.clip_rewards:
                reward = float(np.clip(reward, -1.0, 1.0))
            terminal, last = bool(env_step.is_terminal[i]), bool(env_step.is_last[i])
            self.replay.add(self.stack[i, -1], int(actions[i]), reward, terminal, terminal or last)
            if terminal and not last:
                self.restart[i] = True  # a lost life: the next state starts a new stack
        for _ in range(self.num_envs):
            metrics += self._train_step()
        return metrics

    def _train_step(self) -> list[dict[str, float]]:
        """Dopamine's `_train_step`: maybe an update, maybe a target sync, then count the step."""
        cfg, out = self.cfg, []
        if len(self.replay) > cfg.min_replay and self.replay.can_sample():
            if self.training_steps % cfg.update_period == 0:
                out.append(self.update())
            if self.training_steps % cfg.target_update_period == 0:
                self.target.load_state_dict(self.online.state_dict())
        self.training_steps += 1
        return out

    def update(self) -> dict[str, float]:
        """One gradient step on a replay batch; returns its metrics."""
        sample = self.replay.sample(self.cfg.batch_size)
        outputs = self._learn({key: torch.from_numpy(np.asarray(value)) for key, value in sample.items()
                               if key != "indices"})
        if self.cfg.prioritized:
            self.replay.update_priorities(sample["indices"], outputs["priority"].double().cpu().numpy())
        self.updates += 1
        return {key: float(value) for key, value in outputs.items() if key != "priority"}

    def _learn_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss, backward and Adam step on a device batch; returns the loss (and new priorities [B]).

        No host sync, fixed shapes: on a GPU this is captured as one CUDA graph (agent.cuda_graph).
        """
        loss, extra = self._loss(batch)
        if self.cfg.prioritized:
            # Dopamine: IS weights 1/sqrt(p + 1e-10) over their batch max; priority sqrt(loss + 1e-10).
            weights = 1.0 / torch.sqrt(batch["probability"] + 1e-10)
            weights = (weights / weights.max()).to(loss.dtype)
            mean_loss = (weights * loss).mean()
        else:
            mean_loss = loss.mean()
        self.optimizer.zero_grad(set_to_none=True)
        mean_loss.backward()
        self.optimizer.step()
        outputs = {"loss": mean_loss.detach(), **{key: value.detach() for key, value in extra.items()}}
        if self.cfg.prioritized:
            outputs["priority"] = torch.sqrt(loss.detach() + 1e-10)
        return outputs

    def _bootstrap(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """gamma**n * (1 - terminal) [B, 1]."""
        return (self._discount * (~batch["terminal"]).float())[:, None]

    # ------------------------------------------------------------------ resume
    def phase(self, step: int) -> str:
        return "train" if len(self.replay) > self.cfg.min_replay else "prefill"

    def replay_stats(self) -> dict[str, int]:
        return {"replay/steps": len(self.replay), "replay/episodes": self.replay.episodes}

    def state_dict(self) -> dict[str, Any]:
        return {
            "online": self.online.state_dict(), "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(), "replay": self.replay.state_dict(),
            "rng": self.rng.bit_generator.state, "stack": self.stack, "restart": self.restart,
            "counters": {"training_steps": self.training_steps, "updates": self.updates},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        load_optimizer_state(self.optimizer, state["optimizer"])
        self.replay.load_state_dict(state["replay"])
        self.rng.bit_generator.state = state["rng"]
        self.stack, self.restart = np.array(state["stack"]), np.array(state["restart"])
        self.training_steps = int(state["counters"]["training_steps"])
        self.updates = int(state["counters"]["updates"])


class DERLearner(ValueLearner):
    """Data-Efficient Rainbow: dueling C51 on noisy layers, double Q, n-step, prioritised replay."""

    def _network(self) -> torch.nn.Module:
        cfg = self.cfg
        self.support = torch.linspace(-cfg.v_max, cfg.v_max, cfg.num_atoms, device=self.device)
        return RainbowNetwork(self.num_actions, cfg.num_atoms, cfg.noisy, cfg.dueling, self.frame_shape[-1])

    def q_values(self, states: torch.Tensor, noise: bool) -> torch.Tensor:
        return (self.online(states, noise).softmax(-1) * self.support).sum(-1)

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        rows = torch.arange(batch["action"].shape[0], device=self.device)
        with torch.no_grad():
            # Dopamine's target_output: one noise sample (key rng1) for the online and target nets.
            self.online.resample()
            self.target.copy_noise_from(self.online)
            next_probs = self.target(batch["next_state"]).softmax(-1)  # [B, A, K]
            selector = self.online(batch["next_state"]).softmax(-1) if self.cfg.double_dqn else next_probs
            next_action = (selector * self.support).sum(-1).argmax(-1)
            target_support = batch["reward"][:, None] + self._bootstrap(batch) * self.support[None]
            target = project_distribution(target_support, next_probs[rows, next_action], self.support)
        self.online.resample()  # the loss's own noise sample (key rng)
        logits = self.online(batch["state"])[rows, batch["action"]]
        loss = -(target * F.log_softmax(logits, -1)).sum(-1)
        return loss, {}


class IQNLearner(ValueLearner):
    """Implicit quantile networks (Dabney et al. 2018) on DER's data-efficiency settings."""

    def _network(self) -> torch.nn.Module:
        return ImplicitQuantileNetwork(self.num_actions, self.cfg.embedding_dim, self.frame_shape[-1])

    def _mean_q(self, network: ImplicitQuantileNetwork, features: torch.Tensor, samples: int) -> torch.Tensor:
        taus = torch.rand(features.shape[0], samples, device=self.device)
        return network.quantiles(features, taus).mean(1)

    def q_values(self, states: torch.Tensor, noise: bool) -> torch.Tensor:
        # Dopamine acts on the mean of num_quantile_samples (K = 32) sampled quantiles, also in eval.
        return self._mean_q(self.online, self.online.torso(states), self.cfg.num_quantile_samples)

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        batch_size = batch["action"].shape[0]
        rows = torch.arange(batch_size, device=self.device)
        with torch.no_grad():
            target_features = self.target.torso(batch["next_state"])
            if cfg.double_dqn:
                selector, selector_features = self.online, self.online.torso(batch["next_state"])
            else:  # Dopamine's default: the target net picks the action too
                selector, selector_features = self.target, target_features
            next_action = self._mean_q(selector, selector_features, cfg.num_quantile_samples).argmax(-1)
            target_taus = torch.rand(batch_size, cfg.num_tau_prime_samples, device=self.device)
            next_values = self.target.quantiles(target_features, target_taus)[rows, :, next_action]  # [B, N']
            targets = batch["reward"][:, None] + self._bootstrap(batch) * next_values
        taus = torch.rand(batch_size, cfg.num_tau_samples, device=self.device)
        values = self.online(batch["state"], taus)[rows, :, batch["action"]]  # [B, N]
        return quantile_huber_loss(targets, values, taus, cfg.kappa), {}
