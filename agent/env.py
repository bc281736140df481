"""Atari environments under the Atari 100k protocol, batched over N copies of one game.

Two classes share one API and one protocol (every field of `EnvConfig`):

- `AtariEnv`: the training env. One `ale_py.ALEInterface` per copy, with our own
  frame-skip / max-pool / no-op / resize loop in Python. It is *exactly restorable*:
  `get_state()` holds each emulator's `cloneState(include_rng=True)` (RAM, CPU, TIA,
  frame counters, ALE's RNG), our per-copy RNG and previous action (sticky actions and
  no-ops), the episode counters and the pending-reset flags, so a run resumed from a
  checkpoint continues bit-for-bit as if never interrupted (tested).
  Sticky actions are applied here, not by ALE: ALE's cloneState restores its RNG but not
  the previous action that a sticky frame repeats, so with ALE's own sticky actions a
  restored run diverges at the first sticky frame (found by the round-trip test).
  Ours is ALE's rule: on every emulator frame, with probability sticky_action_prob the
  previously executed action is executed again instead of the agent's (the agent's action
  stays what the later frames of the repeat try first).
- `FastAtariEnv`: evaluation only. `ale_py.AtariVectorEnv` (native, threaded) with the
  same settings. It has no per-copy clone/restore in ale_py 0.12, hence it cannot be the
  training env; evaluation restarts from scratch after a preemption, so it need not be.
  Its RNG is seeded differently, so its no-op counts and sticky frames differ from
  `AtariEnv`'s for the same seed. With no-ops and sticky actions off both give identical
  pixels, rewards and flags for identical actions (tested), except the *final* picture of
  an episode: AtariVectorEnv repeats the previous picture when the game ends mid-repeat,
  and differs on the last step of a truncated episode; AtariEnv shows the real final
  frames. A final picture never changes a score.

Protocol choices (the reference is danijar/dreamerv2's gym AtariPreprocessing + TimeLimit):
- An agent step repeats the action `action_repeat` times; the observation is the
  pixel-wise max of the last two emulator frames (`max_pool_frames`), converted by ALE to
  grayscale (or RGB) and resized to `image_size` with cv2.INTER_AREA.
- Each episode starts with a fresh uniform number of no-op frames in [0, noop_max]
  (single emulator frames, not agent steps; the reference draws from [1, noop_max]).
  If the game ends during the no-ops, it is reset and the no-ops are drawn again.
- The episode cap counts the agent's frames (episode_length * action_repeat, no-ops
  excluded), as the reference's TimeLimit of 27,000 agent steps and AtariVectorEnv do.
  Hitting it sets is_last but never is_terminal.
- Life loss: with `life_loss_terminal` a lost life sets is_terminal (a discount target of
  0 for the world model) while the game, and the scored episode, go on.
- Rewards are raw game rewards; no FIRE on reset (neither the reference nor Atari 100k).

Step convention (DreamerV2): index t holds (x_t, r_t, a_{t-1}). After a step returns
is_last[i], the next `step` resets copy i (its action is ignored) and returns its first
observation with is_first=True, reward 0, episode_return 0, episode_length 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from agent.config import EnvConfig
from atari100k.errors import UsageError
from atari100k.games import ale_rom_id, canonical_game

_STATE_VERSION = 1


@dataclass(frozen=True)
class EnvStep:
    """One batched transition of N environments (index t holds x_t, r_t, a_{t-1})."""

    obs: np.ndarray
    """uint8 [N, C, H, W]."""
    reward: np.ndarray
    """float32 [N], raw game reward that arrived with obs (0 when is_first)."""
    is_first: np.ndarray
    """bool [N], obs starts a new episode."""
    is_last: np.ndarray
    """bool [N], the episode ended at obs (game over or truncated by the cap)."""
    is_terminal: np.ndarray
    """bool [N], game over (or a lost life with life_loss_terminal); never set by truncation."""
    episode_return: np.ndarray
    """float32 [N], raw return of the episode so far, including this reward."""
    episode_length: np.ndarray
    """int64 [N], agent steps of the episode so far (0 when is_first)."""

    @classmethod
    def first(cls, obs: np.ndarray) -> "EnvStep":
        """The step that starts an episode in every copy: reward 0, is_first all True."""
        n = obs.shape[0]
        return cls(
            obs=obs,
            reward=np.zeros(n, np.float32),
            is_first=np.ones(n, bool),
            is_last=np.zeros(n, bool),
            is_terminal=np.zeros(n, bool),
            episode_return=np.zeros(n, np.float32),
            episode_length=np.zeros(n, np.int64),
        )


def env_seeds(seed: int, num_envs: int) -> list[np.random.SeedSequence]:
    """Distinct deterministic seed sequences for copies 0..num_envs-1 of a run's `seed`."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"env seed must be a non-negative integer, got {seed!r}")
    return [np.random.SeedSequence(int(seed), spawn_key=(i,)) for i in range(num_envs)]


