"""The frame-axis figures: sample efficiency (IQM HNS vs frames) and per-game learning curves.

What is drawn where:
- inputs with evaluations during training are curves with a marker at every evaluation (a run
  evaluated once is one visible marker, with its CI or min-max as an error bar);
- final-score algorithms (published Atari 100k baselines, CSVs without steps) are one marker at
  their frame budget; markers sharing a budget are dodged horizontally so none hides another; a
  published baseline that ships its runs' evaluations during training (DER) is a curve of them
  (square markers): their IQM HNS with CIs on the sample-efficiency figure, their mean raw score
  per game on the learning curves;
- curve baselines (Dopamine agents: sticky actions 0.25, training returns; DreamerV2's own
  published curves: sticky actions 0.25, full action set) only when asked for (`--baselines
  Rainbow,IQN,DreamerV2`), each point at the frames where its 1M-frame iteration (bin) ends:
  never drawn over frames before it was measured. On the sample-efficiency figure they have
  their own log-frame panel (up to 200M frames); on the learning curves, the point the table
  uses is a marker at its frames (1M for a 400k-frame budget).

Each function returns an unsaved `Figure` and its caption. Artists carry a `gid`:
`curve:<algorithm>`, `final:<algorithm>`, and a curve baseline's `<family>:<algorithm>`
(`dopamine:IQN (Dopamine, 0-1M frames)`, `dreamerv2:DreamerV2 (Hafner et al., 0-1M frames)`).
"""

from __future__ import annotations

import re
import textwrap
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from analysis import aggregate as agg
from analysis.baselines import (DOPAMINE_ITERATION_FRAMES, FRAMES_PER_STEP, IQN_NOTE, Baseline, baseline_curves,
                                baseline_eval_curves, curve_label_at, curve_point_for)
from analysis.figure_style import (CompactFormatter, dodge, legend_columns, legend_height, log_ticks_text, new_figure,
                                   percent, plain)
from analysis.normalize import add_hns
from analysis.protocol import CURVE_PROTOCOLS, MARK
from analysis.scores import ScoreData
from analysis.table import ScoreTable
from atari100k.text import counted

DODGE_IN = 0.045
"""Horizontal distance between dodged markers, in inches on paper (a marker is 3-3.5 pt, 0.04-0.05 in)."""



def _frame_ticks(nbins: int = 3) -> MaxNLocator:
    """Frame ticks on round steps that hit the usual budgets (0, 200k, 400k rather than 150k, 300k)."""
    return MaxNLocator(nbins, steps=[1, 2, 4, 5, 10])


def curve_labels(table: ScoreTable, baselines: Sequence[Baseline]) -> dict[str, Baseline]:
    """Table label -> curve baseline (kind 'curve': Dopamine's, DreamerV2's own), for those asked for."""
    labels = {curve_label_at(b, curve_point_for(b, table.budget_frames)): b for b in baselines if b.kind == "curve"}
    return {label: b for label, b in labels.items() if label in table.algorithms}


def _budget(table: ScoreTable, algorithm: str) -> int:
    budget = table.protocols[algorithm].get("budget_frames")
    return int(budget) if isinstance(budget, (int, float)) else int(table.budget_frames)


def user_curves(data: ScoreData, table: ScoreTable) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """algorithm -> (steps, HNS `[runs, games, points]`) on the steps every run evaluated (>= 1)."""
    out = {}
    frame = data.frame[data.frame["game"].isin(table.games) & data.frame["step"].notna()]
    for algorithm, rows in frame.groupby("algorithm", sort=False):
        rows = add_hns(rows)
        common = None
        for _, run in rows.groupby(["game", "seed"]):
            common = set(run["step"]) if common is None else common & set(run["step"])
        steps = np.array(sorted(common or []))
        games = [g for g in table.games if (rows["game"] == g).any()]
        if not len(steps) or not games:
            continue
        runs = [sorted(set(rows.loc[rows["game"] == g, "seed"])) for g in games]
        n = min(len(r) for r in runs)
        cube = np.empty((n, len(games), len(steps)))
        for j, (g, seeds) in enumerate(zip(games, runs)):
            sub = rows[rows["game"] == g].set_index(["seed", "step"])["hns"]
            for i, s in enumerate(seeds[:n]):
                cube[i, j] = sub.loc[s].reindex(steps).to_numpy()
        out[algorithm] = (steps, cube)
    return out


