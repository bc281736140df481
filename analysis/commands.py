"""CLI verbs of `analysis/` (registered by atari100k.cli). Heavy imports stay inside handlers."""

from __future__ import annotations

import argparse
import sys

DEFAULT_REPS = 2000  # keep equal to analysis.aggregate.DEFAULT_REPS (not imported: keeps --help fast)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUTS",
                        help="run folders, sweep folders (searched for run.json + eval.csv) or long CSVs "
                             "(algorithm,game,seed[,step],score; raw scores, step in agent steps)")
    parser.add_argument("--baselines", default="",
                        help="shipped baselines to compare with, e.g. DER,OTRainbow,IQN (or 'all'); "
                             "see `atari100k baselines`")
    parser.add_argument("--name", action="append", default=[],
                        help="algorithm name for the inputs: once for all, or once per input "
                             "(default for run folders: by run.json's spec.algo, 'DreamerV2 (ours)', "
                             "'DER (ours)' or 'IQN (ours)')")
    parser.add_argument("--step", type=int, default=None,
                        help="score runs at this agent step instead of their last evaluation")
    parser.add_argument("--allow-partial", action="store_true",
                        help="aggregate despite missing (game, seed) pairs or unfinished runs (said under the table)")
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS,
                        help=f"stratified bootstrap replications (default {DEFAULT_REPS})")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")


def register(verbs: argparse._SubParsersAction) -> None:
    """Add this package's verbs to the `atari100k` parser."""
    table = verbs.add_parser("table", help="score table with human-normalised aggregates (rliable)",
                             description="Per-game scores, IQM/median/mean/optimality gap with 95%% stratified "
                                         "bootstrap CIs, next to shipped baselines; the protocol is printed under it.")
    _add_common(table)
    table.add_argument("--format", choices=("markdown", "latex", "csv", "json"), default="markdown")
    table.add_argument("--ci", action="store_true", help="per-game cells: 95%% bootstrap CI of the mean, not std")
    table.add_argument("--out", default=None, help="write to this file (atomically) instead of stdout")
    table.set_defaults(handler=table_command)

    plot = verbs.add_parser("plot", help="paper figures (PNG + PDF): aggregates, profiles, P(improvement), curves",
                            description="Regenerate the rliable figures from run folders, CSVs and baselines.")
    _add_common(plot)
    plot.add_argument("--out", required=True, help="folder for the figures")
    plot.set_defaults(handler=plot_command)

    baselines = verbs.add_parser("baselines", help="list the shipped published baselines",
                                 description="What is shipped: algorithm, runs per game, budget, protocol, source.")
    baselines.add_argument("--games", action="store_true", help="list the canonical game names instead")
    baselines.add_argument("--format", choices=("markdown", "csv", "json"), default="markdown")
    baselines.set_defaults(handler=baselines_command)


def _load(args: argparse.Namespace):
    from analysis.baselines import parse_baselines
    from analysis.scores import load_inputs
    from atari100k.errors import UsageError

    baselines = parse_baselines(args.baselines)
    if not args.inputs and not baselines:
        raise UsageError("no inputs: give run folders, sweep folders or CSVs, or --baselines DER,OTRainbow")
    if args.step is not None and args.step < 0:
        raise UsageError("--step must be >= 0")
    return load_inputs(args.inputs, args.name), baselines


def table_command(args: argparse.Namespace) -> int:
    """`atari100k table`: build, render, print or write atomically."""
    from analysis.table import build_table, render_table
    from atari100k.fileio import atomic_write_text

    data, baselines = _load(args)
    table = build_table(data, baselines, step=args.step, allow_partial=args.allow_partial,
                        reps=args.reps, seed=args.seed, ci=args.ci)
    text = render_table(table, args.format)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out} ({args.format}, {len(table.games)} games, {len(table.algorithms)} algorithms)")
    else:
        sys.stdout.write(text)
    return 0


def plot_command(args: argparse.Namespace) -> int:
    """`atari100k plot`: every figure as PNG and PDF under --out."""
    from analysis.figures import make_figures

    data, baselines = _load(args)
    written = make_figures(data, baselines, args.out, step=args.step, allow_partial=args.allow_partial,
                           reps=args.reps, seed=args.seed)
    for path in written:
        print(path)
    return 0


def baselines_command(args: argparse.Namespace) -> int:
    """`atari100k baselines`: the shipped catalog (or the game names)."""
    import json

    from analysis.baselines import catalog_rows
    from atari100k.games import ALL_GAMES, ATARI100K_GAMES

    if args.games:
        for game in ALL_GAMES:
            print(f"{game}{'  (Atari 100k)' if game in ATARI100K_GAMES else ''}")
        return 0
    rows = catalog_rows()
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        import csv
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        cols = ["key", "runs_per_game", "games", "budget", "sticky_actions", "score", "source"]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r[c]) for c in cols) + " |")
        print("\nHuman/random scores: 57 games, rliable's table (MuZero paper; Mnih et al. 2015 / Badia et al. 2020). "
              "Sources and licences: analysis/data/SOURCES.md.")
    return 0
