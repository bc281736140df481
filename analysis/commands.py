"""CLI verbs of `analysis/` (registered by atari100k.cli). Heavy imports stay inside handlers."""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from atari100k.text import counted

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
                             description="Per-game scores, IQM/median/mean/optimality gap with stratified "
                                         "bootstrap CIs, next to shipped baselines. Every column's protocol is "
                                         "compared with the first column's: a column that differs is marked, never "
                                         "bold, and each difference is a note; every protocol field is printed "
                                         "under the table.")
    _add_common(table)
    table.add_argument("--format", choices=("markdown", "latex", "csv", "json"), default="markdown",
                       help="csv and json also hold every run's score and every protocol field (a csv export "
                            "can be given back as an input)")
    table.add_argument("--ci", action="store_true", help="per-game cells: bootstrap CI of the mean, not std")
    table.add_argument("--runs", type=int, default=None, metavar="N",
                       help="only the first N runs per game of every column (by seed; published runs in file "
                            "order), as papers with fewer runs report (SPR's median 0.415: --runs 10)")
    table.add_argument("--games", default=None,
                       help="only these games, e.g. Pong,Breakout (aliases allowed; 'atari100k' = the 26)")
    table.add_argument("--confidence", type=float, default=0.95, metavar="LEVEL",
                       help="level of every confidence interval (default 0.95)")
    table.add_argument("--protocol", action="append", default=[], metavar="KEY=VALUE",
                       help="protocol of the CSV inputs, field by field (overrides a <file>.protocol.json "
                            "sidecar), e.g. sticky_action_prob=0.25, budget_steps=100000, evaluation=final; "
                            "keys: see README")
    table.add_argument("--out", default=None, help="write to this file (atomically) instead of stdout")
    table.set_defaults(handler=table_command)

    plot = verbs.add_parser("plot", help="paper figures (PNG + PDF): aggregates, profiles, P(improvement), curves",
                            description="Regenerate the rliable figures from run folders, CSVs and baselines, "
                                        "camera-ready at one- or two-column width (TrueType fonts in PDFs). "
                                        "Learning curves (Dopamine's Rainbow, IQN, DQN, C51; DreamerV2's own "
                                        "published curves) appear only when named in --baselines.")
    _add_common(plot)
    plot.add_argument("--out", required=True, help="folder for the figures")
    plot.add_argument("--width", choices=("single", "double"), default="double",
                      help="printed width: one column (3.25 in) or two columns (6.75 in) of a two-column paper; "
                           "fonts are >= 7 pt at that size (default double)")
    plot.add_argument("--confidence", type=float, default=0.95, metavar="LEVEL",
                      help="level of every confidence interval (default 0.95), as `table --confidence`")
    plot.add_argument("--poi", choices=("first", "all-pairs"), default="first",
                      help="probability of improvement: the first algorithm against each other one (default), "
                           "or every pair")
    plot.set_defaults(handler=plot_command)

    compare = verbs.add_parser(
        "compare", help="reproduction check: our runs against a published algorithm, per game and overall",
        description="Place our runs' final scores in the published per-run distribution of ALGO, game by game "
                    "(percentiles, exact two-sided rank-sum test at level 0.05), and overall (IQM of HNS and "
                    "P(ours > published) with stratified bootstrap CIs: 'reproduced' when that CI contains 0.5). "
                    "Protocols are compared first; a difference refuses the comparison unless allowed.")
    compare.add_argument("inputs", nargs="+", metavar="OURS",
                         help="run folders, sweep folders or a long CSV (algorithm,game,seed[,step],score), as `table`")
    compare.add_argument("--against", required=True, metavar="ALGO",
                         help="a shipped baseline (e.g. DER; see `atari100k baselines`) or another input path")
    compare.add_argument("--name", action="append", default=[],
                         help="name for OURS (as `table --name`: once for all inputs, or once per input)")
    compare.add_argument("--algorithm", default=None,
                         help="which algorithm of OURS when it holds several (label such as 'DER (ours)', or 'der'; "
                              "default: the one of ALGO's algorithm, e.g. DER (ours) --against DER)")
    compare.add_argument("--against-name", default=None, help="name for ALGO when it is a path")
    compare.add_argument("--against-algorithm", default=None,
                         help="which algorithm of ALGO when it is a path holding several")
    compare.add_argument("--allow-protocol-mismatch", action="store_true",
                         help="compare despite protocol differences (every difference is printed)")
    compare.add_argument("--protocol", action="append", default=[], metavar="KEY=VALUE",
                         help="protocol of OURS when it is a CSV, field by field (as `table --protocol`; overrides "
                              "its <file>.protocol.json sidecar)")
    compare.add_argument("--allow-partial", action="store_true",
                         help="score unfinished runs at their latest evaluation (their budget then differs)")
    compare.add_argument("--format", choices=("markdown", "json"), default="markdown")
    compare.add_argument("--out", default=None, help="write to this file (atomically) instead of stdout")
    compare.add_argument("--figure", default=None, metavar="PATH",
                         help="also draw the per-game figure (.png, .pdf or .svg)")
    compare.add_argument("--curve-figure", default=None, metavar="PATH",
                         help="also draw the learning-curve figure: our runs' evaluations in the published runs' "
                              "own at the same steps (DER ships them; .png, .pdf or .svg)")
    compare.add_argument("--reps", type=int, default=DEFAULT_REPS,
                         help=f"stratified bootstrap replications (default {DEFAULT_REPS})")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    compare.set_defaults(handler=compare_command)

    baselines = verbs.add_parser("baselines", help="list the shipped published baselines",
                                 description="What is shipped: algorithm, runs per game, budget, protocol, source.")
    baselines.add_argument("--games", action="store_true", help="list the canonical game names instead")
    baselines.add_argument("--format", choices=("markdown", "csv", "json"), default="markdown")
    baselines.set_defaults(handler=baselines_command)