def _published_eval_runs(table: ScoreTable, baseline: Baseline) -> pd.DataFrame | None:
    """The evaluations during training of the runs the table uses (all, or the first N with `--runs`)
    of a final-score baseline of the table that ships them (DER): `game, seed, step, score`, or None."""
    curves = baseline_eval_curves(baseline) if baseline.label in table.algorithms else None
    if curves is None:
        return None
    used = table.per_run.loc[table.per_run["algorithm"] == baseline.label, ["game", "seed"]]
    rows = curves.merge(used, on=["game", "seed"])
    return rows if len(rows) else None


def published_eval_cubes(table: ScoreTable, baselines: Sequence[Baseline]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Final-score baselines of the table that ship their runs' evaluations during training (DER):
    label -> (steps, HNS `[runs, games, points]`), over the table's games and the very runs its cells
    use, the first n of every game where their counts differ."""
    out = {}
    for b in baselines:
        rows = _published_eval_runs(table, b)
        if rows is None:
            continue
        rows = add_hns(rows)
        games = [g for g in table.games if (rows["game"] == g).any()]
        if not games:
            continue
        grids = [rows[rows["game"] == g].pivot(index="seed", columns="step", values="hns") for g in games]
        steps = sorted(set.intersection(*(set(grid.columns) for grid in grids)))
        n = min(len(grid) for grid in grids)
        out[b.label] = (np.array(steps), np.stack([grid[steps].to_numpy()[:n] for grid in grids], axis=1))
    return out


def published_eval_means(table: ScoreTable, baselines: Sequence[Baseline]) -> dict[str, tuple[pd.DataFrame, int]]:
    """Per game, the mean raw score of the runs the table uses at each of their evaluations during
    training (DER): label -> (DataFrame `game, step, score`, the fewest runs of any game)."""
    out = {}
    for b in baselines:
        rows = _published_eval_runs(table, b)
        if rows is not None:
            means = rows.groupby(["game", "step"], as_index=False)["score"].mean()
            out[b.label] = (means, int(rows.groupby("game")["seed"].nunique().min()))
    return out


def curve_cubes(baseline: Baseline, games: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """HNS cubes `[runs, games, points]` of one curve baseline, one per stretch of points with the same runs.

    rliable needs as many runs on every game. A run that stops early (DreamerV2: Breakout seeds 3, 8
    and 10 after 2M frames) leaves its game fewer runs from then on, so each point takes the first n
    runs (by seed) of every game that still has them, n the fewest over the games, as a table's
    aggregates do with ragged runs (`analysis.aggregate.score_matrix`); points are grouped into
    stretches that take the same runs. A complete curve (Dopamine: 5 seeds x 199 iterations) is one
    stretch of every seed. Points no run of some game reaches are left out.

    Returns:
      [(points, cube)] in point order: `points` the point indices (iterations from 0), `cube` HNS
      `[runs, games, len(points)]`.
    """
    rows = baseline_curves(baseline)
    rows = add_hns(rows[rows["game"].isin(games)])
    pivot = rows.pivot_table(index=["seed", "game"], columns="iteration", values="hns")
    seeds, points = sorted(rows["seed"].unique()), pivot.columns.to_numpy()
    full = pivot.reindex(pd.MultiIndex.from_product([seeds, list(games)])).to_numpy()
    full = full.reshape(len(seeds), len(games), len(points))
    present = ~np.isnan(full)
    chosen = []  # per point: for each game, the indices of the runs it takes
    for k in range(len(points)):
        have = [np.flatnonzero(present[:, j, k]) for j in range(len(games))]
        n = min(len(h) for h in have)
        chosen.append(tuple(tuple(h[:n]) for h in have) if n else None)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    start = 0
    for k in range(1, len(points) + 1):
        if k < len(points) and chosen[k] == chosen[start]:
            continue
        if chosen[start] is not None:
            runs = chosen[start]
            if all(r == tuple(range(len(seeds))) for r in runs):
                cube = full[:, :, start:k]
            else:
                cube = np.stack([full[list(r), j, start:k] for j, r in enumerate(runs)], axis=1)
            out.append((points[start:k], cube))
        start = k
    return out


def _runs_text(stretches: Sequence[tuple[np.ndarray, np.ndarray]], point_frames: int) -> str:
    """"5 seeds"; "8 seeds; 5 from 3M frames, 4 from 182M frames as runs stop early (...)"."""
    counts: list[tuple[int, int]] = []  # (frames where the count starts, runs)
    for points, cube in stretches:
        if not counts or counts[-1][1] != cube.shape[0]:
            counts.append(((int(points[0]) + 1) * point_frames, cube.shape[0]))
    text = counted(counts[0][1], 'seed')
    if len(counts) > 1:
        text += ("; " + ", ".join(f"{n} from {frames / 1e6:g}M frames" for frames, n in counts[1:])
                 + " as runs stop early (every game's first runs by seed)")
    return text


def _draw_curve(ax, x, y, lo, hi, color, gid: str, label: str | None = None, ls: str = "-",
                marker: str | None = "o") -> None:
    """A line with markers and a band; a single point gets an error bar instead of a band."""
    ax.plot(x, y, color=color, ls=ls, marker=marker, ms=3, lw=1.2, label=label, gid=gid)
    if len(x) == 1:
        # From low to high, not +- around the point: a percentile CI need not contain it.
        ax.vlines(x, lo, hi, color=color, lw=1)
    else:
        ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)


def _dodged(markers: dict[str, int], ends: set[int], lim: tuple[float, float], log: bool, panel_in: float
            ) -> dict[str, float]:
    """x of each marker: its budget, dodged DODGE_IN apart on paper among the markers sharing it
    (leaving the centre free when a curve ends there).

    Args:
      markers: algorithm -> frames (its budget); lim: the axis' x limits; panel_in: its width in inches.
    """
    out = {}
    step = DODGE_IN / panel_in  # a fraction of the axis
    for budget in sorted(set(markers.values())):
        names = [a for a, b in markers.items() if b == budget]
        for a, off in zip(names, dodge(len(names), step, keep_center=budget in ends)):
            out[a] = budget * (lim[1] / lim[0]) ** off if log else budget + off * (lim[1] - lim[0])
    return out


def _game_title(game: str, width: str) -> str:
    """A game's panel title, its words on two lines where one would be wider than a narrow panel."""
    if width == "double" or len(game) <= 12:
        return game
    return "\n".join(textwrap.wrap(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", game), 12))


def _budget_ticks(frames: Sequence[float], top: float, gap: float = 0.3) -> list[float]:
    """Ticks of a narrow frame axis: 0 and the budgets drawn (largest first), at least `gap` of the
    axis apart, so that labels such as 400k and 1000k never touch."""
    kept: list[float] = [0.0]
    for x in sorted(set(frames), reverse=True):
        if all(abs(x - k) >= gap * top for k in kept):
            kept.append(x)
    return sorted(kept)


def _linear_xmax(xmax: float, markers: dict[str, int], ends: set[int], panel_in: float) -> float:
    """The right x limit of a linear frame axis: room for the widest group of dodged markers."""
    crowd = max([sum(b == x for b in markers.values()) + (x in ends) for x in markers.values()] or [0])
    return xmax * (1.04 + crowd / 2 * DODGE_IN / panel_in)


def _linear_xlim(xmax: float, markers: dict[str, int], ends: set[int], panel_in: float) -> tuple[float, float]:
    """x limits of a linear frame axis: a little room left of 0 (a point at 0 frames stays
    visible off the spine) and right of the widest group of dodged markers."""
    top = _linear_xmax(xmax, markers, ends, panel_in)
    return -0.03 * top, top


def sample_efficiency_figure(data: ScoreData, table: ScoreTable, baselines: Sequence[Baseline], width: str,
                             colors: dict[str, tuple], reps: int, seed: int) -> tuple[Figure, str]:
    """IQM HNS vs frames with CIs (the table's level): inputs' curves, final-score baselines at their budget, and,
    when asked for, curve baselines (Dopamine's, DreamerV2's own) on a second, log-frame panel.

    Returns:
      (figure, caption). Panels: the inputs' frames (linear) and, with curve baselines, all
      frames (log); one legend for both.
    """
    # Inputs' evaluations, and the published runs' own evaluations where a final-score baseline ships them.
    evaluated = published_eval_cubes(table, baselines)
    curves = {a: (steps * FRAMES_PER_STEP, *agg.iqm_curve(cube, reps=reps, seed=seed, confidence=table.confidence), cube.shape[0])
              for a, (steps, cube) in {**user_curves(data, table), **evaluated}.items()}
    published = {}  # the curve baselines: label -> (baseline, frames, iqm, ci, runs text)
    for label, b in curve_labels(table, baselines).items():
        games = [g for g in table.games if (g, label) in table.cells]
        stretches = curve_cubes(b, games) if games else []
        if stretches:
            parts = [agg.iqm_curve(cube, reps=reps, seed=seed, confidence=table.confidence) for _, cube in stretches]
            points = np.concatenate([p for p, _ in stretches])
            iqm, ci = np.concatenate([i for i, _ in parts]), np.concatenate([c for _, c in parts], axis=1)
            published[label] = (b, (points + 1) * b.curves.point_frames, iqm, ci,
                               _runs_text(stretches, b.curves.point_frames))
    # One marker per final-score algorithm at its budget, and per input evaluated once: dodged.
    markers = {a: _budget(table, a) if a not in curves else int(curves[a][0][0]) for a in table.algorithms
               if a not in published and (a not in curves or len(curves[a][0]) == 1)}
    ends = {int(frames[-1]) for a, (frames, *_) in curves.items() if a not in markers}
    xs = [f for frames, *_ in curves.values() for f in frames] + list(markers.values())
    xmax = max(xs) if xs else min(int(frames[0]) for _, frames, *_ in published.values())

    panels = 2 if published else 1
    stacked = width == "single" and panels == 2
    fig = new_figure(width, (1.9 * panels) if stacked else 2.0)  # + the legend's height, below
    axes = list(fig.subplots(panels if stacked else 1, 1 if stacked else panels, squeeze=False).flat)
    panel_in = (fig.get_figwidth() / (1 if stacked else panels)) - 0.5
    lims = {False: _linear_xlim(xmax, markers, ends, panel_in),
            True: (min(xs + [DOPAMINE_ITERATION_FRAMES]) / 1.6, 2.4e8)}
    for ax, log in zip(axes, (False, True)):
        positions = _dodged(markers, ends, lims[log], log, panel_in)
        for a, (frames, iqm, ci, n) in curves.items():
            _draw_curve(ax, [positions[a]] if a in markers else frames, iqm, ci[0], ci[1], colors[a], f"curve:{a}",
                        f"{table.shown_label(a)} ({counted(n, 'run')})",
                        marker="s" if a in evaluated else "o")
        for a, x in positions.items():
            if a in curves:
                continue
            e = table.aggregates[a]["iqm"]
            ax.plot([x], [e.value], "s", ms=3.5, color=colors[a], label=f"{table.shown_label(a)} (final)",
                    gid=f"final:{a}")
            ax.vlines(x, *e.ci, color=colors[a], lw=1)
        for label, (b, frames, iqm, ci, _) in published.items():
            keep = np.ones(len(frames), bool) if log else frames <= lims[False][1]
            if keep.any():
                _draw_curve(ax, frames[keep], iqm[keep], ci[0][keep], ci[1][keep], colors[label],
                            f"{b.curves.name}:{label}",
                            f"{b.key} ({b.curves.wording})" + (f" {MARK}" if table.differences.get(label) else ""),
                            ls="--",
                            marker="o" if keep.sum() <= 20 else None)
        ax.set_ylabel("IQM HNS")
        plain(ax.yaxis)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(*lims[True])
            ax.xaxis.set_major_locator(LogLocator(numticks=6))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: log_ticks_text(v)))
            ax.set_xlabel("Frames (log scale)")
        else:
            ax.set_xlim(*lims[False])
            ax.xaxis.set_major_locator(_frame_ticks(5 if width == "double" or stacked else 4))
            ax.xaxis.set_major_formatter(CompactFormatter())
            ax.set_xlabel("Frames")
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc="outside upper center", ncols=legend_columns(list(seen), width))
    fig.set_figheight(fig.get_figheight() + legend_height(list(seen), width))
    caption = (f"IQM HNS vs frames over {counted(len(table.games), 'game')} with {percent(table.confidence)} "
               f"stratified bootstrap CIs "
               f"({reps} reps, seed {seed}); inputs on the steps every run evaluated (a marker per "
               f"evaluation); final-score algorithms as one marker at their budget, dodged horizontally "
               f"where they share it")
    for b in baselines:
        if b.label in evaluated:
            caption += (f"; {b.label}: its published runs' own evaluations during training (square markers; "
                        f"{b.eval_curves}, 100 episodes after each iteration of at least 10,000 agent steps), "
                        f"on the runs the table uses")
    for family in dict.fromkeys(b.curves for b, *_ in published.values()):
        members = [(b, runs) for b, *_, runs in published.values() if b.curves == family]
        runs = "; ".join(dict.fromkeys(r for _, r in members))
        caption += (f"; {family.text_name.format(keys=', '.join(b.key for b, _ in members))} "
                    f"({CURVE_PROTOCOLS[family.name].caption.format(runs=runs)}) at the frames where each "
                    f"{family.point} ends, on the log-frame panel and where they fall on the linear one")
    if any(b.key == "IQN" for b, *_ in published.values()):
        caption += f". IQN: {IQN_NOTE}"
    return fig, caption