def _check_common(config: EnvConfig, num_envs: int) -> None:
    if not isinstance(config, EnvConfig):
        raise UsageError(f"config must be an EnvConfig, got {type(config).__name__}")
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise UsageError(f"num_envs must be a positive integer, got {num_envs!r}")
    if config.action_repeat < 1:
        raise UsageError("env.action_repeat must be > 0")
    if config.max_episode_frames < config.action_repeat:
        raise UsageError("env.max_episode_frames must be >= env.action_repeat")
    if not 0.0 <= config.sticky_action_prob < 1.0:
        raise UsageError("env.sticky_action_prob must be in [0, 1)")
    if config.noop_max < 0:
        raise UsageError("env.noop_max must be >= 0")


def check_actions(actions: Any, num_envs: int, num_actions: int) -> np.ndarray:
    """Validate a batch of discrete actions; returns int64 [N]."""
    arr = np.asarray(actions)
    if arr.shape != (num_envs,) or not np.issubdtype(arr.dtype, np.integer):
        raise UsageError(
            f"actions must be an integer array of shape ({num_envs},), got {arr.dtype} {arr.shape}"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= num_actions):
        raise UsageError(f"actions must be in [0, {num_actions}), got {arr.tolist()}")
    return arr.astype(np.int64)


def _resize(frame: np.ndarray, size: int) -> np.ndarray:
    """[210, 160] or [210, 160, 3] uint8 -> [C, size, size] uint8 (INTER_AREA, as the reference)."""
    small = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return small[None] if small.ndim == 2 else np.ascontiguousarray(small.transpose(2, 0, 1))


class _AtariCopies:
    """What both Atari envs share: the checked spec, the obs shape and the per-copy episode counters."""

    def __init__(self, game: str, config: EnvConfig, num_envs: int, seed: int) -> None:
        _check_common(config, num_envs)
        self.game = canonical_game(game)
        self.config = config
        self.num_envs = int(num_envs)
        self.seed = int(seed)
        channels = 1 if config.grayscale else 3
        self.obs_shape = (channels, config.image_size, config.image_size)
        self._return = np.zeros(self.num_envs, np.float32)
        self._length = np.zeros(self.num_envs, np.int64)
        self._pending = np.zeros(self.num_envs, bool)  # copy needs a reset at the next step
        self._started = False

    def _emit(self, obs: np.ndarray, reward: np.ndarray, is_first: np.ndarray, is_last: np.ndarray,
              is_terminal: np.ndarray) -> EnvStep:
        """The EnvStep of this step, with snapshots of the episode counters."""
        return EnvStep(obs=obs, reward=reward, is_first=is_first, is_last=is_last, is_terminal=is_terminal,
                       episode_return=self._return.copy(), episode_length=self._length.copy())


