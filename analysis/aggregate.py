"""Aggregate human-normalised scores with rliable (Agarwal et al. 2021).

Matrices are `[runs, games]` of HNS (1.0 = human). Point estimates are rliable's
`aggregate_*` metrics; 95% CIs are rliable's stratified bootstrap (percentile method).

Reproducibility: rliable's StratifiedBootstrap draws its resampling indices from NumPy's
*global* generator (`np.random.choice`), not from `random_state`; we therefore seed the global
generator with the same seed before each algorithm's bootstrap, so an algorithm's CI does not
depend on which other algorithms share the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.stats

from atari100k.errors import UsageError
from atari100k.text import counted

METRICS = ("iqm", "median", "mean", "optimality_gap")
METRIC_TITLES = {"iqm": "IQM", "median": "Median", "mean": "Mean", "optimality_gap": "Optimality Gap"}
DEFAULT_REPS = 2000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval."""

    value: float
    ci: tuple[float, float]

    def as_dict(self) -> dict:
        return {"value": float(self.value), "ci": [float(self.ci[0]), float(self.ci[1])]}


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all entries of `scores` [runs, games] (rliable.metrics.aggregate_iqm)."""
    from rliable import metrics
    return float(metrics.aggregate_iqm(scores))


def _all_metrics(scores: np.ndarray) -> np.ndarray:
    from rliable import metrics
    return np.array([
        metrics.aggregate_iqm(scores), metrics.aggregate_median(scores),
        metrics.aggregate_mean(scores), metrics.aggregate_optimality_gap(scores, gamma=1),
    ])


def score_matrix(final: pd.DataFrame, algorithm: str, games: Sequence[str], column: str = "hns",
                 notes: list[str] | None = None) -> np.ndarray:
    """The `[runs, games]` matrix of one algorithm's final scores.

    Args:
      final: final scores (`algorithm, game, seed, <column>`), one row per run and game.
      games: the column order; games without any run are dropped (the caller says so).
      notes: if given, receives a line when run counts differ between games.
    Returns:
      float array `[runs, games_present]`. With different run counts per game (ragged data,
      e.g. BBF's 52-60 runs) every game is truncated to the smallest count, keeping the runs
      in seed/file order, because rliable's stratified bootstrap needs a rectangular matrix.
    """
    rows = final[final["algorithm"] == algorithm]
    columns = [rows.loc[rows["game"] == g].sort_values("seed")[column].to_numpy(float) for g in games]
    columns = [c for c in columns if len(c)]
    if not columns:
        raise UsageError(f"{algorithm}: no scores on the selected games")
    counts = [len(c) for c in columns]
    n = min(counts)
    if notes is not None and max(counts) != n:
        notes.append(f"{algorithm}: {n}-{max(counts)} runs per game; aggregates use the first "
                     f"{counted(n, 'run')} of every game (rliable needs equal run counts); per-game cells use all runs")
    return np.stack([c[:n] for c in columns], axis=1)


def missing_pairs(final: pd.DataFrame, algorithm: str, games: Sequence[str]) -> list[tuple[str, int]]:
    """(game, seed) pairs absent for `algorithm`: every seed it has anywhere, on every game."""
    rows = final[final["algorithm"] == algorithm]
    seeds = sorted(set(rows["seed"]))
    have = set(zip(rows["game"], rows["seed"]))
    return [(g, s) for g in games for s in seeds if (g, s) not in have]


def interval_estimates(matrices: dict[str, np.ndarray], reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED,
                       confidence: float = 0.95) -> dict[str, dict[str, Estimate]]:
    """IQM, median, mean and optimality gap (gamma = 1) with stratified bootstrap CIs.

    Args:
      matrices: algorithm -> HNS matrix `[runs, games]` (run counts may differ between
        algorithms: each is bootstrapped on its own).
      reps: bootstrap replications; seed: seeds NumPy's global generator per algorithm.
      confidence: the CI level (0.95 = 95% percentile interval).
    Returns:
      algorithm -> {metric: Estimate} for metric in METRICS.
    """
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"--confidence must be between 0 and 1 (e.g. 0.95), not {confidence:g}")
    from rliable import library as rly

    out = {}
    for algorithm, scores in matrices.items():
        np.random.seed(seed)
        points, intervals = rly.get_interval_estimates(
            {algorithm: scores}, _all_metrics, reps=reps, confidence_interval_size=confidence)
        point, ci = points[algorithm], intervals[algorithm]
        out[algorithm] = {m: Estimate(float(point[i]), (float(ci[0, i]), float(ci[1, i])))
                          for i, m in enumerate(METRICS)}
    return out


def per_game_mean_cis(matrix_by_game: dict[str, np.ndarray], reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED,
                      confidence: float = 0.95) -> dict[str, tuple[float, float]]:
    """Bootstrap CI (level `confidence`, default 95%) of the mean raw score of each game (runs resampled
    within the game).

    Args:
      matrix_by_game: game -> 1-D array of run scores (lengths may differ).
    Returns:
      game -> (low, high).
    """
    from rliable import library as rly

    out = {}
    for game, runs in matrix_by_game.items():
        np.random.seed(seed)
        _, ci = rly.get_interval_estimates({game: np.asarray(runs, float)[:, None]},
                                           lambda s: np.array([np.mean(s)]), reps=reps,
                                           confidence_interval_size=confidence)
        out[game] = (float(ci[game][0, 0]), float(ci[game][1, 0]))
    return out


def games_above_human(scores: np.ndarray) -> int:
    """Number of games whose mean HNS over runs is >= 1 (`scores` [runs, games])."""
    return int(np.sum(np.mean(scores, axis=0) >= 1.0))


def probability_of_improvement(pairs: dict[str, tuple[np.ndarray, np.ndarray]], reps: int = DEFAULT_REPS,
                               seed: int = DEFAULT_SEED, confidence: float = 0.95) -> dict[str, Estimate]:
    """P(X > Y) averaged over games, with stratified independent bootstrap CIs.

    Args:
      pairs: "X,Y" -> (HNS of X `[runs_x, games]`, HNS of Y `[runs_y, games]`), same games in
        the same order; run counts may differ (rliable resamples each independently).
    Returns:
      "X,Y" -> Estimate.
    """
    from rliable import library as rly

    from analysis.rank_test import improvement_probability

    out = {}
    for key, (x, y) in pairs.items():
        np.random.seed(seed)
        # rliable's bootstrap of its own statistic, computed vectorised (rliable's loops over games
        # through scipy's Mann-Whitney U: same values, ~50x slower for all-pairs figures).
        points, intervals = rly.get_interval_estimates({key: [x, y]}, improvement_probability, reps=reps,
                                                       confidence_interval_size=confidence)
        ci = intervals[key]
        out[key] = Estimate(float(points[key]), (float(np.ravel(ci[0])[0]), float(np.ravel(ci[1])[0])))
    return out


def performance_profiles(matrices: dict[str, np.ndarray], taus: np.ndarray, reps: int = DEFAULT_REPS,
                         seed: int = DEFAULT_SEED, confidence: float = 0.95
                         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run-score distributions: fraction of runs with HNS > tau, with bootstrap CIs.

    Returns:
      (profiles, cis): algorithm -> `[len(taus)]`, algorithm -> `[2, len(taus)]`.
    """
    from rliable import library as rly

    profiles, cis = {}, {}
    for algorithm, scores in matrices.items():
        np.random.seed(seed)
        p, c = rly.create_performance_profile({algorithm: scores}, taus, reps=reps,
                                              confidence_interval_size=confidence)
        profiles[algorithm], cis[algorithm] = p[algorithm], c[algorithm]
    return profiles, cis


def iqm_curve(scores: np.ndarray, reps: int = DEFAULT_REPS, seed: int = DEFAULT_SEED, confidence: float = 0.95
              ) -> tuple[np.ndarray, np.ndarray]:
    """IQM at each point of a learning curve, with stratified bootstrap CIs.

    Args:
      scores: HNS `[runs, games, points]`.
    Returns:
      (iqm `[points]`, ci `[2, points]`).
    """
    from rliable import library as rly

    def per_point(s: np.ndarray) -> np.ndarray:
        # Equals rliable's aggregate_iqm at each point, in one vectorised call.
        return scipy.stats.trim_mean(s.reshape(-1, s.shape[-1]), proportiontocut=0.25, axis=0)

    np.random.seed(seed)
    points, intervals = rly.get_interval_estimates({"curve": scores}, per_point, reps=reps,
                                                   confidence_interval_size=confidence)
    return np.asarray(points["curve"]), np.asarray(intervals["curve"])
