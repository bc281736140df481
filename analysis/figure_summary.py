"""The summary figures (Agarwal et al. 2021 style): aggregate interval estimates, performance
profiles and probability of improvement, drawn at a paper's column width.

Statistics come from `analysis.aggregate` (rliable); the drawing is our own, because rliable's
plotting helpers use fixed large fonts and outward spines that do not fit a 3.25 in column.
Each function returns an unsaved `Figure` and the caption for `figures.txt`. Artists carry a
`gid` naming what they show (`ci:<algorithm>`, `curve:<algorithm>`, `poi:0.5`...).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis import aggregate as agg
from analysis.figure_style import legend_columns, legend_height, new_figure, percent, plain, wrap
from analysis.table import ScoreTable

TAUS = np.linspace(0.0, 8.0, 81)
"""The usual Atari 100k profile range, tau in [0, 8] (shrunk when no run gets near 8)."""
POI_MODES = ("first", "all-pairs")


def _legend(fig: Figure, labels: Sequence[str], width: str) -> None:
    """The figure's legend: below the axes at single width (growing the figure), right of them at double."""
    if width == "single":
        fig.legend(loc="outside lower center", ncols=legend_columns(labels, width))
        fig.set_figheight(fig.get_figheight() + legend_height(labels, width))
    else:
        fig.legend(loc="outside right upper", ncols=1)


def aggregates_figure(table: ScoreTable, width: str, colors: dict[str, tuple]) -> tuple[Figure, str]:
    """IQM, median, mean and optimality gap of HNS with their CIs (the table's level), one panel per metric.

    Args:
      table: the score table (its `aggregates`).
      width: 'single' (2 x 2 panels) or 'double' (1 x 4 panels).
    Returns:
      (figure, caption). Each algorithm's CI is a bar (`gid` "ci:<algorithm>:<metric>"), its point
      estimate a black tick ("point:<algorithm>:<metric>"); the first algorithm is the top row.
    """
    algorithms = table.algorithms
    n = len(algorithms)
    labels = [wrap(table.shown_label(a), width, 20, 34) for a in algorithms]
    lines = max(label.count("\n") + 1 for label in labels)
    rows, cols = (2, 2) if width == "single" else (1, 4)
    row_height = 0.16 + 0.11 * (lines - 1)
    fig = new_figure(width, rows * (0.42 + row_height * n) + 0.2)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    for ax, metric in zip(axes.flat, agg.METRICS):
        for i, a in enumerate(algorithms):
            e, y = table.aggregates[a][metric], n - 1 - i
            # The edge keeps a CI narrower than the point tick visible in its colour.
            ax.barh(y, e.ci[1] - e.ci[0], left=e.ci[0], height=0.62, color=colors[a], alpha=0.8,
                    edgecolor=colors[a], lw=1.2, gid=f"ci:{a}:{metric}")
            ax.vlines(e.value, y - 0.2, y + 0.2, color="w", lw=2.2)  # a halo: the tick shows on dark bars
            ax.vlines(e.value, y - 0.2, y + 0.2, color="k", lw=0.9, gid=f"point:{a}:{metric}")
        ax.set_title(agg.METRIC_TITLES[metric])
        ax.set_yticks(range(n), labels[::-1])
        ax.set_ylim(-0.6, n - 0.4)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.use_sticky_edges = False  # bars pin the axis to their left end: the lowest CI (or a 1-run point) sat on it
        ax.margins(x=0.08)
        plain(ax.xaxis)
    fig.supxlabel("Human normalized score (HNS)")
    caption = (f"IQM, median, mean and optimality gap (gamma = 1; lower is better) of per-run HNS: bar = "
               f"{percent(table.confidence)} CI, tick = point estimate")
    return fig, caption


def profiles_figure(table: ScoreTable, width: str, colors: dict[str, tuple], reps: int, seed: int
                    ) -> tuple[Figure, str]:
    """Performance profiles: the fraction of runs with HNS > tau, with CI bands (the table's level).

    Returns:
      (figure, caption); each algorithm's line has `gid` "curve:<algorithm>", its band "ci:<algorithm>".
    """
    top = max(float(np.max(m)) for m in table.matrices.values())
    taus = np.linspace(0.0, float(np.clip(np.ceil(top * 1.1), 2.0, TAUS[-1])), len(TAUS))
    profiles, cis = agg.performance_profiles(table.matrices, taus, reps=reps, seed=seed,
                                             confidence=table.confidence)
    fig = new_figure(width, 2.2 if width == "single" else 2.4)
    ax = fig.subplots()
    for a in table.algorithms:
        ax.fill_between(taus, cis[a][0], cis[a][1], color=colors[a], alpha=0.25, lw=0, gid=f"ci:{a}")
        ax.plot(taus, profiles[a], color=colors[a], lw=1.2, label=table.shown_label(a), gid=f"curve:{a}")
    ax.set_xlim(0, taus[-1])
    ax.set_ylim(-0.02, 1.02)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    plain(ax.xaxis)
    ax.set_xlabel(r"Human normalized score $\tau$")
    ax.set_ylabel(r"Fraction of runs with HNS $> \tau$")
    _legend(fig, [table.shown_label(a) for a in table.algorithms], width)
    caption = (f"fraction of runs with HNS > tau, tau in [0, {taus[-1]:g}] ({len(taus)} points); "
               f"shaded: {percent(table.confidence)} CI")
    return fig, caption


