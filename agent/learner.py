"""The learner plug-in: what an algorithm provides to the shared run loop (agent/train.py).

The loop owns the env, the step counter, the run folder, evaluation and checkpoints. Per
agent step it calls `act`, steps the env, then `observe`; a learner stores what it needs
(its own replay), runs the updates that are due and returns their metrics. Everything a
learner needs to continue exactly goes in `state_dict` (tensors and numpy arrays are fine;
torch's and numpy's global RNGs are saved by the loop).

    learner = Learner(config, obs_shape, num_actions, device, seed)
    actions = learner.act(obs, is_first, step)                 # int64 [N]
    metrics = learner.observe(actions, env_step, step)         # list of {name: float}, one per update
    policy = learner.policy                                    # evaluation: initial_state / act
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch


class EvalPolicy(Protocol):
    """What agent.evaluate drives: a batched policy with a recurrent (or frame-stack) state."""

    restart_on_life_loss: bool
    """Start a new state when a life is lost (Dopamine's agents zero their frame stack), not only at is_first."""

    def initial_state(self, batch_size: int) -> Any:
        """The state before the first observation of `batch_size` environments."""

    def act(self, obs: torch.Tensor, is_first: torch.Tensor, state: Any, mode: str) -> tuple[torch.Tensor, Any]:
        """obs uint8 [N, C, H, W], is_first bool [N] -> (int64 actions [N] on the CPU, new state).

        Randomness comes from torch's global generator (evaluation forks and seeds it).
        """


class Learner(Protocol):
    """One algorithm behind the shared run loop."""

    updates: int
    """Gradient updates done so far."""

    def act(self, obs: np.ndarray, is_first: np.ndarray, step: int) -> np.ndarray:
        """Training actions int64 [N] for observations uint8 [N, C, H, W] at agent step `step`."""

    def observe(self, actions: np.ndarray, env_step: Any, step: int) -> list[dict[str, Any]]:
        """Store the transition `env_step` (agent.env.EnvStep) that `actions` led to, run the
        updates due now that the agent step count is `step`; returns one metrics dict per update
        (floats, or 0-d tensors that the loop reads once per log row, so a GPU is not stopped)."""

    @property
    def policy(self) -> EvalPolicy:
        """The evaluation policy (shares the learner's networks)."""

    def replay_stats(self) -> dict[str, int]:
        """`replay/steps` and `replay/episodes` for metrics rows."""

    def phase(self, step: int) -> str:
        """What the next `observe` at agent step `step` does, for the progress bar: "prefill" (no
        updates yet), "pretrain" (a burst of updates at once), or "train"."""

    def state_dict(self) -> dict[str, Any]:
        """Everything to continue exactly (networks, optimisers, replay, counters, own RNGs)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of state_dict."""
