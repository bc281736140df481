"""`train_run`: train ONE (algorithm, game, seed) into ONE run folder; kill it any time, re-run, same run.

The loop is shared by every algorithm (agent.algorithms); the learner plug-in
(agent.learner.Learner) acts, stores what it needs and runs its updates. Counted in agent
steps over all training envs (N envs x 1 step = N agent steps); per step:

    actions = learner.act(obs, is_first, step); env.step(actions); learner.observe(...)

At every step boundary, in this order: a metrics row (every `train.log_every`), an
intermediate evaluation (every `eval.every`), a checkpoint (every `train.checkpoint_every`,
when `stop` is set, and at the end of the budget), then `stop` is honoured. After the
budget: the final evaluation (`eval.episodes`), then DONE.

Counting: every env.step is an agent step, including the step that resets a finished
episode (the env's next-step autoreset; one step per episode, <0.1% of a 100k budget).
With N envs the run ends at the first multiple of N >= train.steps, and rows/evaluations
fall on the first multiple of N at or after their period. Evaluation never touches the
training RNG stream.

Exact resume: the checkpoint holds everything that decides what happens next (the
learner's state: networks, optimisers, replay, its RNGs and counters; the training envs'
emulator states, the last observation, every global RNG, the loop's counters, the pending
metric means, and how many rows each log had). Resuming cuts the logs back to those rows
and re-enters the loop at the checkpointed step boundary, so the resumed run's rows equal
an uninterrupted run's (wall-clock fields aside) on the same machine and thread count.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent.algorithms import learner_class
from agent.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint, seed_everything
from agent.config import AnyConfig as Config
from agent.config import config_to_dict
from agent.device import resolve_device, set_deterministic
from agent.evaluate import evaluate
from agent.provenance import utc_now
from agent.run_folder import CHECKPOINT, RUN_LOCK, RunFolder
from agent.spec import RunSpec
from agent.tensorboard_log import TensorBoardLog
from atari100k.cpus import usable_cpus
from atari100k.errors import UsageError
from atari100k.games import canonical_game
from atari100k.locking import exclusive_lock
from atari100k.malloc import keep_freed_memory

CHECKPOINT_VERSION = 2  # 2: the learner plug-in state (algorithms)


RUN_LOCK_WAIT_S = 120.0
"""How long `train` waits for another process to let go of its run folder (a requeued job whose
predecessor's lock a network filesystem has not released yet) before refusing."""


@dataclass(frozen=True)
class RunResult:
    """What `train_run` did.

    status: "done" (trained and evaluated now), "interrupted" (checkpointed after `stop`),
    "already_done" (DONE existed; nothing touched). summary: DONE's content for the first
    and the last; {"step", "frames", "budget_steps"} when interrupted.
    """

    status: str
    run_dir: Path
    summary: dict[str, Any]


@dataclass
class Counters:
    """Loop position; saved in the checkpoint (all plain ints/floats/bools)."""

    step: int = 0
    episodes: int = 0
    next_log: int = 0
    next_eval: int = 0
    next_checkpoint: int = 0
    checkpoint_step: int = -1
    elapsed_s: float = 0.0
    last_log_step: int = 0
    last_log_elapsed_s: float = 0.0


@dataclass
class Pending:
    """What the next metrics row averages: update metrics and episodes since the last row."""

    sums: dict[str, Any] = field(default_factory=dict)
    """Sums of update metrics: floats, or 0-d tensors (a learner's device values, read at `row`)."""
    counts: dict[str, int] = field(default_factory=dict)
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def add_update(self, metrics: dict[str, Any]) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "episode/count": len(self.returns),
            "episode/return": float(np.mean(self.returns)) if self.returns else None,
            "episode/length": float(np.mean(self.lengths)) if self.lengths else None,
        }
        row.update({key: float(self.sums[key]) / self.counts[key] for key in sorted(self.sums)})
        return row


def torch_threads() -> int:
    """Intra-op threads: OMP_NUM_THREADS when the user set it, else the affinity CPU count.

    More threads than free cores is far worse than fewer: on a busy 2-core machine a tiny
    conv took 18 ms with 2 threads and 0.1 ms with 1 (spin-waiting workers).
    """
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    if text.isdigit() and int(text) > 0:
        return min(int(text), usable_cpus())
    return usable_cpus()


