"""The learning-curve check: our runs' evaluations placed, step by step, among the published runs'
own evaluations at the same step.

A final score says where a run ended; its evaluations say how it got there. The shipped DER runs
(`analysis.baselines.baseline_eval_curves`) were each evaluated 10 times, after about every
10,000 training steps, on 100 episodes; with 100 runs per game the published spread at every
step is known. A run that learns faster or more slowly than the published ones stands out at
the steps where that spread is narrow, often long before its final score does, so even one or
two runs can show it (one final score of a run rarely can).

Per game and step: the published 5th, 25th, 50th, 75th and 95th percentiles (`np.percentile`,
linear interpolation), each of our runs' score and its mid-rank percentile among the published
runs (`analysis.rank_test.midrank_percentiles`: 0 = below every one, 100 = above every one),
and, per run, the median of its percentiles over the steps. Descriptive only: a run's
evaluations are not independent of each other, and an intermediate evaluation of ours averages
fewer episodes (`eval.episodes_during_training`, 10 by default) than a published one (100),
which spreads our per-run points wider than the published ones even for a faithful
reproduction. The steps compared are those both sides evaluated at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.rank_test import midrank_percentiles

QUANTILES = (5, 25, 50, 75, 95)
"""The published percentiles kept per step."""


@dataclass
class GameCurves:
    """One game: the published spread at each common step and our runs in it."""

    game: str
    steps: list[int]
    """Agent steps both sides evaluated at, ascending."""
    published_runs: int
    published: dict[int, list[float]]
    """q in QUANTILES -> the published runs' q-th percentile at each step."""
    ours: dict[int, list[float]]
    """Our seed -> its score at each step (NaN where the run has no evaluation there)."""
    percentiles: dict[int, list[float]]
    """Our seed -> its mid-rank percentile among the published runs at each step (NaN likewise)."""

    def median_percentile(self, seed: int) -> float:
        """The median of one run's percentiles over the steps it evaluated at (NaN if none)."""
        values = [p for p in self.percentiles[seed] if not np.isnan(p)]
        return float(np.median(values)) if values else float("nan")


@dataclass
class CurveCheck:
    """Every common game's curves, and how the points were obtained."""

    games: list[GameCurves]
    steps: list[int]
    """Every step compared in some game, ascending."""
    published_text: str
    ours_text: str


def build_curve_check(ours: pd.DataFrame, published: pd.DataFrame, games: list[str], published_text: str,
                      ours_text: str) -> CurveCheck | None:
    """Place every evaluation of ours among the published runs' evaluations at the same step.

    Args:
      ours, published: `game, seed, step, score`, one row per run and evaluation step.
      games: the games to compare, in order (the comparison's common games).
      published_text, ours_text: how each side's points were obtained (printed).
    Returns:
      CurveCheck, or None when no game has a step that both sides evaluated at before the last
      published one (a final score alone is the per-game check's business).
    """
    result = []
    for game in games:
        # pivot, not pivot_table: one row per (seed, step) is the input's contract; a duplicate raises.
        theirs = published[published["game"] == game].pivot(index="seed", columns="step", values="score")
        mine = ours[ours["game"] == game].pivot(index="seed", columns="step", values="score")
        steps = sorted(int(s) for s in set(theirs.columns) & set(mine.columns))
        if not steps or steps[0] >= max(theirs.columns):
            continue
        runs_at = [theirs[s].dropna().to_numpy() for s in steps]  # the published scores at each step
        spread = {q: [float(np.percentile(at, q)) for at in runs_at] for q in QUANTILES}
        scores, percentiles = {}, {}
        for seed, row in mine[steps].iterrows():
            values = [float(v) for v in row]
            scores[int(seed)] = values
            percentiles[int(seed)] = [float(midrank_percentiles([v], at)[0]) if not np.isnan(v) else float("nan")
                                      for v, at in zip(values, runs_at)]
        result.append(GameCurves(game, steps, int(len(theirs)), spread, scores, percentiles))
    if not result:
        return None
    steps = sorted({s for g in result for s in g.steps})
    return CurveCheck(result, steps, published_text, ours_text)
