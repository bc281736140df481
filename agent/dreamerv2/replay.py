"""Episode replay: stores every step of every episode, samples fixed-length windows.

A step t holds (x_t, a_{t-1}, r_t, is_first_t, is_terminal_t): the observation, the action
that led to it (none at an episode's first step), the raw reward that arrived with it.
Episodes are kept whole; when the stored steps exceed `capacity`, the oldest *finished*
episodes are dropped first (FIFO), as in the reference.

Sampling (the reference's `prioritize_ends` rule): pick an episode uniformly among those
with at least T steps, then a start index `min(uniform_int(0, len - 1), len - T)`, so
windows that end at the episode's last step are drawn more often and terminals are seen
often. Every window starts with is_first = True and a zero action: the model starts each
window from a zero state (no burn-in).

Deviation from the reference, on purpose: the reference samples only *finished* episodes.
Here the ongoing episode of each environment is a candidate too once it has T steps. Some
games' random-policy episodes last the full 27k-step cap, longer than a 5k-step prefill,
so with finished episodes only there would be nothing to train on.

Pure numpy; the sampling RNG lives here and is part of `state_dict()` for exact resume.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Stored fields. `action` is stored as an index (-1 = no action, at is_first) and
# expanded to a one-hot when sampled (18x less memory than storing one-hots).
_FIELDS = ("obs", "action", "reward", "is_first", "is_terminal")


class _Episode:
    """One episode's steps in growable numpy buffers (amortised O(1) appends)."""

    def __init__(self, obs_shape: tuple[int, ...], initial: int = 64) -> None:
        self.length = 0
        self.data: dict[str, np.ndarray] = {
            "obs": np.zeros((initial, *obs_shape), np.uint8),
            "action": np.zeros((initial,), np.int16),
            "reward": np.zeros((initial,), np.float32),
            "is_first": np.zeros((initial,), bool),
            "is_terminal": np.zeros((initial,), bool),
        }

    def append(self, obs: np.ndarray, action: int, reward: float, is_first: bool, is_terminal: bool) -> None:
        if self.length == len(self.data["obs"]):
            # Double the buffers: an ongoing Atari episode can last 27k steps.
            self.data = {k: np.concatenate([v, np.zeros_like(v)]) for k, v in self.data.items()}
        i = self.length
        self.data["obs"][i] = obs
        self.data["action"][i] = action
        self.data["reward"][i] = reward
        self.data["is_first"][i] = is_first
        self.data["is_terminal"][i] = is_terminal
        self.length += 1

    def trimmed(self) -> dict[str, np.ndarray]:
        """The stored steps, copied to exactly `length` rows (frees the spare capacity)."""
        return {k: v[: self.length].copy() for k, v in self.data.items()}

    def view(self, start: int, stop: int) -> dict[str, np.ndarray]:
        return {k: v[start:stop] for k, v in self.data.items()}


