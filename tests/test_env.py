"""AtariEnv / FastAtariEnv on real ALE games: shapes, protocol flags, seeding, exact resume."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from agent.config import EnvConfig
from agent.env import AtariEnv, EnvStep, FastAtariEnv, make_env
from agent.toy_env import ToyCueEnv
from atari100k.errors import UsageError

FIELDS = [f.name for f in dataclasses.fields(EnvStep)]


def run(env, actions: np.ndarray) -> list[EnvStep]:
    """Step through actions [T, N]; returns the T EnvSteps."""
    return [env.step(a) for a in actions]


def assert_same(a: list[EnvStep], b: list[EnvStep]) -> None:
    assert len(a) == len(b)
    for t, (x, y) in enumerate(zip(a, b)):
        for name in FIELDS:
            assert np.array_equal(getattr(x, name), getattr(y, name)), (t, name)


def test_shapes_dtypes_and_action_sets():
    env = AtariEnv("Pong", EnvConfig(), num_envs=2, seed=0)
    assert env.num_actions == 6 and env.action_meanings[0] == "NOOP"
    assert env.obs_shape == (1, 64, 64)
    s = env.reset()
    assert s.obs.shape == (2, 1, 64, 64) and s.obs.dtype == np.uint8
    assert s.is_first.all() and not s.is_last.any() and not s.is_terminal.any()
    s = env.step(np.array([0, 1], np.int64))
    dtypes = {"reward": np.float32, "is_first": bool, "is_last": bool, "is_terminal": bool,
              "episode_return": np.float32, "episode_length": np.int64}
    for name, dtype in dtypes.items():
        assert getattr(s, name).dtype == dtype and getattr(s, name).shape == (2,), name
    assert not s.is_first.any() and (s.episode_length == 1).all()
    assert s.obs.std() > 0  # a real picture, not a blank buffer
    assert AtariEnv("Breakout", EnvConfig(), 1, 0).num_actions == 4
    assert AtariEnv("breakout", EnvConfig(full_action_space=True), 1, 0).num_actions == 18
    rgb = AtariEnv("Pong", EnvConfig(grayscale=False, image_size=32), 1, 0)
    assert rgb.obs_shape == (3, 32, 32) and rgb.reset().obs.shape == (1, 3, 32, 32)


def test_truncation_sets_last_not_terminal_then_next_step_autoreset():
    config = EnvConfig(max_episode_frames=40, noop_max=0)  # 10 agent steps
    env = AtariEnv("Pong", config, num_envs=2, seed=0)
    first = env.reset()
    steps = run(env, np.zeros((10, 2), np.int64))
    assert not any(s.is_last.any() for s in steps[:-1])
    end = steps[-1]
    assert end.is_last.all() and not end.is_terminal.any() and (end.episode_length == 10).all()
    # The action given to a finished copy is ignored: copy 0 and copy 1 get different ones.
    again = env.step(np.array([0, 5], np.int64))
    assert again.is_first.all() and not again.is_last.any()
    assert (again.reward == 0).all() and (again.episode_return == 0).all()
    assert (again.episode_length == 0).all()
    assert np.array_equal(again.obs, first.obs)  # no no-ops: the same start frame
    assert (env.step(np.zeros(2, np.int64)).episode_length == 1).all()


def test_life_loss_terminal_keeps_the_game_going():
    config = EnvConfig(life_loss_terminal=True, max_episode_frames=8_000)
    env = AtariEnv("Breakout", config, num_envs=1, seed=1)
    env.reset()
    rng = np.random.default_rng(0)
    life_losses, total, flags = 0, 0.0, []
    for _ in range(2_000):
        s = env.step(rng.integers(0, env.num_actions, 1))
        flags.append(s)
        total += float(s.reward[0])
        assert s.episode_return[0] == pytest.approx(total)
        if s.is_terminal[0] and not s.is_last[0]:
            life_losses += 1  # a life lost: terminal for the world model, episode goes on
        if s.is_last[0]:
            break
    assert s.is_last[0] and s.is_terminal[0], "random Breakout should lose all 5 lives"
    assert life_losses == 4
    # By default a lost life is not a terminal at all: the same game, one terminal at the end.
    env = AtariEnv("Breakout", dataclasses.replace(config, life_loss_terminal=False), 1, seed=1)
    env.reset()
    rng = np.random.default_rng(0)
    steps = [env.step(rng.integers(0, env.num_actions, 1)) for _ in range(len(flags))]
    assert [bool(x.is_terminal[0]) for x in steps] == [bool(x.is_last[0]) for x in steps]
    assert steps[-1].is_last[0] and steps[-1].episode_return[0] == pytest.approx(total)


def test_same_seed_same_trajectory_other_seed_differs():
    config = EnvConfig(sticky_action_prob=0.25, max_episode_frames=200)
    actions = np.random.default_rng(0).integers(0, 6, (120, 2))
    a, b, c = (AtariEnv("Pong", config, 2, seed) for seed in (3, 3, 4))
    a.reset(), b.reset(), c.reset()
    ra, rb, rc = run(a, actions), run(b, actions), run(c, actions)
    assert_same(ra, rb)
    assert any(not np.array_equal(x.obs, y.obs) for x, y in zip(ra, rc))
    # Sticky actions are live: the same seed and actions without them play differently.
    d = AtariEnv("Pong", dataclasses.replace(config, sticky_action_prob=0.0), 2, 3)
    d.reset()
    assert any(not np.array_equal(x.obs, y.obs) for x, y in zip(ra, run(d, actions)))


def test_noop_starts_shift_the_game_across_copies_and_episodes():
    """Pong's first frame barely changes, but 20 NOOP steps later the ball shows the offset."""
    def frames_after_waiting(config: EnvConfig) -> set[bytes]:
        env = AtariEnv("Pong", config, num_envs=6, seed=0)
        env.reset()
        seen: set[bytes] = set()
        for _ in range(2):  # two episodes per copy (cap of 20 steps, then autoreset)
            steps = run(env, np.zeros((21, 6), np.int64))
            seen |= {o.tobytes() for o in steps[-2].obs}
        return seen

    assert len(frames_after_waiting(EnvConfig(max_episode_frames=80))) >= 4
    assert len(frames_after_waiting(EnvConfig(max_episode_frames=80, noop_max=0))) == 1


