"""Replay: FIFO by whole episodes, windows inside one episode, end-biased starts, exact state."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from agent.dreamerv2.replay import Replay

OBS = (1, 2, 2)


def feed(replay: Replay, lengths: list[int], start_id: int = 0, terminal: bool = True) -> None:
    """Add episodes of the given lengths to env 0; obs pixel = episode id, reward = index.

    The action a_{t-1} stored at step t is (t - 1) % num_actions.
    """
    for k, length in enumerate(lengths):
        for t in range(length):
            last = t == length - 1
            replay.add(
                obs=np.full((1, *OBS), start_id + k, np.uint8),
                action=np.array([(t - 1) % replay.num_actions]),
                reward=np.array([t], np.float32),
                is_first=np.array([t == 0]),
                is_last=np.array([last]),
                is_terminal=np.array([last and terminal]),
            )


def test_capacity_drops_oldest_whole_episodes() -> None:
    replay = Replay(capacity=25, num_envs=1, obs_shape=OBS, num_actions=3, seed=0)
    feed(replay, [10, 10, 10])  # 30 steps > 25: the first episode goes, whole
    assert len(replay) == 20 and replay.num_episodes == 2 and replay.total_episodes == 3
    assert [int(e["obs"][0, 0, 0, 0]) for e in replay.finished] == [1, 2]
    feed(replay, [4], start_id=3)  # 24 <= 25: nothing dropped
    assert len(replay) == 24 and replay.num_episodes == 3


def test_windows_lie_inside_one_episode_and_are_time_major() -> None:
    replay = Replay(capacity=1000, num_envs=1, obs_shape=OBS, num_actions=3, seed=1)
    feed(replay, [5, 12, 30, 7])  # only the 12- and 30-step episodes can give T=10
    batch = replay.sample(batch_size=64, length=10)
    assert batch["obs"].shape == (10, 64, *OBS) and batch["obs"].dtype == np.uint8
    assert batch["action"].shape == (10, 64, 3) and batch["action"].dtype == np.float32
    assert batch["reward"].shape == batch["is_first"].shape == batch["is_terminal"].shape == (10, 64)
    ids = batch["obs"][:, :, 0, 0, 0]
    assert (ids == ids[0]).all(), "a window mixes episodes"
    assert set(np.unique(ids)) == {1, 2}
    # consecutive steps of one episode: rewards are the step index
    assert (np.diff(batch["reward"], axis=0) == 1).all()
    assert batch["is_first"][0].all() and not batch["is_first"][1:].any()
    assert (batch["action"][0] == 0).all()
    # a_{t-1} one-hot at t >= 1 matches what was stored
    t_index = batch["reward"][1:].astype(int)
    assert (batch["action"][1:].argmax(-1) == (t_index - 1) % 3).all()
    assert (batch["action"][1:].sum(-1) == 1).all()
    # terminal only at an episode's last step
    assert (batch["is_terminal"] == (batch["reward"] == np.where(ids == 1, 11, 29))).all()


def test_starts_are_biased_towards_the_episode_end() -> None:
    # One 40-step episode, T = 10: start = min(U{0..39}, 30) -> P(start = 30) = 10/40.
    replay = Replay(capacity=1000, num_envs=1, obs_shape=OBS, num_actions=2, seed=2)
    feed(replay, [40])
    starts = replay.sample(batch_size=4000, length=10)["reward"][0]
    assert starts.min() == 0 and starts.max() == 30
    share_last = float(np.mean(starts == 30))
    assert abs(share_last - 0.25) < 0.03, share_last
    assert abs(float(np.mean(starts == 5)) - 1 / 40) < 0.015
    terminal_seen = replay.sample(batch_size=4000, length=10)["is_terminal"].any(0).mean()
    assert terminal_seen > 0.2


def test_ongoing_episodes_are_sampled_once_long_enough() -> None:
    replay = Replay(capacity=1000, num_envs=2, obs_shape=OBS, num_actions=2, seed=3)
    assert not replay.can_sample(4)
    for t in range(6):  # two envs, never finishing
        replay.add(
            obs=np.array([[[[10, 10], [10, 10]]], [[[20, 20], [20, 20]]]], np.uint8),
            action=np.array([1, 0]), reward=np.array([t, t], np.float32),
            is_first=np.array([t == 0, t == 0]), is_last=np.array([False, False]),
            is_terminal=np.array([False, False]),
        )
    assert replay.can_sample(6) and not replay.can_sample(7)
    with pytest.raises(RuntimeError):
        replay.sample(2, 7)
    batch = replay.sample(batch_size=200, length=4)
    assert set(np.unique(batch["obs"])) == {10, 20}
    assert len(replay) == 12 and replay.num_episodes == 0


def test_sampling_is_deterministic_under_the_seed() -> None:
    def draw(seed: int) -> np.ndarray:
        replay = Replay(capacity=1000, num_envs=1, obs_shape=OBS, num_actions=2, seed=seed)
        feed(replay, [15, 25, 35])
        return np.concatenate([replay.sample(8, 10)["reward"] for _ in range(3)])

    assert np.array_equal(draw(7), draw(7))
    assert not np.array_equal(draw(7), draw(8))


def test_state_round_trip_continues_exactly() -> None:
    a = Replay(capacity=60, num_envs=1, obs_shape=OBS, num_actions=4, seed=4)
    feed(a, [20, 30])
    feed(a, [9], start_id=5, terminal=False)  # truncated episode
    # leave an ongoing episode in the buffer
    for t in range(13):
        a.add(np.full((1, *OBS), 9, np.uint8), np.array([2]), np.array([t], np.float32),
              np.array([t == 0]), np.array([False]), np.array([False]))
    a.sample(4, 10)
    state = pickle.loads(pickle.dumps(a.state_dict()))
    b = Replay(capacity=60, num_envs=1, obs_shape=OBS, num_actions=4, seed=999)
    b.load_state_dict(state)
    assert len(a) == len(b) == 52 and b.total_episodes == 3
    for _ in range(3):
        x, y = a.sample(6, 10), b.sample(6, 10)
        for key in x:
            assert np.array_equal(x[key], y[key]), key
    # both continue the same after more data (the ongoing episode extends in both)
    for r in (a, b):
        r.add(np.full((1, *OBS), 9, np.uint8), np.array([1]), np.array([13], np.float32),
              np.array([False]), np.array([True]), np.array([True]))
    assert len(a) == len(b) and a.num_episodes == b.num_episodes
    x, y = a.sample(6, 14), b.sample(6, 14)
    assert all(np.array_equal(x[k], y[k]) for k in x)
