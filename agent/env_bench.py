"""Throughput of our Atari pipeline against raw `ale_py.AtariVectorEnv` (random actions).

    python -m agent.env_bench --game Pong --num-envs 16 --steps 500

Frames = agent steps x action_repeat, summed over the N copies.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from agent.config import EnvConfig
from agent.env import AtariEnv, FastAtariEnv
from atari100k.errors import UsageError
from atari100k.games import ale_rom_id


def _time_steps(step, num_envs: int, num_actions: int, steps: int, seed: int) -> float:
    """Seconds for `steps` batched steps with uniform random actions."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, num_actions, (steps, num_envs))
    start = time.perf_counter()
    for a in actions:
        step(a)
    return time.perf_counter() - start


def bench_env(
    game: str = "Pong",
    config: EnvConfig = EnvConfig(),
    num_envs: int = 16,
    steps: int = 500,
    seed: int = 0,
) -> dict:
    """Frames per second of AtariEnv, FastAtariEnv and raw AtariVectorEnv, same settings.

    Returns {"env_frames_per_s", "env_step_s" (mean seconds of one batched AtariEnv step),
    "fast_env_frames_per_s", "raw_env_frames_per_s", "num_envs", "steps", "game"}.
    """
    import ale_py

    if steps < 1:
        raise UsageError(f"steps must be >= 1, got {steps}")
    frames = steps * num_envs * config.action_repeat

    env = AtariEnv(game, config, num_envs, seed)
    env.reset()
    ours = _time_steps(env.step, num_envs, env.num_actions, steps, seed)
    env.close()

    fast = FastAtariEnv(game, config, num_envs, seed)
    fast.reset()
    fast_s = _time_steps(fast.step, num_envs, fast.num_actions, steps, seed)
    fast.close()

    raw = ale_py.AtariVectorEnv(
        ale_rom_id(game), num_envs,
        max_num_frames_per_episode=config.max_episode_frames,
        repeat_action_probability=config.sticky_action_prob,
        full_action_space=config.full_action_space,
        img_height=config.image_size, img_width=config.image_size,
        grayscale=config.grayscale, stack_num=1, frameskip=config.action_repeat,
        maxpool=config.max_pool_frames, noop_max=config.noop_max,
        reward_clipping=False, use_fire_reset=False,
    )
    raw.reset(seed=seed)
    raw_s = _time_steps(raw.step, num_envs, int(raw.single_action_space.n), steps, seed)
    raw.close()
    return {
        "game": game,
        "num_envs": num_envs,
        "steps": steps,
        "env_frames_per_s": frames / ours,
        "env_step_s": ours / steps,
        "fast_env_frames_per_s": frames / fast_s,
        "raw_env_frames_per_s": frames / raw_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="Pong")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    for n in args.num_envs:
        print(json.dumps(bench_env(args.game, EnvConfig(), n, args.steps)))


if __name__ == "__main__":
    main()