def _check_game(game: str) -> str:
    """Toy envs (`toy:cue`, tests only) pass through; Atari names must be canonical-able."""
    return game if game.lower().startswith("toy:") else canonical_game(game)


class _Trainer:
    """One run's live objects and the loop over them (see the module docstring)."""

    def __init__(self, spec: RunSpec, config: Config, folder: RunFolder, stop: threading.Event, progress: bool):
        from agent.env import make_env  # late: imports ale_py

        self.spec, self.config, self.folder, self.stop = spec, config, folder, stop
        self.progress = progress
        self.game = _check_game(spec.game)
        self.device = resolve_device(config.train.device)
        set_deterministic(config.train.deterministic)
        torch.set_num_threads(torch_threads())
        keep_freed_memory()
        seed_everything(spec.seed)
        self.env = make_env(self.game, config.env, num_envs=config.env.num_envs, seed=spec.seed)
        self.num_envs = self.env.num_envs
        self.learner = learner_class(spec.algo)(
            config, tuple(self.env.obs_shape), self.env.num_actions, self.num_envs, self.device, spec.seed)
        first = self.env.reset()
        self.obs, self.is_first = first.obs, first.is_first  # x_t and is_first_t the policy sees next
        train = config.train
        self.c = Counters(
            next_log=train.log_every, next_checkpoint=train.checkpoint_every,
            next_eval=config.eval.every if config.eval.every > 0 else math.inf,
        )
        self.pending = Pending()
        self._session_start = time.monotonic()
        self._elapsed_base = 0.0
        self.tensorboard: TensorBoardLog | None = None  # opened by train_run once the folder is written, before run()

    # ------------------------------------------------------------- checkpoint
    def elapsed(self) -> float:
        return self._elapsed_base + time.monotonic() - self._session_start

    def state(self) -> dict[str, Any]:
        self.c.elapsed_s = self.elapsed()
        return {
            "version": CHECKPOINT_VERSION,
            "spec": self.spec.to_dict(),
            "config": config_to_dict(self.config),
            "saved_at": utc_now(),
            "counters": dataclasses.asdict(self.c),
            "pending": {**dataclasses.asdict(self.pending),
                        "sums": {key: float(value) for key, value in self.pending.sums.items()}},
            "log_rows": self.folder.row_counts(),
            "learner": self.learner.state_dict(),
            "rng": capture_rng_state(),
            "env": self.env.get_state(),
            "obs": self.obs,
            "is_first": self.is_first,
        }

    def save(self) -> None:
        self.c.checkpoint_step = self.c.step
        self.tensorboard.flush()  # every event up to this step is on disk before the checkpoint is
        save_checkpoint(self.folder.file(CHECKPOINT), self.state())

    def restore(self, ckpt: dict[str, Any]) -> None:
        if ckpt.get("version") != CHECKPOINT_VERSION:
            raise UsageError(f"{self.folder.file(CHECKPOINT)} has checkpoint version {ckpt.get('version')}, "
                             f"this code reads {CHECKPOINT_VERSION}; use another --out")
        self.learner.load_state_dict(ckpt["learner"])
        self.env.set_state(ckpt["env"])
        self.obs, self.is_first = ckpt["obs"], ckpt["is_first"]
        self.c = Counters(**ckpt["counters"])
        self.pending = Pending(**ckpt["pending"])
        self._elapsed_base = self.c.elapsed_s
        self._session_start = time.monotonic()
        restore_rng_state(ckpt["rng"])  # last: nothing after this may draw

    # ------------------------------------------------------------------ loop
    def env_step(self) -> None:
        """One step of all training envs: act, step, count episodes, let the learner store and train."""
        actions = self.learner.act(self.obs, self.is_first, self.c.step)
        step = self.env.step(actions)
        self.obs, self.is_first = step.obs, step.is_first
        self.c.step += self.num_envs
        finished = np.flatnonzero(step.is_last)
        if finished.size:
            rows = [(self.c.step, float(step.episode_return[i]), int(step.episode_length[i])) for i in finished]
            self.folder.append_episodes(rows)
            self.tensorboard.episodes(rows)
            self.c.episodes += len(rows)
            self.pending.returns += [r for _, r, _ in rows]
            self.pending.lengths += [n for _, _, n in rows]
        for metrics in self.learner.observe(actions, step, self.c.step):
            self.pending.add_update(metrics)

    def log_row(self) -> None:
        elapsed = self.elapsed()
        dt = elapsed - self.c.last_log_elapsed_s
        row = {
            "step": self.c.step,
            "frames": self.c.step * self.config.env.action_repeat,
            "time": time.time(),
            "elapsed_s": round(elapsed, 3),
            "sps": round((self.c.step - self.c.last_log_step) / dt, 3) if dt > 0 else None,
            "updates": self.learner.updates,
            "episodes": self.c.episodes,
            **self.learner.replay_stats(),
        }
        row.update(self.pending.row())
        self.folder.append_metrics(row)
        self.tensorboard.metrics_row(row)
        self.pending = Pending()
        self.c.last_log_step, self.c.last_log_elapsed_s = self.c.step, elapsed

    def boundary(self) -> bool:
        """Log, evaluate, checkpoint as due at this step; False when `stop` ended the run."""
        c, train, budget = self.c, self.config.train, self.config.train.steps
        if c.step >= c.next_log:
            self.log_row()
            while c.next_log <= c.step:
                c.next_log += train.log_every
        aborted = False
        if c.step >= c.next_eval and c.step < budget:  # the final evaluation covers the budget
            aborted = not self.evaluate(self.config.eval.episodes_during_training)
            if not aborted:
                while c.next_eval <= c.step:
                    c.next_eval += self.config.eval.every
        # Read `stop` once: a signal landing between two reads must not skip the checkpoint.
        stopping = aborted or self.stop.is_set()
        if (c.step >= c.next_checkpoint or c.step >= budget or stopping) and c.checkpoint_step != c.step:
            while c.next_checkpoint <= c.step:
                c.next_checkpoint += train.checkpoint_every
            self.save()
        return not stopping

    def evaluate(self, episodes: int) -> list[float] | None:
        """Evaluate now and append to eval.csv; returns the returns, None if stopped."""
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=episodes, unit="episode", dynamic_ncols=True, leave=False, mininterval=1.0,
                       desc=f"{self.game} seed {self.spec.seed} eval at step {self.c.step:,}")

        def on_episode(counted: int) -> None:
            if bar is not None:
                bar.update(counted - bar.n)
            self.folder.heartbeat()

        try:
            result = evaluate(self.learner.policy, self.game, self.config, self.spec.seed, self.c.step, episodes,
                              self.device, self.stop, on_episode=on_episode)
        finally:
            if bar is not None:
                bar.close()
        if result is None:
            return None
        self.folder.append_eval([(self.c.step, e.episode, e.ret, e.length) for e in result])
        self.tensorboard.evaluation(self.c.step, [e.ret for e in result])
        return [e.ret for e in result]

    def run(self) -> RunResult:
        budget = self.config.train.steps
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=budget, initial=min(self.c.step, budget), unit="step", dynamic_ncols=True,
                       desc=f"{self.game} seed {self.spec.seed}", mininterval=1.0)
        try:
            status = _StatusLine(self.learner)
            while True:
                if not self.boundary():
                    return self.interrupted()
                if self.c.step >= budget:
                    break
                if bar is not None:
                    # Announced before the step: observe() runs the step's updates at the step count after it.
                    status.show(bar, self.c.step + self.num_envs)
                self.env_step()
                if bar is not None:
                    bar.update(self.num_envs)
        finally:
            if bar is not None:
                bar.close()
        returns = self.evaluate(self.config.eval.episodes)
        if returns is None:
            return self.interrupted()
        summary = {
            "step": self.c.step,
            "frames": self.c.step * self.config.env.action_repeat,
            "eval_episodes": len(returns),
            "eval_return_mean": float(np.mean(returns)),
            "eval_return_std": float(np.std(returns)),  # population std (ddof=0)
            "finished_at": utc_now(),
            "elapsed_s": round(self.elapsed(), 3),
        }
        self.folder.write_done(summary)
        return RunResult("done", self.folder.path, summary)

    def interrupted(self) -> RunResult:
        summary = {"step": self.c.step, "frames": self.c.step * self.config.env.action_repeat,
                   "budget_steps": self.config.train.steps}
        return RunResult("interrupted", self.folder.path, summary)

    def close(self) -> None:
        self.env.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


