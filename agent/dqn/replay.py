"""Transition replay for DER/IQN: one frame per agent step, stacks and n-step returns built
when sampling, proportional prioritisation (DER) or uniform sampling (IQN).

The rules of Dopamine's legacy `OutOfGraphPrioritizedReplayBuffer` (`dopamine/replay_memory/
{circular,prioritized}_replay_buffer.py`, the buffer that produced the published DER runs;
docs/dopamine_settings.md section A7):
- Row t holds (o_t, a_t, r_t, terminal_t, end_t): the newest frame of the state the action
  was taken in, the action, the clipped reward and terminal that followed. `end_t` marks the
  last row of an episode (a terminal, including a life loss in DER, or a truncation).
- The state of row t stacks the frames o_{t-3..t}; frames before its episode's first row are
  zeros (Dopamine adds three all-zero padding rows at each episode start instead).
- n-step: R = sum_{k<L} gamma^k r_{t+k}, where L = n, or the offset of the first terminal in
  [t, t+n) plus one; terminal = a terminal in that window; next state = the stack at t + L.
- Valid rows: t + n < rows stored (Dopamine: index < cursor - update_horizon), and no
  truncation (an episode end without terminal) in [t, t+n) before a terminal.
- Prioritised: new rows get the tree's max recorded priority; a batch is one stratified draw
  per equal slice of the total priority, each invalid draw replaced by single proportional
  draws (at most 1000 in all); probabilities are leaf / total. Uniform: rows drawn uniformly
  among valid ones.
Nothing is ever evicted: the replay holds the whole run (Dopamine's 1M capacity is "a proxy
for unbounded memory"), preallocated for the budget; numpy commits the pages as they fill.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.dqn.sum_tree import SumTree

MAX_SAMPLE_ATTEMPTS = 1000  # Dopamine's max_sample_attempts


class TransitionReplay:
    """Rows of (frame, action, reward, terminal, end) for one environment's whole run."""

    def __init__(self, capacity: int, frame_shape: tuple[int, int], stack: int, n_step: int, gamma: float,
                 prioritized: bool, seed: int) -> None:
        self.capacity, self.stack, self.n_step, self.gamma = int(capacity), int(stack), int(n_step), float(gamma)
        self.prioritized = prioritized
        self.frames = np.zeros((self.capacity, *frame_shape), np.uint8)
        self.action = np.zeros(self.capacity, np.int32)
        self.reward = np.zeros(self.capacity, np.float32)
        self.terminal = np.zeros(self.capacity, bool)
        self.end = np.zeros(self.capacity, bool)
        self.depth = np.zeros(self.capacity, np.int32)  # rows since the episode's first row
        self.count = 0
        self.episodes = 0
        self.tree = SumTree(self.capacity) if prioritized else None
        self.rng = np.random.default_rng(seed)
        self._discounts = self.gamma ** np.arange(self.n_step)

    def __len__(self) -> int:
        return self.count

    def add(self, frame: np.ndarray, action: int, reward: float, terminal: bool, end: bool) -> None:
        """Append one row; `end` closes the episode (the next row starts a new one)."""
        if self.count >= self.capacity:
            raise RuntimeError(f"replay full ({self.capacity} rows); it holds a whole run of train.steps")
        t = self.count
        self.frames[t] = frame
        self.action[t], self.reward[t] = action, reward
        self.terminal[t], self.end[t] = terminal, end
        self.depth[t] = 0 if t == 0 or self.end[t - 1] else self.depth[t - 1] + 1
        if self.tree is not None:
            self.tree.set(np.array([t]), np.array([self.tree.max_recorded_priority]))
        self.count += 1
        self.episodes += int(end)

    # ---------------------------------------------------------------- reading
    def states(self, rows: np.ndarray) -> np.ndarray:
        """Frame stacks of `rows` (int [B]) -> uint8 [B, stack, H, W], zeros before episode starts."""
        rows = np.asarray(rows, np.int64)
        offsets = np.arange(-(self.stack - 1), 1)  # [-3, -2, -1, 0]
        index = rows[:, None] + offsets[None, :]
        inside = -offsets[None, :] <= self.depth[rows][:, None]
        out = self.frames[np.maximum(index, 0)]
        out[~inside] = 0
        return out

    def _windows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For rows [B]: (valid bool [B], length L int [B], terminal bool [B])."""
        rows = np.asarray(rows, np.int64)
        span = rows[:, None] + np.arange(self.n_step)[None, :]
        inside = (rows + self.n_step < self.count) & (rows >= 0)
        span = np.minimum(span, max(self.count - 1, 0))
        terminal, end = self.terminal[span], self.end[span]
        first_terminal = np.where(terminal.any(1), terminal.argmax(1), self.n_step)
        cut = end & ~terminal  # an episode end that is not a terminal: a time-limit truncation
        first_truncation = np.where(cut.any(1), cut.argmax(1), self.n_step)
        valid = inside & (first_truncation >= first_terminal)
        length = np.minimum(first_terminal + 1, self.n_step)
        return valid, length, terminal.any(1)

    def is_valid(self, rows: np.ndarray) -> np.ndarray:
        """Whether each row can be sampled now (bool [B])."""
        return self._windows(rows)[0]

    def can_sample(self) -> bool:
        return self.count > self.n_step

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A batch: state, next_state uint8 [B, stack, H, W]; action int64 [B]; reward (n-step
        return) float32 [B]; terminal bool [B]; indices int64 [B]; probability float64 [B]
        (leaf / total priority, or 1 / valid rows when uniform)."""
        rows = self._sample_rows(batch_size)
        valid, length, terminal = self._windows(rows)
        assert valid.all()
        span = rows[:, None] + np.arange(self.n_step)[None, :]
        within = np.arange(self.n_step)[None, :] < length[:, None]
        rewards = self.reward[np.minimum(span, self.count - 1)] * within
        if self.tree is not None:
            probability = self.tree.get(rows) / self.tree.total
        else:  # unused by the loss (no IS weights without priorities); ~1 / valid rows
            probability = np.full(batch_size, 1.0 / (self.count - self.n_step))
        return {
            "state": self.states(rows),
            "action": self.action[rows].astype(np.int64),
            "reward": (rewards @ self._discounts).astype(np.float32),
            "next_state": self.states(rows + length),
            "terminal": terminal,
            "indices": rows,
            "probability": probability,
        }

    def _draw(self, size: int | None) -> Any:
        """Uniform rows in [0, count - n) (Dopamine's uniform buffer), or one proportional draw."""
        if self.tree is None:
            return self.rng.integers(0, self.count - self.n_step, size=size)
        return self.tree.sample(self.rng)

    def _sample_rows(self, batch_size: int) -> np.ndarray:
        if self.count <= self.n_step:
            raise RuntimeError("no valid transition to sample yet")
        if self.tree is None:
            rows = np.asarray(self._draw(batch_size), np.int64)
        else:
            rows = self.tree.stratified_sample(batch_size, self.rng)
        attempts = 0
        for i in np.flatnonzero(~self.is_valid(rows)):
            while not self.is_valid(rows[i:i + 1])[0]:
                attempts += 1
                if attempts > MAX_SAMPLE_ATTEMPTS:
                    raise RuntimeError(f"no valid transition after {MAX_SAMPLE_ATTEMPTS} draws")
                rows[i] = self._draw(None)
        return rows

    def update_priorities(self, rows: np.ndarray, priorities: np.ndarray) -> None:
        """Set the sampled rows' priorities (DER: sqrt(loss + 1e-10))."""
        if self.tree is not None:
            self.tree.set(rows, priorities)

    # ---------------------------------------------------------------- resume
    def state_dict(self) -> dict[str, Any]:
        n = self.count
        return {
            "count": n, "episodes": self.episodes, "rng": self.rng.bit_generator.state,
            "frames": self.frames[:n], "action": self.action[:n], "reward": self.reward[:n],
            "terminal": self.terminal[:n], "end": self.end[:n], "depth": self.depth[:n],
            "tree": self.tree.state_dict() if self.tree is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = int(state["count"])
        for name in ("frames", "action", "reward", "terminal", "end", "depth"):
            getattr(self, name)[:n] = state[name]
        self.count, self.episodes = n, int(state["episodes"])
        self.rng.bit_generator.state = state["rng"]
        if self.tree is not None:
            self.tree.load_state_dict(state["tree"])