class AtariEnv(_AtariCopies):
    """N parallel copies of one game under the Atari 100k protocol (exactly restorable)."""

    def __init__(self, game: str, config: EnvConfig, num_envs: int, seed: int) -> None:
        import ale_py  # heavy native module: load on first use

        super().__init__(game, config, num_envs, seed)
        rom = ale_py.roms.get_rom_path(ale_rom_id(self.game))
        if rom is None:
            raise UsageError(f"no ALE ROM for game {self.game!r}")
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
        self._ales: list[Any] = []
        self._rngs: list[np.random.Generator] = []  # sticky frames and no-op counts
        for seq in env_seeds(seed, self.num_envs):
            ale = ale_py.ALEInterface()
            ale.setInt("random_seed", int(seq.generate_state(1)[0] & 0x7FFFFFFF))
            ale.setFloat("repeat_action_probability", 0.0)  # sticky actions are ours, see top
            ale.setInt("frame_skip", 1)
            ale.setInt("max_num_frames_per_episode", 0)  # the cap is ours (agent frames)
            ale.loadROM(str(rom))
            self._ales.append(ale)
            self._rngs.append(np.random.default_rng(seq.spawn(1)[0]))
        actions = (
            self._ales[0].getLegalActionSet()
            if config.full_action_space
            else self._ales[0].getMinimalActionSet()
        )
        self._actions = list(actions)
        self.num_actions = len(self._actions)
        self.action_meanings = [a.name for a in self._actions]
        height, width = self._ales[0].getScreenDims()
        screen = (height, width) if config.grayscale else (height, width, 3)
        self._frames = np.zeros((2, *screen), np.uint8)  # scratch for max-pooling; no carry-over
        self._pending[:] = True  # every copy needs its first reset (kept in get_state's pending_reset)
        self._prev_action = np.zeros(self.num_envs, np.int64)  # last executed, for sticky

    # --- one copy ---------------------------------------------------------------------

    def _grab(self, ale: Any, out: np.ndarray) -> None:
        if self.config.grayscale:
            ale.getScreenGrayscale(out)
        else:
            ale.getScreenRGB(out)

    def _reset_one(self, i: int) -> np.ndarray:
        """New episode for copy i: reset, random no-ops; returns obs [C, H, W]."""
        ale, noop = self._ales[i], self._actions[0]  # action 0 is NOOP in both action sets
        while True:
            ale.reset_game()
            count = int(self._rngs[i].integers(0, self.config.noop_max + 1))
            for _ in range(count):
                ale.act(noop)
                if ale.game_over(with_truncation=False):
                    break
            if not ale.game_over(with_truncation=False):
                break
        self._grab(ale, self._frames[0])
        self._prev_action[i] = 0  # as ALE's reset: the repeated action is NOOP
        self._return[i] = 0.0
        self._length[i] = 0
        self._pending[i] = False
        return _resize(self._frames[0], self.config.image_size)

    def _step_one(self, i: int, action: int) -> tuple[np.ndarray, float, bool, bool]:
        """Repeat `action`; returns (obs [C, H, W], reward, game_over, life_lost)."""
        ale, cfg = self._ales[i], self.config
        lives = ale.lives()
        reward, grabbed = 0.0, 0
        sticky, rng = cfg.sticky_action_prob, self._rngs[i]
        for t in range(cfg.action_repeat):
            # ALE's rule, per emulator frame: the agent's action, or with probability p the
            # previously executed one. The agent's action is kept for the next frames of the
            # repeat, so it is lost for a whole step only when all its frames are sticky.
            executed = action
            if sticky > 0.0 and rng.random() < sticky:
                executed = int(self._prev_action[i])
            self._prev_action[i] = executed
            reward += ale.act(self._actions[executed])
            over = ale.game_over(with_truncation=False)
            if over or t >= cfg.action_repeat - 2:
                self._grab(ale, self._frames[grabbed % 2])
                grabbed += 1
            if over:
                break
        last = self._frames[(grabbed - 1) % 2]
        if cfg.max_pool_frames and grabbed >= 2:
            last = np.maximum(self._frames[0], self._frames[1])
        lost = ale.lives() < lives
        return _resize(last, cfg.image_size), reward, over, lost

    # --- batch ------------------------------------------------------------------------

    def reset(self) -> EnvStep:
        """Start an episode in every copy; is_first all True."""
        obs = np.stack([self._reset_one(i) for i in range(self.num_envs)])
        self._started = True
        return EnvStep.first(obs)

    def step(self, actions: np.ndarray) -> EnvStep:
        """Act with int64 actions [N]; copies that ended last step are reset instead."""
        if not self._started:
            raise UsageError("call reset() before step()")
        actions = check_actions(actions, self.num_envs, self.num_actions)
        n, cfg = self.num_envs, self.config
        obs = np.empty((n, *self.obs_shape), np.uint8)
        reward = np.zeros(n, np.float32)
        is_first = np.zeros(n, bool)
        is_last = np.zeros(n, bool)
        is_terminal = np.zeros(n, bool)
        for i in range(n):
            if self._pending[i]:
                obs[i] = self._reset_one(i)
                is_first[i] = True
                continue
            obs[i], r, over, lost = self._step_one(i, int(actions[i]))
            reward[i] = r
            self._return[i] += np.float32(r)
            self._length[i] += 1
            truncated = self._length[i] * cfg.action_repeat >= cfg.max_episode_frames
            is_terminal[i] = over or (lost and cfg.life_loss_terminal)
            is_last[i] = over or truncated
            self._pending[i] = is_last[i]
        return self._emit(obs, reward, is_first, is_last, is_terminal)

    # --- exact resume -----------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {"game": self.game, "config": dataclasses.asdict(self.config), "num_envs": self.num_envs}

    def get_state(self) -> dict:
        """Everything needed to continue exactly: a picklable dict of plain types and bytes."""
        return {
            "version": _STATE_VERSION,
            "kind": "atari",
            **self._identity(),
            "seed": self.seed,
            "started": self._started,
            "ale": [ale.cloneState(include_rng=True).serialize() for ale in self._ales],
            "rng": [rng.bit_generator.state for rng in self._rngs],
            "prev_action": self._prev_action.copy(),
            "episode_return": self._return.copy(),
            "episode_length": self._length.copy(),
            "pending_reset": self._pending.copy(),
        }

    def set_state(self, state: dict) -> None:
        """Restore a `get_state()` dict (from any AtariEnv of the same game, config and N)."""
        import ale_py

        if not isinstance(state, dict) or state.get("kind") != "atari":
            raise UsageError("env state is not an AtariEnv state")
        if state.get("version") != _STATE_VERSION:
            raise UsageError(f"env state version {state.get('version')} != {_STATE_VERSION}")
        mine = self._identity()
        theirs = {key: state.get(key) for key in mine}
        if theirs != mine:
            raise UsageError("env state was saved for another game, config or num_envs")
        for ale, blob in zip(self._ales, state["ale"]):
            ale.restoreState(ale_py.ALEState(blob))
        for rng, rng_state in zip(self._rngs, state["rng"]):
            rng.bit_generator.state = rng_state
        self._prev_action[:] = state["prev_action"]
        self._return[:] = state["episode_return"]
        self._length[:] = state["episode_length"]
        self._pending[:] = state["pending_reset"]
        self._started = bool(state["started"])

    def close(self) -> None:
        """Release the emulators."""
        self._ales.clear()