def _load(args: argparse.Namespace, protocol: dict | None = None):
    """The checked `--step`, `--baselines` and inputs of `table` / `plot`: (loaded inputs, baselines)."""
    from analysis.baselines import parse_baselines
    from analysis.scores import load_inputs
    from atari100k.errors import UsageError

    if args.step is not None and args.step < 0:
        raise UsageError("--step must be >= 0")
    baselines = parse_baselines(args.baselines)
    if not args.inputs and not baselines:
        raise UsageError("no inputs: give run folders, sweep folders or CSVs, or --baselines DER,OTRainbow")
    return load_inputs(args.inputs, args.name, protocol), baselines


def table_command(args: argparse.Namespace) -> int:
    """`atari100k table`: build, render, print or write atomically."""
    from analysis.output import check_not_an_input
    from atari100k.outpaths import check_output_path
    from analysis.protocol import parse_protocol_items
    from analysis.table import build_table, render_table
    from atari100k.errors import UsageError
    from atari100k.games import resolve_games

    # Every refusal comes before any work: the output path, then the options, then the inputs.
    if args.out:
        check_output_path(args.out, "--out")
        check_not_an_input(args.out, args.inputs, "--out")
    if args.reps < 1:
        raise UsageError("--reps must be >= 1")
    if args.runs is not None and args.runs < 1:
        raise UsageError("--runs must be >= 1")
    if not 0.0 < args.confidence < 1.0:
        raise UsageError(f"--confidence must be between 0 and 1 (e.g. 0.95), not {args.confidence:g}")
    games = resolve_games(args.games) if args.games is not None else None
    data, baselines = _load(args, parse_protocol_items(args.protocol))
    table = build_table(data, baselines, step=args.step, allow_partial=args.allow_partial, reps=args.reps,
                        seed=args.seed, ci=args.ci, runs=args.runs, games=games, confidence=args.confidence)
    _write_or_print(render_table(table, args.format), args.out,
                    f"{args.format}, {counted(len(table.games), 'game')}, "
                    f"{counted(len(table.algorithms), 'algorithm')}")
    return 0


