"""The statistics of the reproduction check (`analysis.compare`), per game and over games.

- *percentile* of one run (`midrank_percentiles`) = mid-rank percentile, 100 * (published runs
  below it + 0.5 * published runs equal to it) / n; 0 = below every published run, 100 = above
  every one;
- *verdict* (`rank_sum_test`, `game_verdict`): a two-sided **exact rank-sum (Wilcoxon-Mann-Whitney)
  test** of our k runs against the n published runs at level LEVEL = 0.05: "below" / "above" when
  p < 0.05 (the side from our mean rank), else "consistent". Why this test: it needs no
  distributional assumption (per-run Atari scores are skewed, bimodal, tied), it is exact for a
  handful of runs against ~100 (a t-test or a normal approximation is not), and P(ours >
  published) = U / (k n) is the per-game term of rliable's probability of improvement, so the
  per-game and the aggregate answers measure the same thing. The p-value is the permutation
  distribution of the sum of our mid-ranks over all C(k + n, k) equally likely splits of the
  pooled runs (ties kept as they are), computed exactly by dynamic programming (`rank_sum_test`);
  past EXACT_MAX_WORK (e.g. 100 runs against 100) the normal approximation with tie and
  continuity corrections is used, and said. With k = 1 or 2 the test has little power: the
  smallest two-sided p-value is 2 / C(k + n, k) (k = 1, n = 100: 2/101 = 0.0198), so one run is
  "below" only when it is below every published run, and with n < 39 one run can never be; the
  verdict is then "consistent" by construction, and the output says so. 26 games at level 0.05
  give about 1.3 "below"/"above" verdicts by chance even when everything is reproduced: per-game
  verdicts are not corrected for multiplicity; the aggregate verdict is the overall check.
- *P(ours > published) averaged over games* (`improvement_probability`): rliable's statistic,
  vectorised; `analysis.compare` bootstraps it with rliable's stratified independent bootstrap.

numpy and scipy only; nothing here reads files or prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.stats

from atari100k.errors import UsageError

LEVEL = 0.05
"""Level of the per-game two-sided test."""
EXACT_MAX_WORK = 1e8
"""Largest exact rank-sum computation (pooled runs x smaller group x rank-sum range); past it the
normal approximation is used (it is then accurate to far better than the level)."""


@dataclass(frozen=True)
class RankTest:
    """A two-sided rank-sum test of our runs against published runs on one game."""

    p_value: float
    prob_greater: float
    """P(ours > published) = U / (k n), ties counted 1/2 (rliable's per-game term)."""
    direction: str
    """'below' or 'above': the side our mean rank lies on ('equal' at exactly the middle)."""
    exact: bool
    """True: exact permutation distribution; False: normal approximation (large samples)."""
    min_p_value: float | None
    """The smallest two-sided p-value attainable with these k, n and ties (exact only)."""


def midrank_percentiles(ours: Sequence[float], published: Sequence[float]) -> np.ndarray:
    """Mid-rank percentile of each of our runs in the published distribution.

    Args:
      ours: our per-run scores `[k]`; published: published per-run scores `[n]`.
    Returns:
      `[k]` floats in [0, 100]: 100 * (#published < x + 0.5 * #published == x) / n.
    """
    y = np.sort(np.asarray(published, float))
    x = np.asarray(ours, float)
    below = np.searchsorted(y, x, side="left")
    equal = np.searchsorted(y, x, side="right") - below
    return 100.0 * (below + 0.5 * equal) / len(y)


def _subset_sum_distribution(values: np.ndarray, m: int) -> np.ndarray:
    """P(sum = s) of a uniformly random m-subset of `values` (non-negative integers), s = 0..max."""
    top = int(np.sort(values)[len(values) - m:].sum())
    ways = np.zeros((m + 1, top + 1))
    ways[0, 0] = 1.0
    for v in values:
        ways[1:, v:] += ways[:-1, :top + 1 - v].copy()
    return ways[m] / math.comb(len(values), m)


def rank_sum_test(ours: Sequence[float], published: Sequence[float]) -> RankTest:
    """Two-sided Wilcoxon-Mann-Whitney rank-sum test of our k runs against n published runs.

    The statistic is the sum of our runs' mid-ranks in the pooled k + n scores. Its null
    distribution is the permutation distribution over all C(k + n, k) splits of the pooled
    mid-ranks (ties kept), computed exactly (doubled mid-ranks are integers: a subset-sum
    count over the smaller group) when that costs at most EXACT_MAX_WORK, else approximated
    by the normal distribution with tie and continuity corrections (scipy's asymptotic
    Mann-Whitney U). p = min(1, 2 * min(P(S <= s), P(S >= s))).

    Args:
      ours: `[k]` per-run scores (k >= 1); published: `[n]` per-run scores (n >= 1).
    Returns:
      RankTest.
    """
    x, y = np.asarray(ours, float), np.asarray(published, float)
    k, n = len(x), len(y)
    if k < 1 or n < 1:
        raise UsageError("the rank test needs at least one run on each side")
    ranks = scipy.stats.rankdata(np.concatenate([x, y]))
    u = float(ranks[:k].sum() - k * (k + 1) / 2)
    prob_greater = u / (k * n)
    middle = k * n / 2
    direction = "below" if u < middle else "above" if u > middle else "equal"
    doubled = np.rint(2 * ranks).astype(np.int64)
    m = min(k, n)
    work = (k + n) * (m + 1) * float(np.sort(doubled)[-m:].sum())
    if work > EXACT_MAX_WORK:
        p = float(scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").pvalue)
        return RankTest(min(1.0, p), prob_greater, direction, False, None)
    dist = _subset_sum_distribution(doubled, m)
    # The smaller group's sum (ours, or the published runs' when they are fewer: our sum is large
    # exactly when theirs is small, and the two-sided p-value is the same either way).
    observed = int(doubled[:k].sum()) if m == k else int(doubled[k:].sum())
    lower, upper = np.cumsum(dist), np.cumsum(dist[::-1])[::-1]
    p = min(1.0, 2.0 * min(float(lower[observed]), float(upper[observed])))
    support = np.flatnonzero(dist > 0)
    min_p = min(1.0, float(np.min(2.0 * np.minimum(lower[support], upper[support]))))
    return RankTest(p, prob_greater, direction, True, min_p)


def game_verdict(test: RankTest, level: float = LEVEL) -> str:
    """'below' / 'above' when the test rejects at `level`, else 'consistent'."""
    return test.direction if test.p_value < level and test.direction != "equal" else "consistent"


def improvement_probability(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """P(X > Y) averaged over games: rliable.metrics.probability_of_improvement, vectorised.

    Args:
      scores_x: `[runs_x, games]`; scores_y: `[runs_y, games]`.
    Returns:
      mean over games of (#pairs x > y + 0.5 #pairs x == y) / (runs_x runs_y), which is
      rliable's Mann-Whitney U / (runs_x runs_y) per game (and 0.5 for identical columns).
    """
    x, y = np.asarray(scores_x, float)[:, None, :], np.asarray(scores_y, float)[None, :, :]
    per_game = np.mean((x > y) + 0.5 * (x == y), axis=(0, 1))
    return float(np.mean(per_game))
