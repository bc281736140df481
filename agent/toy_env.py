"""A tiny deterministic image env for learning tests: the picture says which action pays.

`ToyCueEnv` has the API and step semantics of `agent.env.AtariEnv` (EnvStep, next-step
autoreset, exact get_state/set_state) but costs microseconds per step. The image is
`image_size` square, split into `num_actions` vertical bands; the cued band is bright
(255), the others dark (0). Acting with the cued action pays +1, any other action 0.
The cue of the next observation is drawn from the copy's RNG after every step. An episode
lasts exactly `episode_length` agent steps and ends with is_last and is_terminal, so a
random policy scores about episode_length / num_actions and a perfect one episode_length.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from agent.config import EnvConfig
from agent.env import EnvStep, check_actions, env_seeds
from atari100k.errors import UsageError

_STATE_VERSION = 1


class ToyCueEnv:
    """N copies of the cue game: reward 1 for the action shown in the image."""

    def __init__(
        self,
        config: EnvConfig,
        num_envs: int,
        seed: int,
        episode_length: int = 20,
        num_actions: int = 3,
        fixed_cue: bool = False,
    ) -> None:
        if not isinstance(config, EnvConfig):
            raise UsageError(f"config must be an EnvConfig, got {type(config).__name__}")
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise UsageError(f"num_envs must be a positive integer, got {num_envs!r}")
        if not 2 <= num_actions <= config.image_size:
            raise UsageError(f"toy env num_actions must be in [2, image_size], got {num_actions}")
        if episode_length < 1:
            raise UsageError(f"toy env episode_length must be >= 1, got {episode_length}")
        self.game = "toy:fixed" if fixed_cue else "toy:cue"
        # fixed_cue: the cue is always 0, so the reward is [a_{t-1} == 0], linear in the
        # action: a learning test that a tiny model solves in a CPU minute.
        self.fixed_cue = bool(fixed_cue)
        self.config = config
        self.num_envs = int(num_envs)
        self.seed = int(seed)
        self.episode_length = int(episode_length)
        self.num_actions = int(num_actions)
        self.action_meanings = [f"CUE{k}" for k in range(self.num_actions)]
        channels = 1 if config.grayscale else 3
        self.obs_shape = (channels, config.image_size, config.image_size)
        self._rngs = [np.random.default_rng(seq) for seq in env_seeds(seed, self.num_envs)]
        self._cue = np.zeros(self.num_envs, np.int64)
        self._return = np.zeros(self.num_envs, np.float32)
        self._length = np.zeros(self.num_envs, np.int64)
        self._pending = np.ones(self.num_envs, bool)
        self._started = False
        # One image per cue: [K, C, H, W], band k of the width lit for cue k.
        size = config.image_size
        edges = np.linspace(0, size, self.num_actions + 1).round().astype(int)
        self._images = np.zeros((self.num_actions, *self.obs_shape), np.uint8)
        for k in range(self.num_actions):
            self._images[k, :, :, edges[k] : edges[k + 1]] = 255

    @property
    def cue(self) -> np.ndarray:
        """int64 [N]: the action that pays at the current observation."""
        return self._cue.copy()

    def _draw(self, i: int) -> None:
        # The RNG is advanced either way, so both variants share their random streams.
        cue = self._rngs[i].integers(0, self.num_actions)
        self._cue[i] = 0 if self.fixed_cue else cue

    def _reset_one(self, i: int) -> None:
        self._draw(i)
        self._return[i] = 0.0
        self._length[i] = 0
        self._pending[i] = False

    def _make(self, reward: np.ndarray, first: np.ndarray, last: np.ndarray) -> EnvStep:
        return EnvStep(
            obs=self._images[self._cue].copy(),
            reward=reward,
            is_first=first,
            is_last=last,
            is_terminal=last.copy(),  # the episode's fixed end is a true terminal
            episode_return=self._return.copy(),
            episode_length=self._length.copy(),
        )

    def reset(self) -> EnvStep:
        """Start an episode in every copy; is_first all True."""
        for i in range(self.num_envs):
            self._reset_one(i)
        self._started = True
        n = self.num_envs
        return self._make(np.zeros(n, np.float32), np.ones(n, bool), np.zeros(n, bool))

    def step(self, actions: np.ndarray) -> EnvStep:
        """Act with int64 actions [N]; copies that ended last step are reset instead."""
        if not self._started:
            raise UsageError("call reset() before step()")
        actions = check_actions(actions, self.num_envs, self.num_actions)
        n = self.num_envs
        reward = np.zeros(n, np.float32)
        first = np.zeros(n, bool)
        last = np.zeros(n, bool)
        for i in range(n):
            if self._pending[i]:
                self._reset_one(i)
                first[i] = True
                continue
            reward[i] = float(actions[i] == self._cue[i])
            self._return[i] += reward[i]
            self._length[i] += 1
            last[i] = self._length[i] >= self.episode_length
            self._pending[i] = last[i]
            self._draw(i)
        return self._make(reward, first, last)

    def _identity(self) -> dict[str, Any]:
        return {
            "config": dataclasses.asdict(self.config),
            "num_envs": self.num_envs,
            "toy_episode_length": self.episode_length,
            "num_actions": self.num_actions,
        }

    def get_state(self) -> dict:
        """Everything needed to continue exactly (picklable)."""
        return {
            "version": _STATE_VERSION,
            "kind": "toy",
            **self._identity(),
            "started": self._started,
            "rng": [rng.bit_generator.state for rng in self._rngs],
            "cue": self._cue.copy(),
            "episode_return": self._return.copy(),
            "episode_length": self._length.copy(),
            "pending_reset": self._pending.copy(),
        }

    def set_state(self, state: dict) -> None:
        """Restore a `get_state()` dict from a ToyCueEnv of the same settings."""
        if not isinstance(state, dict) or state.get("kind") != "toy":
            raise UsageError("env state is not a ToyCueEnv state")
        mine = self._identity()
        if state.get("version") != _STATE_VERSION or {k: state.get(k) for k in mine} != mine:
            raise UsageError("env state was saved for another toy env version, config or size")
        for rng, rng_state in zip(self._rngs, state["rng"]):
            rng.bit_generator.state = rng_state
        self._cue[:] = state["cue"]
        self._return[:] = state["episode_return"]
        self._length[:] = state["episode_length"]
        self._pending[:] = state["pending_reset"]
        self._started = bool(state["started"])

    def close(self) -> None:
        """Nothing to release."""


def make_toy_env(game: str, config: EnvConfig, num_envs: int, seed: int) -> ToyCueEnv:
    """`toy:cue` -> ToyCueEnv with defaults; `toy:cue-K` uses K actions (2..4 typical);
    `toy:fixed` always cues action 0."""
    name = game.split(":", 1)[1].strip().lower()
    if name == "cue":
        return ToyCueEnv(config, num_envs, seed)
    if name == "fixed":
        return ToyCueEnv(config, num_envs, seed, fixed_cue=True)
    if name.startswith("cue-") and name[4:].isdigit():
        return ToyCueEnv(config, num_envs, seed, num_actions=int(name[4:]))
    raise UsageError(f"unknown toy env {game!r}; use 'toy:cue', 'toy:cue-K' (K actions) or 'toy:fixed'")