class FastAtariEnv(_AtariCopies):
    """Evaluation env: the same protocol on native `ale_py.AtariVectorEnv`; not restorable."""

    def __init__(
        self, game: str, config: EnvConfig, num_envs: int, seed: int, num_threads: int = 0
    ) -> None:
        import ale_py

        super().__init__(game, config, num_envs, seed)
        self._seeds = np.array(
            [int(s.generate_state(1)[0] & 0x7FFFFFFF) for s in env_seeds(seed, self.num_envs)]
        )
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
        self._env = ale_py.AtariVectorEnv(
            ale_rom_id(self.game),
            self.num_envs,
            num_threads=num_threads,
            max_num_frames_per_episode=config.max_episode_frames,  # counts agent frames
            repeat_action_probability=config.sticky_action_prob,
            full_action_space=config.full_action_space,
            img_height=config.image_size,
            img_width=config.image_size,
            grayscale=config.grayscale,
            stack_num=1,
            frameskip=config.action_repeat,
            maxpool=config.max_pool_frames,
            # AtariVectorEnv draws no-ops from [0, noop_max - 1]; ours are [0, noop_max].
            noop_max=config.noop_max + 1 if config.noop_max > 0 else 0,
            episodic_life=False,
            life_loss_info=False,
            reward_clipping=False,
            use_fire_reset=False,
            autoreset_mode="NextStep",
        )
        # Same action set, and names, as AtariEnv.
        probe = ale_py.ALEInterface()
        probe.loadROM(str(ale_py.roms.get_rom_path(ale_rom_id(self.game))))
        actions = probe.getLegalActionSet() if config.full_action_space else probe.getMinimalActionSet()
        self.action_meanings = [a.name for a in actions]
        self.num_actions = int(self._env.single_action_space.n)
        assert self.num_actions == len(actions)
        self._lives = np.zeros(self.num_envs, np.int64)

    def _obs(self, raw: np.ndarray) -> np.ndarray:
        # [N, 1, H, W] gray or [N, 1, H, W, 3] RGB -> [N, C, H, W]
        if self.config.grayscale:
            return np.ascontiguousarray(raw.reshape(self.num_envs, *self.obs_shape))
        return np.ascontiguousarray(raw[:, 0].transpose(0, 3, 1, 2))

    def reset(self) -> EnvStep:
        """Start an episode in every copy; is_first all True."""
        raw, info = self._env.reset(seed=self._seeds)
        self._started = True
        self._return[:] = 0.0
        self._length[:] = 0
        self._pending[:] = False
        self._lives[:] = info["lives"]
        return EnvStep.first(self._obs(raw))

    def step(self, actions: np.ndarray) -> EnvStep:
        """Act with int64 actions [N]; copies that ended last step are reset (natively)."""
        if not self._started:
            raise UsageError("call reset() before step()")
        actions = check_actions(actions, self.num_envs, self.num_actions)
        raw, reward, terminated, truncated, info = self._env.step(actions)
        is_first = self._pending.copy()
        reward = np.where(is_first, 0.0, reward).astype(np.float32)
        lives = np.asarray(info["lives"], np.int64)
        lost = (lives < self._lives) & ~is_first
        self._lives[:] = lives
        self._return[:] = np.where(is_first, 0.0, self._return + reward)
        self._length[:] = np.where(is_first, 0, self._length + 1)
        terminated = np.asarray(terminated, bool) & ~is_first
        is_last = (terminated | np.asarray(truncated, bool)) & ~is_first
        is_terminal = terminated | (lost & self.config.life_loss_terminal)
        self._pending[:] = is_last
        return self._emit(self._obs(raw), reward, is_first, is_last, is_terminal)

    def get_state(self) -> dict:
        """Not supported: AtariVectorEnv cannot clone one copy's emulator."""
        raise UsageError("FastAtariEnv cannot save its state; use AtariEnv where resume matters")

    def set_state(self, state: dict) -> None:
        """Not supported (see get_state)."""
        raise UsageError("FastAtariEnv cannot restore a state; use AtariEnv where resume matters")

    def close(self) -> None:
        """Stop the native worker threads."""
        self._env.close()


def make_env(
    game: str, config: EnvConfig, num_envs: int, seed: int, restorable: bool = True
) -> AtariEnv | FastAtariEnv | Any:
    """The env for a raw game string: `toy:<name>` gives a ToyCueEnv, else an Atari game.

    `restorable=False` picks FastAtariEnv for Atari games (evaluation); toy envs are
    always restorable.
    """
    if not isinstance(game, str):
        raise UsageError(f"game must be a string, got {game!r}")
    if game.lower().startswith("toy:"):
        from agent.toy_env import make_toy_env

        return make_toy_env(game, config, num_envs, seed)
    if restorable:
        return AtariEnv(game, config, num_envs, seed)
    return FastAtariEnv(game, config, num_envs, seed)
