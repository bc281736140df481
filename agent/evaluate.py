"""Evaluation: exactly `episodes` episodes of the current policy on fresh environments.

Deterministic given (run seed, agent step, model): the environments are seeded from
(seed, step), and the policy's torch RNG is forked and seeded from (seed, step) too, so
evaluating neither depends on nor disturbs the training RNG stream (training is the
same whether or not, and how often, it is evaluated).

Unbiased episode count: taking the first `episodes` episodes to finish across parallel
environments would favour short episodes. Instead, environment i is given a fixed quota
of episodes (the quotas sum to `episodes`) and only its first `quota_i` episodes count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from agent.config import AnyConfig as Config


@dataclass(frozen=True)
class EvalEpisode:
    """One evaluation episode: its index in the evaluation, return (raw score), length (agent steps)."""

    episode: int
    ret: float
    length: int


def derive_seed(*keys: int) -> int:
    """A 31-bit seed derived from integer keys (independent streams for independent keys)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0] % (2**31 - 1))


def episode_quotas(episodes: int, num_envs: int) -> list[int]:
    """Split `episodes` over at most `num_envs` environments: [3, 3, 2, 2] for (10, 4)."""
    envs = min(episodes, num_envs)
    return [episodes // envs + (1 if i < episodes % envs else 0) for i in range(envs)]


def evaluate(
    model,
    game: str,
    config: Config,
    seed: int,
    step: int,
    episodes: int,
    device: torch.device,
    stop: threading.Event | None = None,
    on_episode: Callable[[int], None] | None = None,
) -> list[EvalEpisode] | None:
    """Run `episodes` evaluation episodes with policy `config.eval.policy`.

    Args:
        model: the evaluation policy (agent.learner.EvalPolicy: `initial_state`, `act`,
            `restart_on_life_loss`).
        game: canonical game name or a toy env id ("toy:cue").
        config: the run's config (env protocol, eval.num_envs, eval.policy).
        seed, step: the run seed and the agent step; they seed the envs and the policy.
        episodes: how many episodes count.
        device: where the model's inputs go.
        stop: when set, the evaluation is abandoned and None is returned.
        on_episode: called with the number of counted episodes each time one ends (progress bars).
    Returns:
        The episodes ordered by (environment, order of completion), numbered 0..episodes-1,
        or None if stopped.
    """
    from agent.env import make_env  # late: agent.env imports ale_py

    quotas = episode_quotas(episodes, config.eval.num_envs)
    # Not restorable: an evaluation cut by preemption is re-run from scratch, so the faster
    # native vector env will do (toy envs ignore the flag).
    env = make_env(game, config.env, num_envs=len(quotas), seed=derive_seed(seed, step, 1), restorable=False)
    done: list[list[tuple[float, int]]] = [[] for _ in quotas]
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(derive_seed(seed, step, 2))
            state = model.initial_state(len(quotas))
            current = env.reset()
            restart_on_life_loss = bool(getattr(model, "restart_on_life_loss", False))
            while any(len(d) < q for d, q in zip(done, quotas)):
                if stop is not None and stop.is_set():
                    return None
                obs = torch.as_tensor(current.obs, device=device)
                # A lost life is a terminal for the env only with env.life_loss_terminal.
                starts = current.is_first | (current.is_terminal if restart_on_life_loss else False)
                first = torch.as_tensor(starts, device=device)
                actions, state = model.act(obs, first, state, config.eval.policy)
                current = env.step(np.asarray(actions, dtype=np.int64))
                for i in np.flatnonzero(current.is_last):
                    if len(done[i]) < quotas[i]:
                        done[i].append((float(current.episode_return[i]), int(current.episode_length[i])))
                        if on_episode is not None:
                            on_episode(sum(len(d) for d in done))
    finally:
        env.close()
    flat = [item for per_env in done for item in per_env]
    return [EvalEpisode(k, ret, length) for k, (ret, length) in enumerate(flat)]