@pytest.mark.parametrize("game", ["Pong", "Breakout"])
def test_state_round_trip_mid_episode_is_exact(game):
    # Sticky actions on: the emulator's RNG must be part of the state too.
    config = EnvConfig(sticky_action_prob=0.25, max_episode_frames=160)  # resets in the window
    env = AtariEnv(game, config, num_envs=2, seed=7)
    rng = np.random.default_rng(1)
    env.reset()
    run(env, rng.integers(0, env.num_actions, (25, 2)))
    state = pickle.loads(pickle.dumps(env.get_state()))
    actions = rng.integers(0, env.num_actions, (60, 2))
    expected = run(env, actions)
    assert any(s.is_first.any() for s in expected), "window should cross an episode start"
    fresh = AtariEnv(game, config, num_envs=2, seed=123)  # the seed is part of the state
    fresh.set_state(state)
    assert_same(run(fresh, actions), expected)
    env.set_state(state)  # and restoring into the same object rewinds it
    assert_same(run(env, actions), expected)


def test_state_refuses_another_game_or_config():
    state = AtariEnv("Pong", EnvConfig(), 1, 0).get_state()
    with pytest.raises(UsageError):
        AtariEnv("Breakout", EnvConfig(), 1, 0).set_state(state)
    with pytest.raises(UsageError):
        AtariEnv("Pong", EnvConfig(noop_max=0), 1, 0).set_state(state)


