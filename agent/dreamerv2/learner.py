"""DreamerV2 behind the shared run loop: prefill, episode replay, update cadence, acting.

The reference's loop (danijar/dreamerv2 `train.py`), counted in agent steps over all
training envs (N envs x 1 step = N agent steps):

    prefill `train.prefill` steps with a uniform random policy
    then act with model.act(mode="sample"); once the replay can give a window:
        `train.pretrain` updates once, then every `train.train_every` agent steps
        `train.train_steps` updates on replay.sample(batch_size, batch_length)

If no episode has `batch_length` steps yet when prefill ends, the updates (pretrain
included) wait for one. The policy starts after prefill from a zero state with is_first
forced on (the reference instead resets the envs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agent.dreamerv2.config import DreamerV2Config
from agent.dreamerv2.replay import Replay
from agent.evaluate import derive_seed


def _to_torch(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """Replay batch (numpy, time-major [T, B, ...]) -> tensors on `device`."""
    return {key: torch.from_numpy(value).to(device) for key, value in batch.items()}


class DreamerLearner:
    """World model + actor-critic (agent.dreamerv2.dreamer.DreamerV2), its replay and its loop."""

    def __init__(self, config: DreamerV2Config, obs_shape: tuple[int, int, int], num_actions: int,
                 num_envs: int, device: torch.device, seed: int) -> None:
        from agent.dreamerv2.dreamer import DreamerV2

        self.config, self.num_actions, self.num_envs, self.device = config, num_actions, num_envs, device
        self.model = DreamerV2(config, obs_shape, num_actions, device)
        self.replay = Replay(config.train.replay_capacity, num_envs, obs_shape, num_actions,
                             seed=derive_seed(seed, 0, 3))
        self.prefill_rng = np.random.default_rng(derive_seed(seed, 0, 4))
        self.policy_state: Any = None
        self.updates = 0
        self.pretrained = False
        self.policy_started = False
        self.next_train = 0

    @property
    def policy(self):
        return self.model

    def act(self, obs: np.ndarray, is_first: np.ndarray, step: int) -> np.ndarray:
        if step < self.config.train.prefill:
            return self.prefill_rng.integers(0, self.num_actions, size=self.num_envs, dtype=np.int64)
        if not self.policy_started:
            # The policy starts after prefill, mid-episode: a zero state, marked as a start.
            self.policy_state = self.model.initial_state(self.num_envs)
            is_first = np.ones_like(is_first)
            self.policy_started = True
        obs_t = torch.from_numpy(obs).to(self.device)
        first = torch.from_numpy(np.asarray(is_first)).to(self.device)
        actions, self.policy_state = self.model.act(obs_t, first, self.policy_state, "sample")
        return np.asarray(actions, dtype=np.int64)

    def observe(self, actions: np.ndarray, env_step: Any, step: int) -> list[dict[str, Any]]:
        self.replay.add(env_step.obs, actions, env_step.reward, env_step.is_first, env_step.is_last,
                        env_step.is_terminal)
        train = self.config.train
        if step < train.prefill or not self.replay.can_sample(train.batch_length):
            return []
        metrics = []
        if not self.pretrained:
            metrics += [self._update() for _ in range(train.pretrain)]
            self.pretrained = True
            self.next_train = step  # as the reference's Every: train at once too
        while step >= self.next_train:
            metrics += [self._update() for _ in range(train.train_steps)]
            self.next_train += train.train_every
        return metrics

    def _update(self) -> dict[str, Any]:
        batch = self.replay.sample(self.config.train.batch_size, self.config.train.batch_length)
        self.updates += 1
        return self.model.train_step(_to_torch(batch, self.device))

    def phase(self, step: int) -> str:
        train = self.config.train
        if step < train.prefill or not self.replay.can_sample(train.batch_length):
            return "prefill"
        return "train" if self.pretrained else f"pretrain ({train.pretrain} updates)"

    def replay_stats(self) -> dict[str, int]:
        return {"replay/steps": len(self.replay), "replay/episodes": self.replay.num_episodes}

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.checkpoint_state(),
            "policy_state": self.policy_state,
            "replay": self.replay.state_dict(),
            "prefill_rng": self.prefill_rng.bit_generator.state,
            "counters": {"updates": self.updates, "pretrained": self.pretrained,
                         "policy_started": self.policy_started, "next_train": self.next_train},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_checkpoint_state(state["model"])
        self.policy_state = state["policy_state"]
        self.replay.load_state_dict(state["replay"])
        self.prefill_rng.bit_generator.state = state["prefill_rng"]
        counters = state["counters"]
        self.updates, self.pretrained = int(counters["updates"]), bool(counters["pretrained"])
        self.policy_started, self.next_train = bool(counters["policy_started"]), int(counters["next_train"])