class _StatusLine:
    """The progress bar's postfix: the learner's phase and its updates per second, refreshed about once a
    second and at once when the phase changes (the rate then restarts with the phase)."""

    def __init__(self, learner: Any) -> None:
        self.learner, self.phase = learner, None
        self.updates, self.time = learner.updates, time.monotonic()
        self.rate: float | None = None

    def show(self, bar: Any, step: int) -> None:
        phase, now = self.learner.phase(step), time.monotonic()
        if phase != self.phase:  # a new phase starts its own rate: the last one's would mislead
            self.phase, self.rate = phase, None
            self.updates, self.time = self.learner.updates, now
        elif now - self.time >= 1.0:
            updates = self.learner.updates
            self.rate = (updates - self.updates) / (now - self.time)
            self.updates, self.time = updates, now
        else:
            return
        rate = f", {self.rate:.1f} updates/s" if self.rate is not None and not phase.startswith("prefill") else ""
        bar.set_postfix_str(f"{phase}{rate}", refresh=True)


def _read_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """`load_checkpoint`, with a damaged file (cut short by a copy, a full disk) as a UsageError."""
    try:
        return load_checkpoint(path, device)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as error:
        detail = (str(error).strip().splitlines() or [""])[0][:160]
        raise UsageError(f"{path} cannot be read ({type(error).__name__}: {detail}); it is damaged: move it away "
                         f"to restart this run from scratch, or use another --out") from None


