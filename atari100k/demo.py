"""`atari100k demo`: the quick start's main job on an embedded default.

A small local sweep (DreamerV2, 2 games x 2 seeds of the `debug` preset, no cluster), then
the score table and the paper figures against DER and OTRainbow. It chains the public verbs
exactly as a user would type them, so it exercises the same code paths:

    atari100k sweep --name demo --algos dreamerv2 --games Pong,Breakout --seeds 2 --preset debug --executor local ...
    atari100k table results/demo --name 'DreamerV2 debug preset (pipeline check)' \
        --baselines DER,OTRainbow --out results/demo/table.md
    atari100k plot  results/demo --name ... --baselines DER,OTRainbow --out results/demo/figures

`--algos dreamerv2,der` adds our DER: the table and figures then get one input per
algorithm, `results/demo/<algo>`, each with its own --name (a DER debug run takes a few
times longer than a DreamerV2 one). Re-running it resumes or skips
finished runs (the sweep is idempotent).
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_GAMES = "Pong,Breakout"
DEFAULT_ALGOS = "dreamerv2"


def named_inputs(out: str, algos: str) -> list[str]:
    """Table/plot inputs and names: the sweep folder for one algorithm (whatever its layout,
    e.g. a demo folder from before `--algos`), else each algorithm's `<out>/<algo>` with its own --name."""
    from agent.algorithms import get_algorithm

    names = [a.strip() for a in algos.split(",") if a.strip()]
    labels = [f"{get_algorithm(algo).label} debug preset (pipeline check)" for algo in names]
    inputs = [out] if len(names) == 1 else [str(Path(out) / algo) for algo in names]
    return inputs + [arg for label in labels for arg in ("--name", label)]


def demo_commands(args: argparse.Namespace) -> list[list[str]]:
    """The verbs the demo runs, in order, as argument lists for `atari100k.cli.main`."""
    out = args.out  # as given: the sweep refuses an empty or unusable --out (str(Path("")) would be ".")
    sweep = [
        "sweep", "--name", "demo", "--algos", args.algos, "--games", args.games, "--seeds", str(args.seeds),
        "--preset", "debug", "--executor", "local", "--out", out,
    ]
    if args.steps:
        sweep += ["--steps", str(args.steps)]
    if args.max_parallel:
        sweep += ["--max-parallel", str(args.max_parallel)]
    inputs = named_inputs(out, args.algos)
    table = ["table", *inputs, "--baselines", args.baselines, "--out", str(Path(out) / "table.md")]
    plot = ["plot", *inputs, "--baselines", args.baselines, "--out", str(Path(out) / "figures")]
    return [sweep, table, plot]


def run_demo(args: argparse.Namespace) -> int:
    """The `demo` verb: sweep, then table, then figures; stops at the first failing step."""
    from atari100k.cli import main

    commands = demo_commands(args)  # an unknown --algos is a UsageError before anything runs
    print(
        f"atari100k demo: a local sweep ({args.algos}) of the `debug` preset (small networks, a few hundred\n"
        f"agent steps) on {args.games} x {args.seeds} seeds, then the score table and figures. It checks the\n"
        "whole pipeline on this machine in minutes; its scores are NOT Atari 100k results (use --preset\n"
        "atari100k for those).\n"
    )
    for command in commands:
        print(f"$ atari100k {' '.join(_quote(c) for c in command)}", flush=True)
        code = main(command)
        if code != 0:
            print(f"atari100k demo: `atari100k {command[0]}` exited with {code}; stopping")
            return code
        if command[0] == "table":
            print((Path(args.out) / "table.md").read_text())
    print(f"\nDone. Table: {Path(args.out) / 'table.md'}; figures: {Path(args.out) / 'figures'}/")
    return 0


def _quote(text: str) -> str:
    return f"'{text}'" if " " in text else text


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the `demo` verb."""
    parser = verbs.add_parser("demo", help="quick start: small local sweep, then table and figures")
    parser.add_argument("--out", default="results/demo", help="sweep folder (default results/demo)")
    parser.add_argument("--algos", default=DEFAULT_ALGOS,
                        help=f"algorithms, e.g. dreamerv2,der (default {DEFAULT_ALGOS})")
    parser.add_argument("--games", default=DEFAULT_GAMES, help=f"games (default {DEFAULT_GAMES})")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per game (default 2)")
    parser.add_argument("--steps", type=int, default=0, help="agent steps per run (default: the debug preset's)")
    parser.add_argument("--max-parallel", type=int, default=0, help="concurrent runs (default: what fits)")
    parser.add_argument("--baselines", default="DER,OTRainbow", help="published baselines to compare with")
    parser.set_defaults(handler=run_demo)