def learning_curves_figure(data: ScoreData, table: ScoreTable, width: str, colors: dict[str, tuple],
                           baselines: Sequence[Baseline] = ()) -> tuple[Figure, str]:
    """Per-game raw evaluation return vs frames: inputs' mean over seeds (band: min-max); a final-score
    baseline that ships its runs' evaluations during training (DER) as their mean at each (square
    markers, no band); every other algorithm of the table as its mean final score at its budget
    (dodged); a curve baseline (in `baselines`) as its mean at the point the table uses, at that
    point's last frame.

    Returns:
      (figure, caption); one panel per game (6 columns at double width, 3 at single), one legend.
    """
    games = table.games
    ncol = min(len(games), 6 if width == "double" else 3)
    nrow = -(-len(games) // ncol)
    fig = new_figure(width, nrow * (1.05 if width == "double" else 0.95) + 0.25)  # + the legend's height, below
    axes = fig.subplots(nrow, ncol, squeeze=False, sharex=True)
    frame = data.frame[data.frame["step"].notna() & data.frame["game"].isin(games)]
    inputs = [a for a in table.algorithms if (frame["algorithm"] == a).any()]
    evaluated = published_eval_means(table, baselines)  # DER: a curve of its runs' mean, not a final marker
    finals = {a: _budget(table, a) for a in table.algorithms if a not in inputs and a not in evaluated}
    steps = {a: sorted(set(frame.loc[frame["algorithm"] == a, "step"])) for a in inputs}
    # One marker per final-score algorithm at its budget, and per input evaluated once: dodged.
    markers = {a: finals[a] if a in finals else int(steps[a][0] * FRAMES_PER_STEP) for a in table.algorithms
               if a in finals or (a in steps and len(steps[a]) == 1)}
    ends = {int(steps[a][-1] * FRAMES_PER_STEP) for a in inputs if a not in markers}
    published_ends = [int(means["step"].max() * FRAMES_PER_STEP) for means, _ in evaluated.values()]
    ends |= set(published_ends)
    input_frames = [int(frame["step"].max() * FRAMES_PER_STEP)] if len(frame) else []
    input_frames += published_ends
    xmax = max(input_frames + list(finals.values()) or [1])
    panel_in = fig.get_figwidth() / ncol - 0.3
    lim = _linear_xlim(xmax, markers, ends, panel_in)
    positions = _dodged(markers, ends, lim, False, panel_in)
    ticks = _budget_ticks(input_frames + list(finals.values()), lim[1])
    for ax, game in zip(axes.flat, games):
        rows = frame[frame["game"] == game]
        for a in inputs:
            by_step = rows[rows["algorithm"] == a].groupby("step")["score"]
            if not len(by_step):
                continue
            x = [positions[a]] if a in markers else by_step.mean().index.to_numpy() * FRAMES_PER_STEP
            _draw_curve(ax, x, by_step.mean().to_numpy(), by_step.min().to_numpy(), by_step.max().to_numpy(),
                        colors[a], f"curve:{a}")
        for a, (means, _) in evaluated.items():
            curve = means[means["game"] == game]
            if len(curve):
                ax.plot(curve["step"] * FRAMES_PER_STEP, curve["score"], color=colors[a], marker="s", ms=3,
                        lw=1.2, gid=f"curve:{a}")
        for a, x in positions.items():
            cell = table.cells.get((game, a))
            if cell and a in finals:
                ax.plot([x], [cell["mean"]], "s", ms=3, color=colors[a], gid=f"final:{a}")
        ax.set_title(_game_title(game, width), pad=2)
        ax.set_xlim(*lim)
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(CompactFormatter())
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_formatter(CompactFormatter(k_from=1e4))
    for ax in list(axes.flat)[len(games):]:
        fig.delaxes(ax)
    for ax in axes.flat[max(0, len(games) - ncol):len(games)]:
        ax.xaxis.set_tick_params(labelbottom=True)  # the lowest panel of each column shows the frames
    handles = [Line2D([], [], color=colors[a], marker="o", ms=3, lw=1.2) for a in inputs]
    labels = [table.shown_label(a) for a in inputs]
    handles += [Line2D([], [], color=colors[a], marker="s", ms=3, lw=1.2) for a in evaluated]
    labels += [f"{table.shown_label(a)} (mean of {counted(n, 'run')})" for a, (_, n) in evaluated.items()]
    handles += [Line2D([], [], color=colors[a], marker="s", ms=3, ls="") for a in finals]
    labels += [table.shown_label(a) if table.protocols[a].get("kind") == "curve" else f"{table.shown_label(a)} (final)"
               for a in finals]
    fig.legend(handles, labels, loc="outside upper center", ncols=legend_columns(labels, width))
    fig.set_figheight(fig.get_figheight() + legend_height(labels, width))
    fig.supxlabel("Frames")
    fig.supylabel("Raw game score")
    caption = ("per-game raw evaluation return vs frames: inputs as the mean over seeds at every evaluation "
               "(marker) with the min-max over seeds (band, or an error bar for a single evaluation); other "
               "algorithms as their mean final score at their frame budget, dodged horizontally where they share it")
    for b in baselines:
        if b.label in evaluated:
            caption += (f"; {b.label}: the mean over the runs the table uses of their own evaluations during "
                        f"training (square markers; {b.eval_curves}, 100 episodes after each iteration of at "
                        f"least 10,000 agent steps)")
    drawn = {b.curves.name for a, b in curve_labels(table, baselines).items() if a in finals}
    for name, curve in CURVE_PROTOCOLS.items():
        if name in drawn:
            caption += f"; {curve.marker_caption}"
    return fig, caption
