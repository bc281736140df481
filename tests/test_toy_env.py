"""ToyCueEnv: the cue decides the reward, EnvStep semantics match AtariEnv, exact resume."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from agent.config import EnvConfig
from agent.toy_env import ToyCueEnv
from atari100k.errors import UsageError


def cue_from_image(obs: np.ndarray, num_actions: int) -> np.ndarray:
    """Read the cue back from the pictures [N, C, H, W] (brightest band)."""
    bands = np.array_split(obs.mean(axis=(1, 2)), num_actions, axis=1)
    return np.stack([b.mean(axis=1) for b in bands], axis=1).argmax(axis=1)


def test_cue_in_the_image_decides_the_reward():
    env = ToyCueEnv(EnvConfig(), num_envs=4, seed=0, episode_length=20, num_actions=3)
    s = env.reset()
    assert s.obs.shape == (4, 1, 64, 64) and s.obs.dtype == np.uint8 and s.is_first.all()
    for t in range(20):
        cue = cue_from_image(s.obs, 3)
        actions = np.where(np.arange(4) < 2, cue, (cue + 1) % 3)  # copies 0,1 right; 2,3 wrong
        s = env.step(actions)
        assert np.array_equal(s.reward, [1, 1, 0, 0])
        assert (s.episode_length == t + 1).all()
    assert s.is_last.all() and s.is_terminal.all()
    assert np.array_equal(s.episode_return, [20, 20, 0, 0])
    s = env.step(np.zeros(4, np.int64))
    assert s.is_first.all() and (s.reward == 0).all() and (s.episode_length == 0).all()
    assert (s.episode_return == 0).all() and not s.is_last.any()


@pytest.mark.parametrize("num_actions", [2, 4])
def test_random_policy_scores_length_over_k(num_actions):
    env = ToyCueEnv(EnvConfig(), num_envs=8, seed=1, episode_length=20, num_actions=num_actions)
    env.reset()
    rng = np.random.default_rng(0)
    returns = []
    for _ in range(21 * 25):
        s = env.step(rng.integers(0, num_actions, 8))
        returns += s.episode_return[s.is_last].tolist()
    assert len(returns) == 200
    # 200 episodes: sd of the mean ~ sqrt(20 p (1-p) / 200) <= 0.16; allow ~4 sd.
    assert np.mean(returns) == pytest.approx(20 / num_actions, abs=0.65)


def test_state_round_trip_and_seeding():
    config = EnvConfig(image_size=32, grayscale=False)
    env = ToyCueEnv(config, num_envs=2, seed=5, episode_length=7)
    assert env.reset().obs.shape == (2, 3, 32, 32)
    rng = np.random.default_rng(0)
    for a in rng.integers(0, 3, (10, 2)):
        env.step(a)
    state = pickle.loads(pickle.dumps(env.get_state()))
    actions = rng.integers(0, 3, (15, 2))
    expected = [env.step(a) for a in actions]
    other = ToyCueEnv(config, num_envs=2, seed=99, episode_length=7)
    other.set_state(state)
    for a, e in zip(actions, expected):
        s = other.step(a)
        for name in ("obs", "reward", "is_first", "is_last", "is_terminal", "episode_return", "episode_length"):
            assert np.array_equal(getattr(s, name), getattr(e, name)), name
    same = ToyCueEnv(config, 2, seed=5, episode_length=7).reset().obs
    diff = ToyCueEnv(config, 2, seed=6, episode_length=7)
    diff.reset()
    assert np.array_equal(same, ToyCueEnv(config, 2, seed=5, episode_length=7).reset().obs)
    cues = {tuple(ToyCueEnv(config, 2, seed=s).reset().obs[:, 0, 0, :].argmax(1)) for s in range(8)}
    assert len(cues) > 1  # seeds change the cues
    with pytest.raises(UsageError):
        ToyCueEnv(config, 2, seed=5, episode_length=8).set_state(state)


def test_bad_input():
    with pytest.raises(UsageError):
        ToyCueEnv(EnvConfig(), 1, 0, num_actions=1)
    env = ToyCueEnv(EnvConfig(), 1, 0)
    with pytest.raises(UsageError):
        env.step(np.zeros(1, np.int64))
    env.reset()
    with pytest.raises(UsageError):
        env.step(np.array([3]))