class Replay:
    """Replay of whole episodes from `num_envs` parallel environments.

    Args:
        capacity: maximum stored steps; oldest finished episodes are dropped beyond it.
        num_envs: parallel environments feeding `add` (one ongoing episode each).
        obs_shape: (C, H, W) of one observation.
        num_actions: size of the one-hot actions returned by `sample`.
        seed: seed of the sampling RNG.
    """

    def __init__(
        self, capacity: int, num_envs: int, obs_shape: tuple[int, int, int], num_actions: int, seed: int
    ) -> None:
        self.capacity = int(capacity)
        self.num_envs = int(num_envs)
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.num_actions = int(num_actions)
        self.rng = np.random.default_rng(seed)
        self.finished: list[dict[str, np.ndarray]] = []  # oldest first
        self.ongoing: list[_Episode] = [_Episode(self.obs_shape) for _ in range(self.num_envs)]
        self.total_episodes = 0  # finished episodes ever added (not reduced by FIFO drops)
        self._finished_steps = 0  # steps in `finished`, kept to avoid re-summing per add

    # ------------------------------------------------------------------ adding
    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        is_first: np.ndarray,
        is_last: np.ndarray,
        is_terminal: np.ndarray,
    ) -> None:
        """Add one vectorised env step.

        Args:
            obs: uint8 [N, C, H, W], x_t.
            action: int [N], a_{t-1} (ignored where is_first; stored as "no action").
            reward: float [N], raw r_t.
            is_first, is_last, is_terminal: bool [N]. is_first starts a new episode
                (an unfinished one of that env is discarded: it cannot be continued);
                is_last finishes it.
        """
        for i in range(self.num_envs):
            if is_first[i] and self.ongoing[i].length > 0:
                self.ongoing[i] = _Episode(self.obs_shape)
            self.ongoing[i].append(
                obs[i], -1 if is_first[i] else int(action[i]), float(reward[i]), bool(is_first[i]), bool(is_terminal[i])
            )
            if is_last[i]:
                self.finished.append(self.ongoing[i].trimmed())
                self._finished_steps += self.ongoing[i].length
                self.total_episodes += 1
                self.ongoing[i] = _Episode(self.obs_shape)
        self._enforce_capacity()

    def _enforce_capacity(self) -> None:
        # Drop whole finished episodes, oldest first; ongoing ones cannot be dropped.
        excess = len(self) - self.capacity
        while excess > 0 and self.finished:
            dropped = len(self.finished.pop(0)["reward"])
            self._finished_steps -= dropped
            excess -= dropped

    def __len__(self) -> int:
        """Stored steps, finished and ongoing episodes together."""
        return self._finished_steps + sum(e.length for e in self.ongoing)

    @property
    def num_episodes(self) -> int:
        """Finished episodes currently stored."""
        return len(self.finished)

    # ---------------------------------------------------------------- sampling
    def _candidates(self, length: int) -> list[tuple[int, int]]:
        """(kind, index) of episodes with >= length steps; kind 0 finished, 1 ongoing."""
        out = [(0, i) for i, e in enumerate(self.finished) if len(e["reward"]) >= length]
        out += [(1, i) for i, e in enumerate(self.ongoing) if e.length >= length]
        return out

    def can_sample(self, length: int) -> bool:
        """Whether some episode (finished or ongoing) has at least `length` steps."""
        return bool(self._candidates(length))

    def sample(self, batch_size: int, length: int) -> dict[str, np.ndarray]:
        """Sample `batch_size` windows of `length` steps, time-major.

        Returns:
            "obs" uint8 [T, B, C, H, W]; "action" float32 one-hot [T, B, A] (a_{t-1}, zeros
            at t = 0 and wherever is_first); "reward" float32 [T, B]; "is_first" bool [T, B]
            (True at t = 0); "is_terminal" bool [T, B].
        Raises:
            RuntimeError if no episode has `length` steps (check `can_sample` first).
        """
        candidates = self._candidates(length)
        if not candidates:
            raise RuntimeError(f"no episode in replay has {length} steps yet")
        windows = []
        for _ in range(batch_size):
            kind, index = candidates[int(self.rng.integers(len(candidates)))]
            episode = self.finished[index] if kind == 0 else self.ongoing[index].view(0, self.ongoing[index].length)
            total = len(episode["reward"])
            # prioritize_ends: a uniform start clipped to the last full window.
            start = min(int(self.rng.integers(0, total)), total - length)
            windows.append({k: v[start : start + length] for k, v in episode.items()})
        batch = {k: np.stack([w[k] for w in windows], axis=1) for k in _FIELDS}
        batch["is_first"][0] = True
        actions = batch.pop("action").astype(np.int64)  # [T, B], -1 = none
        actions[0] = -1
        onehot = np.zeros((*actions.shape, self.num_actions), np.float32)
        t, b = np.nonzero(actions >= 0)
        onehot[t, b, actions[t, b]] = 1.0
        batch["action"] = onehot
        return batch

    # ------------------------------------------------------------ exact resume
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: episodes, ongoing episodes, RNG state."""
        return {
            "capacity": self.capacity,
            "num_envs": self.num_envs,
            "obs_shape": self.obs_shape,
            "num_actions": self.num_actions,
            "finished": self.finished,
            "ongoing": [e.trimmed() for e in self.ongoing],
            "total_episodes": self.total_episodes,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; the shapes must match this replay's."""
        if (state["num_envs"], tuple(state["obs_shape"]), state["num_actions"]) != (
            self.num_envs, self.obs_shape, self.num_actions,
        ):
            raise ValueError("replay state was saved with other env shapes")
        self.capacity = int(state["capacity"])
        self.finished = [dict(e) for e in state["finished"]]
        self._finished_steps = sum(len(e["reward"]) for e in self.finished)
        self.ongoing = []
        for data in state["ongoing"]:
            episode = _Episode(self.obs_shape, initial=max(64, len(data["reward"])))
            episode.length = len(data["reward"])
            for k, v in data.items():
                episode.data[k][: episode.length] = v
            self.ongoing.append(episode)
        self.total_episodes = int(state["total_episodes"])
        self.rng.bit_generator.state = state["rng"]
