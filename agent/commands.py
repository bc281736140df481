"""CLI verbs of `agent/` (registered by atari100k.cli). Heavy imports stay inside handlers.

`atari100k train GAME --seed S [--algo dreamerv2|der|iqn] [--preset P ...] [--set k=v ...] [--steps N] [--out DIR]`
trains one run into its folder. Killed or preempted, the same command resumes it.

Exit codes: 0 finished (or already finished), 2 bad input, and after a signal asked it to
stop (it checkpoints first) 128 + the signal number: 143 SIGTERM, 140 SIGUSR2, 130 SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from atari100k.suggest import budget_arg
from atari100k.text import counted

STOP_SIGNALS = ("SIGTERM", "SIGUSR2", "SIGINT")


def register(verbs: argparse._SubParsersAction) -> None:
    """Add this package's verbs to the `atari100k` parser."""
    train = verbs.add_parser(
        "train",
        help="train one (game, seed) into its run folder; re-run the same command to resume",
        description="Train one algorithm (DreamerV2 by default, DER or IQN) on one game and seed. On SIGTERM/SIGUSR2/Ctrl-C it checkpoints "
        "and exits 128+signal (143/140/130); killed any other way it keeps its last checkpoint. "
        "The same command resumes it exactly.",
    )
    train.add_argument("game", help="game name, e.g. Pong or MsPacman (aliases like ms_pacman work)")
    train.add_argument("--seed", type=int, required=True, help="seed of everything random in the run")
    train.add_argument("--algo", default="dreamerv2", metavar="ALGO",
                       help="the learner: dreamerv2 (default), der (Data-Efficient Rainbow) or iqn")
    train.add_argument("--preset", action="append", default=None, metavar="P",
                       help="config presets, stacked in order (default: atari100k); e.g. --preset atari100k,debug")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                       help="config override, e.g. --set train.batch_size=8 (repeatable)")
    train.add_argument("--steps", type=budget_arg, default=None,
                       help="budget in agent steps, e.g. 100000, 1e5 or 100k (overrides train.steps)")
    train.add_argument("--out", default=None, metavar="DIR",
                       help="run folder (default: results/train/<algo>/<Game>/seed_<S>)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=run_train)


def default_run_dir(algo: str, game: str, seed: int) -> Path:
    """`results/train/<algo>/<Game>/seed_<S>` (relative to the working directory)."""
    return Path("results") / "train" / algo / game / f"seed_{seed}"


def describe_result(game: str, seed: int, run: dict[str, Any], done: dict[str, Any]) -> str:
    """One line saying what the final score is and how it was obtained.

    `run` is run.json's content (its config), `done` DONE's.
    """
    env = run["config"]["env"]
    algo = run["spec"].get("algo", "dreamerv2")
    described = run.get("protocol", {}).get("eval_policy") or run["config"]["eval"]["policy"]
    policy = {"mode": "greedy policy", "sample": "sampled policy"}.get(described, described)
    frames = done["frames"]
    frames_text = f"{frames // 1000:,}k frames" if frames >= 10_000 and frames % 1000 == 0 else f"{frames:,} frames"
    return (
        f"{game} seed {seed} ({algo}): eval return {done['eval_return_mean']:.1f} ± {done['eval_return_std']:.1f} "
        f"(mean ± std over {counted(done['eval_episodes'], 'episode')}, {policy}, after {done['step']:,} agent steps "
        f"= {frames_text}, sticky {env['sticky_action_prob']}, max {env['max_episode_frames']:,} frames "
        f"per episode)"
    )


def run_train(args: argparse.Namespace) -> int:
    """Handler of `atari100k train`."""
    from agent.spec import RunSpec
    from agent.run_folder import RunFolder
    from atari100k.outpaths import refuse_empty_path

    spec = RunSpec.make(args.game, args.seed, args.preset, args.overrides, args.steps, algo=args.algo)
    if args.out is not None:
        refuse_empty_path(args.out, "--out")
    out = Path(args.out) if args.out else default_run_dir(spec.algo, spec.game, spec.seed)
    folder = RunFolder(out)
    folder.check_compatible(spec, spec.config())
    if folder.is_done():
        print(f"already finished: {describe_result(spec.game, spec.seed, folder.read_run_json(), folder.read_done())}"
              f" [{out}]")
        return 0

    from agent.train import train_run

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            print(f"\natari100k train: {signal.Signals(signum).name} received, checkpointing at the next "
                  f"step boundary", file=sys.stderr, flush=True)
        stop.set()

    previous = {name: signal.signal(getattr(signal, name), on_signal) for name in STOP_SIGNALS}
    try:
        result = train_run(spec, out, stop=stop, progress=not args.no_progress)
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)
    if result.status == "interrupted":
        code = 128 + (received[0] if received else signal.SIGTERM)
        print(f"atari100k train: stopped at step {result.summary['step']:,} of {result.summary['budget_steps']:,}; "
              f"checkpoint saved in {out}; run the same command to resume (exit {code})", file=sys.stderr)
        return code
    prefix = "already finished: " if result.status == "already_done" else ""
    print(prefix + describe_result(spec.game, spec.seed, folder.read_run_json(), result.summary) + f" [{out}]")
    return 0