def test_fast_env_follows_the_same_protocol():
    """Same pixels/rewards/flags as AtariEnv for the same actions (no-ops off)."""
    config = EnvConfig(noop_max=0, max_episode_frames=600)
    slow = AtariEnv("Breakout", config, 2, 0)
    fast = FastAtariEnv("Breakout", config, 2, 0, num_threads=1)
    assert fast.action_meanings == slow.action_meanings and fast.obs_shape == slow.obs_shape
    assert_same([slow.reset()], [fast.reset()])
    actions = np.random.default_rng(0).integers(0, 4, (400, 2))
    actions[:, 1] = 1  # copy 1 keeps firing so its game ends before the cap
    rs, rf = run(slow, actions), run(fast, actions)
    assert any(s.is_last[0] and not s.is_terminal[0] for s in rs)  # a truncation happened
    assert any(s.is_terminal[1] and s.is_last[1] for s in rs)  # a game over happened
    for t, (x, y) in enumerate(zip(rs, rf)):
        for name in FIELDS:
            if name != "obs":
                assert np.array_equal(getattr(x, name), getattr(y, name)), (t, name)
        # Final pictures may differ (AtariVectorEnv repeats the previous picture when the
        # game ends mid-repeat, and differs at truncation); every other one is identical.
        keep = ~x.is_last
        assert np.array_equal(x.obs[keep], y.obs[keep]), t
    with pytest.raises(UsageError):
        fast.get_state()
    fast.close()


def test_bad_input_raises_usage_error():
    with pytest.raises(UsageError):
        AtariEnv("NotAGame", EnvConfig(), 1, 0)
    with pytest.raises(UsageError):
        make_env("toy:nope", EnvConfig(), 1, 0)
    with pytest.raises(UsageError):
        AtariEnv("Pong", EnvConfig(), 0, 0)
    env = AtariEnv("Pong", EnvConfig(), 2, 0)
    with pytest.raises(UsageError):
        env.step(np.zeros(2, np.int64))  # before reset
    env.reset()
    for bad in (np.zeros(3, np.int64), np.array([0, 6]), np.array([0.0, 1.0])):
        with pytest.raises(UsageError):
            env.step(bad)


def test_make_env_dispatch():
    assert isinstance(make_env("toy:cue", EnvConfig(), 2, 0), ToyCueEnv)
    assert make_env("toy:cue-4", EnvConfig(), 1, 0).num_actions == 4
    env = make_env("ALE/Pong-v5", EnvConfig(), 1, 0)
    assert isinstance(env, AtariEnv) and env.game == "Pong"
    assert isinstance(make_env("pong", EnvConfig(), 1, 0, restorable=False), FastAtariEnv)


class _RecordingALE:
    """Delegates to an ALEInterface and records every emulator frame's executed action."""

    def __init__(self, ale, log: list) -> None:
        self._ale, self._log = ale, log

    def act(self, action, *args):
        self._log.append(action)
        return self._ale.act(action, *args)

    def __getattr__(self, name):
        return getattr(self._ale, name)


def test_sticky_actions_follow_ales_per_frame_rule():
    """ALE (StellaEnvironment::act): on every emulator frame, with probability p the previous
    executed action is repeated instead of the agent's. So when the agent switches action, it
    is lost for a whole 4-frame step with probability p^4 (0.4% at p = 0.25), and each frame
    repeats the previous action with probability p. (The old rule lost it for the step 25% of
    the time: once a frame was sticky, the rest of the repeat copied it.)"""
    p, steps = 0.25, 6000
    env = AtariEnv("Breakout", EnvConfig(sticky_action_prob=p, noop_max=0, max_episode_frames=108_000), 1, 3)
    log: list = []
    env._ales[0] = _RecordingALE(env._ales[0], log)
    env.reset()
    actions = np.random.default_rng(0).integers(0, env.num_actions, steps)
    lost = switched = frame_sticky = frame_total = 0
    previous = env._actions[0]
    for a in actions:
        start = len(log)
        if env.step(np.array([a])).is_first[0]:
            previous = env._actions[0]
            continue
        frames, wanted = log[start:], env._actions[int(a)]
        if previous != wanted:
            switched += 1
            lost += all(f != wanted for f in frames)
            # frame k (k >= 1 after a miss) still tries the agent's action first
            for before, now in zip([previous] + frames[:-1], frames):
                if before != wanted:
                    frame_total += 1
                    frame_sticky += now == before
        previous = frames[-1]
    assert switched > 3000
    rate = lost / switched
    assert abs(rate - p**4) < 5 * np.sqrt(p**4 * (1 - p**4) / switched) + 1e-3, rate
    frame_rate = frame_sticky / frame_total
    assert abs(frame_rate - p) < 5 * np.sqrt(p * (1 - p) / frame_total), frame_rate