def _games_of(table: ScoreTable, algorithm: str) -> list[str]:
    return [g for g in table.games if (g, algorithm) in table.cells]


def poi_pairs(table: ScoreTable, mode: str = "first") -> list[tuple[str, str]]:
    """The (X, Y) pairs drawn: 'first' = the first algorithm against each other one,
    'all-pairs' = every pair in table order; pairs not scored on the same games are left out."""
    if mode not in POI_MODES:
        raise ValueError(f"poi mode must be one of {', '.join(POI_MODES)}, not {mode!r}")
    algorithms = table.algorithms
    pairs = ([(algorithms[0], b) for b in algorithms[1:]] if mode == "first" else
             [(a, b) for i, a in enumerate(algorithms) for b in algorithms[i + 1:]])
    return [(a, b) for a, b in pairs if _games_of(table, a) == _games_of(table, b)]


def poi_figure(table: ScoreTable, width: str, colors: dict[str, tuple], mode: str, reps: int, seed: int
               ) -> tuple[Figure, str]:
    """P(X > Y) averaged over games, with CIs (the table's level), on [0, 1] with a dashed line at 0.5.

    Args:
      mode: 'first' or 'all-pairs' (see `poi_pairs`).
      reps: bootstrap replications.
    Returns:
      (figure, caption). One row per pair, "X vs. Y" written above its CI bar (`gid`
      "ci:X|Y", coloured as Y) and point tick ("point:X|Y"); the 0.5 line has `gid` "poi:0.5".
    """
    pairs = poi_pairs(table, mode)
    if not pairs:
        # Say which pairs were looked at: with 'first', another pair may share its games.
        why = ("two algorithms on the same games" if mode == "all-pairs" or len(table.algorithms) < 2 else
               f"another algorithm on the games of {table.algorithms[0]} (--poi all-pairs tries every pair)")
        fig = new_figure(width, 0.8)
        ax = fig.subplots()
        ax.text(0.5, 0.5, f"P(X > Y) needs {why}", ha="center", va="center", transform=ax.transAxes, wrap=True)
        ax.set_axis_off()
        return fig, f"not computed: P(X > Y) needs {why}"
    # Labels may hold commas ("IQN (Dopamine, 0-1M frames)"), so pairs are keyed "X|Y".
    estimates = agg.probability_of_improvement(
        {f"{x}|{y}": (table.matrices[x], table.matrices[y]) for x, y in pairs}, reps=reps, seed=seed,
        confidence=table.confidence)
    # The y axis is in inches from the top: each row is its label (wrapped to the width) over its bar.
    labels = [wrap(f"{table.shown_label(x)} vs. {table.shown_label(y)}", width, 52, 110) for x, y in pairs]
    rows, top = [], 0.0
    for label in labels:
        top += 0.05 + 0.115 * (label.count("\n") + 1)
        rows.append(-(top + 0.08))
        top += 0.17
    fig = new_figure(width, top + 0.38)
    ax = fig.subplots()
    for (x, y), label, row in zip(pairs, labels, rows):
        e = estimates[f"{x}|{y}"]
        ax.barh(row, e.ci[1] - e.ci[0], left=e.ci[0], height=0.1, color=colors[y], alpha=0.8,
                edgecolor=colors[y], lw=1.2, clip_on=False, gid=f"ci:{x}|{y}")
        ax.vlines(e.value, row - 0.035, row + 0.035, color="k", lw=0.9, clip_on=False, gid=f"point:{x}|{y}")
        # Out of the layout: a label may run past the axes' right end, not past the figure's.
        ax.text(0.0, row + 0.075, label, ha="left", va="bottom", transform=ax.get_yaxis_transform(),
                linespacing=1.1, in_layout=False, gid=f"label:{x}|{y}")
    ax.axvline(0.5, color="0.35", ls="--", lw=0.8, zorder=0.5, gid="poi:0.5")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-top, 0.0)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Probability of improvement P(X > Y)")
    which = "the first algorithm against each other one" if mode == "first" else "every pair"
    caption = (f"P(X > Y) for {which}, averaged over games (Mann-Whitney U per game); bar = "
               f"{percent(table.confidence)} stratified independent bootstrap CI, {reps} reps, seed {seed}; "
               f"dashed line: 0.5 (no difference)")
    return fig, caption