def _write_or_print(text: str, out: str | None, summary: str) -> None:
    """`text` to `out` atomically (then one 'wrote OUT (summary)' line), or to stdout without --out."""
    from analysis.output import writing
    from atari100k.fileio import atomic_write_text

    if not out:
        sys.stdout.write(text)
        return
    with writing(out, "--out"):
        atomic_write_text(out, text)
    print(f"wrote {out} ({summary})")


def plot_command(args: argparse.Namespace) -> int:
    """`atari100k plot`: every figure as PNG and PDF under --out."""
    from analysis.figures import make_figures
    from analysis.output import check_not_an_input, writing
    from atari100k.outpaths import check_output_folder

    check_output_folder(args.out, "--out")
    check_not_an_input(args.out, args.inputs, "--out")
    data, baselines = _load(args)
    with writing(args.out, "--out"):
        written = make_figures(data, baselines, args.out, step=args.step, allow_partial=args.allow_partial,
                               reps=args.reps, seed=args.seed, width=args.width, poi=args.poi,
                               confidence=args.confidence)
    for path in written:
        print(path)
    return 0


def compare_command(args: argparse.Namespace) -> int:
    """`atari100k compare`: check output paths, load both sides, compare, print or write atomically."""
    from analysis.compare import build_comparison, side_from_inputs, side_from_spec
    from analysis.compare_report import (FIGURE_SUFFIXES, check_curve_figure, comparison_figure, curve_figure,
                                         render_comparison)
    from analysis.output import check_not_an_input, writing
    from atari100k.outpaths import check_output_path
    from analysis.protocol import parse_protocol_items
    from atari100k.errors import UsageError

    if args.reps < 1:
        raise UsageError("--reps must be >= 1")
    outputs = [(flag, path) for flag, path in (("--out", args.out), ("--figure", args.figure),
                                               ("--curve-figure", args.curve_figure)) if path]
    for flag, path in outputs:
        check_output_path(path, flag, None if flag == "--out" else FIGURE_SUFFIXES)
        check_not_an_input(path, [*args.inputs, args.against], flag)  # a baseline name is no path
    for (flag_a, a), (flag_b, b) in itertools.combinations(outputs, 2):
        if Path(a).resolve() == Path(b).resolve():
            raise UsageError(f"{flag_a} and {flag_b} name the same file")
    protocol = parse_protocol_items(args.protocol)
    against = side_from_spec(args.against, args.against_name, args.against_algorithm, args.allow_partial)
    ours = side_from_inputs(args.inputs, args.name, args.algorithm, args.allow_partial, protocol=protocol,
                            prefer=against.label)
    comparison = build_comparison(ours, against, reps=args.reps, seed=args.seed,
                                  allow_protocol_mismatch=args.allow_protocol_mismatch)
    if args.curve_figure:
        check_curve_figure(comparison)  # before anything is written
    text = render_comparison(comparison, args.format)
    if args.curve_figure:
        with writing(args.curve_figure, "--curve-figure"):
            curve_figure(comparison, args.curve_figure)
    if args.figure:
        with writing(args.figure, "--figure"):
            comparison_figure(comparison, args.figure)
    _write_or_print(text, args.out, f"{args.format}, {counted(len(comparison.games), 'game')}, verdict: "
                                    f"{comparison.verdict or 'none (too few runs)'}")
    for path in (args.figure, args.curve_figure):
        if path:
            print(f"wrote {path}", file=sys.stderr if not args.out else sys.stdout)
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
        cols = ["key", "runs_per_game", "games", "budget", "sticky_actions", "evaluation", "frames", "score",
                "source"]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r[c]) for c in cols) + " |")
        print("\nevaluation / frames: what a run's score is and the frames it covers, as a table column at 100k "
              "steps (curves: their first 1M-frame point, Dopamine iteration 0); every protocol field: --format "
              "json or csv, column protocol.")
        print("Human/random scores: 57 games, rliable's table (MuZero paper; Mnih et al. 2015 / Badia et al. 2020). "
              "Sources and licences: analysis/data/SOURCES.md.")
    return 0