def train_run(
    spec: RunSpec, run_dir: str | Path, *, stop: threading.Event | None = None, progress: bool = True
) -> RunResult:
    """Train `spec` into `run_dir`, resuming from its checkpoint.pt if there is one.

    Raises UsageError, before writing anything, if the folder holds a run with another game,
    seed or config; else returns at once with "already_done" (nothing touched) if DONE exists.
    One process trains a folder at a time (an flock on its .train.lock): a second one waits up
    to RUN_LOCK_WAIT_S, then raises UsageError naming the first.
    When `stop` is set, checkpoints at the next step boundary and returns "interrupted".
    A `spec` built directly with game "toy:<name>" trains on a toy env (tests).
    """
    folder = RunFolder(run_dir)
    config = spec.config()
    _check_game(spec.game)
    folder.check_compatible(spec, config)  # read-only; a DONE folder of another run is refused too
    if folder.is_done():
        return RunResult("already_done", folder.path, folder.read_done())
    resolve_device(config.train.device)

    def busy(holder: str) -> str:
        return (f"another `atari100k train` ({holder}) is training {folder.path}; wait for it to finish, or stop it "
                f"(SIGTERM checkpoints it) and run this command again")

    with exclusive_lock(folder.file(RUN_LOCK), RUN_LOCK_WAIT_S, busy):
        if folder.is_done():  # finished by the process this one waited for
            return RunResult("already_done", folder.path, folder.read_done())
        return _train_locked(spec, config, folder, stop or threading.Event(), progress)


def _train_locked(spec: RunSpec, config: Config, folder: RunFolder, stop: threading.Event, progress: bool) -> RunResult:
    """`train_run` once the folder is checked and locked: restore, run, close."""
    trainer = _Trainer(spec, config, folder, stop, progress)
    try:
        ckpt = None
        if folder.has_checkpoint():
            ckpt = _read_checkpoint(folder.file(CHECKPOINT), trainer.device)
            trainer.restore(ckpt)
            print(f"{spec.game} seed {spec.seed} ({spec.algo}): resuming from step {trainer.c.step:,} of "
                  f"{config.train.steps:,} (checkpoint of {ckpt.get('saved_at', 'unknown time')})",
                  file=sys.stderr, flush=True)
        # Only now write: run.json, then the logs cut back to the checkpoint (to nothing without one).
        folder.start(spec, config, resumed_from_step=trainer.c.step if ckpt else None)
        folder.truncate_logs(ckpt["log_rows"] if ckpt else None)
        trainer.tensorboard = TensorBoardLog(folder.path, config.env.action_repeat,
                                             trainer.c.step if ckpt else None)
        del ckpt
        return trainer.run()
    finally:
        trainer.close()
