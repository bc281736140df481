"""The reproduction check: our runs against a published algorithm, per game and overall.

`atari100k compare OURS... --against ALGO` answers "did we reproduce ALGO?" in three parts:

1. **Protocol.** The fields that decide what a score means (PROTOCOL_FIELDS: budget, action
   repeat, sticky actions, no-op starts, max-pool, action set, episode cap, what a run's score
   is, evaluation episodes) are compared first; a difference refuses the comparison unless
   allowed, and is then printed. Observation size, frame stacking, life-loss handling for the
   learner's targets and the evaluation policy are the agent's own choices, not the protocol:
   they are shown, never compared. *No-op starts* are compared by family: every "up to 30
   no-op starts" variant (Mnih et al. 2015; the suite's uniform 0-30 frames, Dopamine's 0-29
   starts, DreamerV2's 1-30 frames) is one protocol, and the exact difference is printed as a
   note rather than refused. The no-ops only move the first emulator frames of an episode by
   a few dozen frames (Dopamine's 0-29 *agent-step* variant: up to 116 frames, about 2 s of a
   game); a 27,000-step episode does not hinge on them, and Dopamine's own two runners differ
   the same way while their results are reported as one protocol.

2. **Per game.** Each of our runs' final score (the last evaluation of each run) is placed in
   the published per-run distribution, and our k runs are tested against the n published ones:

   - *percentile* of one run = mid-rank percentile, 100 * (published runs below it + 0.5 *
     published runs equal to it) / n; 0 = below every published run, 100 = above every one;
   - *published median and 5-95% range*: `np.percentile` (linear interpolation) of the n
     published per-run scores;
   - *verdict*: a two-sided **exact rank-sum (Wilcoxon-Mann-Whitney) test** of our k runs
     against the n published runs at level LEVEL = 0.05: "below" / "above" when p < 0.05 (the
     side from our mean rank), else "consistent". Why this test: it needs no distributional
     assumption (per-run Atari scores are skewed, bimodal, tied), it is exact for a handful of
     runs against ~100 (a t-test or a normal approximation is not), and P(ours > published) =
     U / (k n) is the per-game term of rliable's probability of improvement, so the per-game
     and the aggregate answers measure the same thing. The p-value is the permutation
     distribution of the sum of our mid-ranks over all C(k + n, k) equally likely splits of
     the pooled runs (ties kept as they are), computed exactly by dynamic programming
     (`rank_sum_test`); past EXACT_MAX_WORK (e.g. 100 runs against 100) the normal
     approximation with tie and continuity corrections is used, and said. With k = 1 or 2 the
     test has little power: the smallest two-sided p-value is 2 / C(k + n, k) (k = 1, n = 100:
     2/101 = 0.0198), so one run is "below" only when it is below every published run, and
     with n < 39 one run can never be; the verdict is then "consistent" by construction, and
     the output says so. 26 games at level 0.05 give about 1.3 "below"/"above" verdicts by
     chance even when everything is reproduced: per-game verdicts are not corrected for
     multiplicity; the aggregate verdict is the overall check.

3. **Aggregate.** On the common games, IQM of human-normalised scores of both, each with
   rliable's stratified bootstrap 95% CI (`analysis.aggregate`, as `table`), and P(ours >
   published) averaged over games with its stratified independent bootstrap CI (rliable's
   statistic, vectorised in `improvement_probability`; rliable's bootstrap). Verdict:
   "reproduced" when that CI contains 0.5, else "better than published" / "worse than
   published". The bootstrap needs at least 2 runs per game on each side; with fewer, the
   point estimates are shown and no overall verdict is given. With few runs the percentile
   bootstrap is somewhat narrow (it resamples k runs; its variance is about (k - 1)/k of the
   truth): of 40 random 5-run splits of DER's shipped runs, 37 read "reproduced" against the
   other 95 (tests/test_analysis_compare.py checks the rate), and the output says so.

`build_comparison` computes a `Comparison`; `render_comparison` formats it (markdown, JSON);
`comparison_figure` draws it. Nothing here prints; files are written atomically.
"""

from __future__ import annotations

import json
import math
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from analysis import aggregate as agg
from analysis.baselines import Baseline, final_baseline_scores, find_baseline
from analysis.normalize import add_hns
from analysis.scores import algorithm_label, final_scores, load_inputs
from analysis.table import ALGORITHM_CHOICE_FIELDS
from atari100k.errors import UsageError
from atari100k.games import ALL_GAMES

LEVEL = 0.05
"""Level of the per-game two-sided test."""
EXACT_MAX_WORK = 1e8
"""Largest exact rank-sum computation (pooled runs x smaller group x rank-sum range); past it the
normal approximation is used (it is then accurate to far better than the level)."""
FORMATS = ("markdown", "json")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
VERDICTS = ("reproduced", "better than published", "worse than published")

NOOP_FAMILY_30 = "up to 30 no-op starts"
EVAL_AFTER_TRAINING = "mean return of separate evaluation episodes after training"
EVAL_TRAINING_RETURNS = "training-episode returns"

PROTOCOL_FIELDS: tuple[tuple[str, str], ...] = (
    ("budget_steps", "budget (agent steps trained before the scored evaluation)"),
    ("action_repeat", "action repeat"),
    ("sticky_action_prob", "sticky actions"),
    ("noop_starts", "no-op starts"),
    ("max_pool_frames", "max-pool over the last 2 frames"),
    ("action_set", "action set"),
    ("max_episode_frames", "episode cap (frames)"),
    ("evaluation", "a run's score"),
    ("eval_episodes", "evaluation episodes per score"),
)
"""The fields that decide what a score means: compared, and a difference refuses."""

_DOPAMINE_SETTINGS = "docs/dopamine_settings.md section A (Dopamine labs/atari_100k, DER.gin and its runners)"
_DOPAMINE_NOOPS = ("uniform 0-29 no-op starts at every episode start, training and evaluation: agent steps of "
                   "4 frames in Dopamine's DataEfficientAtariRunner, single frames in its legacy "
                   "MaxEpisodeEvalRunner; the shipped data do not say which runner made them")
# What is known of each published protocol beyond analysis.baselines' budget and sticky actions,
# with where it comes from. A field absent here is "not recorded" and is not compared (said).
PUBLISHED_PROTOCOLS: dict[str, dict[str, Any]] = {
    "DER": {"action_repeat": 4, "noop_starts": NOOP_FAMILY_30, "max_pool_frames": True, "action_set": "minimal",
            "max_episode_frames": 108_000, "evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100,
            "_noop_detail": _DOPAMINE_NOOPS,
            "_source": _DOPAMINE_SETTINGS + ": 100 eval episodes, 27,000-step (108,000-frame) cap, minimal "
                                            "actions, max-pool of the last 2 frames, no sticky actions",
            "eval_policy": "eps-greedy eps=0.001, noise off", "life_loss_terminal": True,
            "observation": "84x84 gray"},
    # Agarwal et al.'s Dopamine re-runs: analysis.baselines records "100 evaluation episodes after training".
    "OTRainbow": {"evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100},
    "DrQ(eps)": {"evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100},
    "DrQ": {"evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100},
}


# ---------------------------------------------------------------- statistics

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


# ---------------------------------------------------------------- the two sides

@dataclass
class Side:
    """One side of the comparison: per-run final scores and how they were obtained."""

    label: str
    final: pd.DataFrame
    """`game, seed, step, score`: one final score per run and game."""
    protocol: dict[str, Any]
    """PROTOCOL_FIELDS and ALGORITHM_CHOICE_FIELDS keys -> value (None = not recorded)."""
    noop_detail: str | None
    score_text: str
    """How one run's score was obtained."""
    source: str
    published: bool
    notes: list[str] = field(default_factory=list)


def _noop_family(noop_max: Any) -> Any:
    if noop_max is None or isinstance(noop_max, bool) or not isinstance(noop_max, (int, float)):
        return noop_max  # unknown, or several values merged over runs ("0 | 30"): compared as is
    if noop_max == 0:
        return "none"
    return NOOP_FAMILY_30 if noop_max in (29, 30) else f"up to {noop_max:g} no-op frames"


def _select(labels: list[str], wanted: str | None, what: str, flag: str) -> str:
    if wanted:
        for label in labels:
            if label.lower() in (wanted.lower(), algorithm_label(wanted).lower()):
                return label
        raise UsageError(f"{flag} {wanted!r} is not among the algorithms of {what}: {', '.join(labels)}")
    if len(labels) > 1:
        raise UsageError(f"{what} holds several algorithms ({', '.join(labels)}); pick one with {flag} NAME")
    return labels[0]


def side_from_inputs(inputs: Sequence[str | Path], names: Sequence[str] = (), algorithm: str | None = None,
                     allow_partial: bool = False, what: str = "OURS", flag: str = "--algorithm") -> Side:
    """Run folders, sweep folders or a long CSV (as `table` reads them) as one Side.

    Args:
      inputs, names: as `analysis.scores.load_inputs` (names: --name, once or once per input).
      algorithm: which algorithm of the inputs (label, e.g. "DER (ours)", or run.json's algo,
        e.g. "der"); None = the only one (UsageError listing them when there are several).
      allow_partial: score unfinished runs at their latest evaluation (else left out, said).
    Returns:
      Side with one final score per run: the last evaluation of each run (`final_scores`).
    """
    data = load_inputs(inputs, list(names))
    if data.frame.empty:
        raise UsageError(f"{what}: no scores found")
    labels = list(dict.fromkeys(data.frame["algorithm"]))
    label = _select(labels, algorithm, what, flag)
    others = [a for a in labels if a != label]
    notes = [n for n in data.notes if not any(n.startswith(f"{o}:") for o in others)]
    final = final_scores(data.frame[data.frame["algorithm"] == label], allow_partial=allow_partial, notes=notes)
    if final.empty:
        raise UsageError(f"{what}: no finished runs of {label} (use --allow-partial to score unfinished ones)")
    raw = data.protocols.get(label, {})
    steps = sorted(set(final["step"].dropna().astype(int)))
    if final["step"].notna().all() and steps:
        budget: Any = steps[0] if len(steps) == 1 else " | ".join(map(str, steps))
    else:
        budget = raw.get("budget_steps")
    episodes = raw.get("eval_episodes_found", raw.get("eval_episodes"))
    if raw and raw.get("eval_episodes") is not None and episodes != raw.get("eval_episodes"):
        notes.append(f"{label}: run.json asks for {raw['eval_episodes']} evaluation episodes, eval.csv holds "
                     f"{episodes} at the scored step; {episodes} are what the scores average")
    protocol = {
        "budget_steps": budget, "action_repeat": raw.get("action_repeat"),
        "sticky_action_prob": raw.get("sticky_action_prob"), "noop_starts": _noop_family(raw.get("noop_max")),
        "max_pool_frames": raw.get("max_pool_frames"), "action_set": raw.get("action_set"),
        "max_episode_frames": raw.get("max_episode_frames"),
        "evaluation": EVAL_AFTER_TRAINING if raw else None, "eval_episodes": episodes,
        **{key: raw.get(key) for key, _ in ALGORITHM_CHOICE_FIELDS},
    }
    noop = raw.get("noop_max")
    noop_detail = (f"uniform 0-{noop} single no-op frames at every episode start (the suite's env; run.json "
                   f"noop_max {noop})" if isinstance(noop, int) else None)
    at = f"step {budget:,}" if isinstance(budget, int) else f"steps {budget}" if budget else "its last step"
    if raw:
        score_text = (f"mean return of the {episodes} evaluation episodes at {at} (eval.csv; each run's last "
                      f"evaluation)")
        source = "run folders: " + ", ".join(map(str, inputs))
    else:
        score_text = f"the score given for each run at {at} (CSV; each run's last step), protocol not recorded"
        source = "CSV: " + ", ".join(map(str, inputs))
    return Side(label, final[["game", "seed", "step", "score"]].reset_index(drop=True), protocol, noop_detail,
                score_text, source, published=False, notes=notes)


def side_from_baseline(baseline: Baseline) -> Side:
    """A shipped final-score baseline as one Side (its protocol: analysis.baselines + PUBLISHED_PROTOCOLS)."""
    if baseline.kind != "final":
        raise UsageError(f"{baseline.key} is a Dopamine learning curve (training returns, sticky actions 0.25), "
                         f"not a published Atari 100k result; compare against a final-score baseline such as DER")
    known = PUBLISHED_PROTOCOLS.get(baseline.key, {})
    p = baseline.protocol
    derived = str(p.get("score", "")).startswith("DERIVED")
    protocol = {
        "budget_steps": p.get("budget_steps"),
        "action_repeat": p["budget_frames"] // p["budget_steps"] if p.get("budget_steps") else None,
        "sticky_action_prob": p.get("sticky_action_prob"),
        "evaluation": EVAL_TRAINING_RETURNS if derived else known.get("evaluation"),
        **{key: known.get(key) for key, _ in PROTOCOL_FIELDS if key not in ("budget_steps", "action_repeat",
                                                                           "sticky_action_prob", "evaluation")},
        **{key: known.get(key) for key, _ in ALGORITHM_CHOICE_FIELDS},
    }
    rows = final_baseline_scores(baseline)
    runs = rows.groupby("game").size()
    count = f"{runs.min()}" if runs.min() == runs.max() else f"{runs.min()}-{runs.max()}"
    source = f"{baseline.paper}; {baseline.source}" + (f"; protocol: {known['_source']}" if "_source" in known else "")
    return Side(baseline.label, rows[["game", "seed", "step", "score"]], protocol, known.get("_noop_detail"),
                f"{p.get('score')} ({count} published runs per game)", source, published=True)


def side_from_spec(spec: str, name: str | None = None, algorithm: str | None = None,
                   allow_partial: bool = False) -> Side:
    """ALGO of `--against`: an existing file or folder (read as inputs), else a shipped baseline name."""
    path = Path(spec)
    if path.exists():
        side = side_from_inputs([path], [name] if name else [], algorithm, allow_partial, what=f"--against {spec}",
                                flag="--against-algorithm")
        if find_baseline(spec) is not None:
            side.notes.append(f"--against {spec} was read as the path {path}, not as the shipped baseline {spec}")
        return side
    baseline = find_baseline(spec)
    if baseline is None:
        raise UsageError(f"--against {spec!r} is neither a file or folder nor a shipped baseline "
                         f"(see `atari100k baselines`)")
    if name or algorithm:
        raise UsageError("--against-name and --against-algorithm apply to a path, not to a shipped baseline")
    return side_from_baseline(baseline)


# ---------------------------------------------------------------- protocol check

@dataclass
class ProtocolCheck:
    """The protocol fields of both sides, side by side."""

    rows: list[dict[str, Any]]
    """One per PROTOCOL_FIELDS entry: field, title, ours, against, status ('same', 'differs',
    'not recorded')."""
    differences: list[str]
    notes: list[str]
    agent_choices: list[str]
    """The agents' own settings (not compared)."""


def _comparable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def check_protocols(ours: Side, against: Side) -> ProtocolCheck:
    """Compare PROTOCOL_FIELDS; unrecorded fields are listed, not compared; no-op families explained.

    Returns:
      ProtocolCheck; `differences` holds one line per field recorded on both sides with
      different values ("sticky actions: X 0.25, Y 0").
    """
    rows, differences, notes = [], [], []
    for key, title in PROTOCOL_FIELDS:
        a, b = ours.protocol.get(key), against.protocol.get(key)
        if a is None or b is None:
            status = "not recorded"
        elif _comparable(a) == _comparable(b):
            status = "same"
        else:
            status = "differs"
            differences.append(f"{title}: {ours.label} {_text(a)}, {against.label} {_text(b)}")
        rows.append({"field": key, "title": title, "ours": a, "against": b, "status": status})
    missing = [r["title"] for r in rows if r["status"] == "not recorded"]
    if missing:
        who = [s.label for s in (ours, against) if any(s.protocol.get(key) is None for key, _ in PROTOCOL_FIELDS)]
        notes.append(f"not recorded for {' and '.join(who)}, so not compared: {', '.join(missing)}")
    noop = next(r for r in rows if r["field"] == "noop_starts")
    if noop["status"] == "same" and noop["ours"] == NOOP_FAMILY_30 and (ours.noop_detail or against.noop_detail):
        notes.append(f"no-op starts are one protocol family ({NOOP_FAMILY_30}, Mnih et al. 2015), not a mismatch; "
                     f"exactly: {ours.label}: {ours.noop_detail or 'not recorded'}; {against.label}: "
                     f"{against.noop_detail or 'not recorded'}")
    choices = []
    for key, title in ALGORITHM_CHOICE_FIELDS:
        a, b = ours.protocol.get(key), against.protocol.get(key)
        if a is not None or b is not None:
            choices.append(f"{title}: {ours.label} {_text(a)}; {against.label} {_text(b)}")
    return ProtocolCheck(rows, differences, notes, choices)


# ---------------------------------------------------------------- the comparison

@dataclass
class GameComparison:
    """One game: our runs placed in the published distribution, and the test."""

    game: str
    seeds: list[int]
    ours: list[float]
    """Our per-run final raw scores."""
    percentiles: list[float]
    """Mid-rank percentile of each of our runs (same order)."""
    published_runs: int
    published_median: float
    published_range: tuple[float, float]
    """5th and 95th percentiles of the published per-run scores (numpy, linear interpolation)."""
    test: RankTest
    verdict: str


@dataclass
class Comparison:
    """Everything `compare` shows."""

    ours: Side
    against: Side
    games: list[GameComparison]
    iqm: dict[str, agg.Estimate | float]
    """label -> IQM of HNS: an Estimate with its 95% CI, or a bare point when no bootstrap was possible."""
    poi: agg.Estimate | float
    """P(ours > against) averaged over games (Estimate with CI, or a bare point)."""
    verdict: str | None
    """One of VERDICTS, or None when the bootstrap was not possible."""
    runs: dict[str, int]
    """label -> runs per game in the aggregates."""
    protocol: ProtocolCheck
    bootstrap: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    level: float = LEVEL
    protocol_mismatch_allowed: bool = False


def build_comparison(ours: Side, against: Side, reps: int = agg.DEFAULT_REPS, seed: int = agg.DEFAULT_SEED,
                     allow_protocol_mismatch: bool = False, level: float = LEVEL) -> Comparison:
    """Compare `ours` with `against`: protocol first, then per game, then the aggregates.

    Args:
      ours, against: the two sides (`side_from_inputs`, `side_from_spec`).
      reps, seed: stratified bootstrap replications and seed (NumPy's global generator is
        seeded before each bootstrap, as `analysis.aggregate` does).
      allow_protocol_mismatch: go on when PROTOCOL_FIELDS differ (they are listed).
    Returns:
      Comparison. Raises UsageError on a protocol difference (naming the first), when the two
      sides share the same name, or share no game.
    """
    if reps < 1:
        raise UsageError("--reps must be >= 1")
    if ours.label == against.label:
        raise UsageError(f"both sides are named {ours.label!r}; rename one with --name or --against-name")
    check = check_protocols(ours, against)
    if check.differences and not allow_protocol_mismatch:
        more = f" (and {len(check.differences) - 1} more)" if len(check.differences) > 1 else ""
        raise UsageError(f"protocols differ: {check.differences[0]}{more}; use --allow-protocol-mismatch to "
                         f"compare anyway")
    notes = list(ours.notes) + list(against.notes)
    ours_games, their_games = set(ours.final["game"]), set(against.final["game"])
    order = {g: i for i, g in enumerate(ALL_GAMES)}
    games = sorted(ours_games & their_games, key=lambda g: order.get(g, len(order)))
    if not games:
        raise UsageError(f"no game in common: {ours.label} has {', '.join(sorted(ours_games))}; "
                         f"{against.label} has {', '.join(sorted(their_games)[:8])}...")
    if ours_games - their_games:
        notes.append(f"{against.label} has no scores on {', '.join(sorted(ours_games - their_games))}: left out")
    if their_games - ours_games:
        left = sorted(their_games - ours_games)
        notes.append(f"compared on the {len(games)} game(s) {ours.label} ran; {len(left)} game(s) of "
                     f"{against.label} left out")

    per_game = []
    for g in games:
        mine = ours.final[ours.final["game"] == g].sort_values("seed")
        theirs = against.final.loc[against.final["game"] == g, "score"].to_numpy(float)
        test = rank_sum_test(mine["score"], theirs)
        low, high = np.percentile(theirs, [5, 95])
        per_game.append(GameComparison(
            g, [int(s) for s in mine["seed"]], [float(s) for s in mine["score"]],
            [float(p) for p in midrank_percentiles(mine["score"], theirs)], len(theirs),
            float(np.median(theirs)), (float(low), float(high)), test, game_verdict(test, level)))

    both = pd.concat([ours.final.assign(algorithm=ours.label), against.final.assign(algorithm=against.label)],
                     ignore_index=True)
    final = add_hns(both[both["game"].isin(games)])
    matrices = {s.label: agg.score_matrix(final, s.label, games, "hns", notes) for s in (ours, against)}
    runs = {label: int(m.shape[0]) for label, m in matrices.items()}
    x, y = matrices[ours.label], matrices[against.label]
    bootstrap = {"method": "stratified bootstrap, percentile CIs (rliable); P(ours > published): stratified "
                           "independent bootstrap", "reps": reps, "seed": seed, "confidence": 0.95}
    if min(runs.values()) < 2:
        few = ", ".join(f"{label} {n}" for label, n in runs.items() if n < 2)
        notes.append(f"too few runs for a bootstrap (runs per game: {few}; the stratified bootstrap needs at "
                     f"least 2 per game on each side): point estimates only, no overall verdict")
        iqm: dict[str, agg.Estimate | float] = {label: agg.iqm(m) for label, m in matrices.items()}
        poi: agg.Estimate | float = improvement_probability(x, y)
        verdict = None
        bootstrap["reps"] = 0
    else:
        estimates = agg.interval_estimates(matrices, reps=reps, seed=seed)
        iqm = {label: estimates[label]["iqm"] for label in matrices}
        from rliable import library as rly

        np.random.seed(seed)
        points, intervals = rly.get_interval_estimates({"poi": [x, y]}, improvement_probability, reps=reps)
        ci = intervals["poi"]
        poi = agg.Estimate(float(points["poi"]), (float(np.ravel(ci[0])[0]), float(np.ravel(ci[1])[0])))
        verdict = ("reproduced" if poi.ci[0] <= 0.5 <= poi.ci[1]
                   else "better than published" if poi.ci[0] > 0.5 else "worse than published")
    return Comparison(ours, against, per_game, iqm, poi, verdict, runs, check, bootstrap, notes, level,
                      allow_protocol_mismatch)


# ---------------------------------------------------------------- text

def _num(x: float) -> str:
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def _estimate(e: agg.Estimate | float) -> str:
    if isinstance(e, agg.Estimate):
        return f"{e.value:.3f} [{e.ci[0]:.3f}, {e.ci[1]:.3f}]"
    return f"{e:.3f} (no CI)"


def _p_text(test: RankTest) -> str:
    text = f"{test.p_value:.3f}" if test.p_value >= 0.001 else f"{test.p_value:.1e}"
    return text if test.exact else text + " (normal approx.)"


def verdict_counts(comparison: Comparison) -> dict[str, int]:
    """How many games got each per-game verdict."""
    return {v: sum(g.verdict == v for g in comparison.games) for v in ("consistent", "below", "above")}


def headline(comparison: Comparison) -> str:
    """One line: the overall verdict and what it rests on."""
    c = comparison
    poi = _estimate(c.poi)
    if c.verdict is None:
        return f"no overall verdict (too few runs for a bootstrap); P({c.ours.label} > {c.against.label}) = {poi}"
    reason = {"reproduced": "its 95% CI contains 0.5", "better than published": "its 95% CI lies above 0.5",
              "worse than published": "its 95% CI lies below 0.5"}[c.verdict]
    return f"**{c.verdict}**: P({c.ours.label} > {c.against.label}) = {poi}; {reason}"


def method_lines(comparison: Comparison) -> list[str]:
    """How every number was obtained (the output's footnotes)."""
    c = comparison
    k = sorted({len(g.ours) for g in c.games})
    n = sorted({g.published_runs for g in c.games})
    k_text = str(k[0]) if len(k) == 1 else f"{k[0]}-{k[-1]}"
    n_text = str(n[0]) if len(n) == 1 else f"{n[0]}-{n[-1]}"
    b = c.bootstrap
    lines = [
        f"{c.ours.label}: {k_text} run(s) per game; a run's score: {c.ours.score_text}. Source: {c.ours.source}.",
        f"{c.against.label}: {n_text} run(s) per game; a run's score: {c.against.score_text}. "
        f"Source: {c.against.source}.",
        "Published median and 5-95% range: percentiles of the published per-run scores (numpy, linear "
        "interpolation).",
        "Percentile of a run: mid-rank percentile in the published runs, 100 * (#below + 0.5 * #equal) / n; "
        "0 = below every published run, 100 = above every one.",
        f"Verdict per game: two-sided exact Wilcoxon-Mann-Whitney rank-sum test of our runs against the published "
        f"runs (permutation distribution of our mid-rank sum over all splits of the pooled runs, ties kept) at "
        f"level {c.level:g}; 'below'/'above' when p < {c.level:g}. Chosen because it assumes no distribution, is "
        f"exact for a handful of runs against ~100, and its P(ours > published) = U/(k n) is the per-game term of "
        f"the aggregate P(improvement). With 1-2 runs it has little power: one run against n published runs "
        f"reaches at best p = 2/(n+1), so it is 'below'/'above' only outside every published run (n >= 40), "
        f"and 'consistent' otherwise by construction. {len(c.games)} tests at level {c.level:g} give about "
        f"{c.level * len(c.games):.1f} 'below'/'above' by chance when everything is reproduced (no multiplicity "
        f"correction); the overall verdict is the aggregate one.",
        f"Aggregates over the {len(c.games)} common game(s): HNS = (score - random) / (human - random) (rliable's "
        f"Atari table); IQM with 95% CIs and P({c.ours.label} > {c.against.label}) averaged over games "
        f"(Mann-Whitney U/(k n) per game) with its 95% CI: {b['method']}, {b['reps']} reps, seed {b['seed']}; "
        f"runs per game in the aggregates: " + ", ".join(f"{a} {r}" for a, r in c.runs.items()) + ". "
        f"Verdict: 'reproduced' when the CI of P(ours > published) contains 0.5, else 'better than published' / "
        f"'worse than published'.",
    ]
    if 1 < min(c.runs.values()) <= 10:
        lines.append(f"With {min(c.runs.values())} runs per game the bootstrap resamples only those runs, so its CI is "
                     f"somewhat narrow: of 40 random 5-run splits of DER's own runs, 37 read 'reproduced' against "
                     f"the other 95 (about 92%, not 95%).")
    cannot = [g.game for g in c.games if g.test.min_p_value is not None and g.test.min_p_value >= c.level]
    if cannot:
        lines.append(f"With these run counts the test cannot reach p < {c.level:g} on {', '.join(cannot)}: "
                     f"'consistent' there is by construction, not evidence.")
    return lines


def _runs_cell(values: list[float], fmt) -> str:
    if len(values) <= 5:
        return ", ".join(fmt(v) for v in values)
    return f"median {fmt(float(np.median(values)))} [{fmt(min(values))}, {fmt(max(values))}] ({len(values)} runs)"


def _markdown(c: Comparison) -> str:
    ours, them = c.ours.label, c.against.label
    out = [f"**Reproduction check: {ours} against {them} on {len(c.games)} game"
           f"{'s' if len(c.games) != 1 else ''}**", "", headline(c), ""]
    if c.protocol.differences:
        out += [f"Compared despite {len(c.protocol.differences)} protocol difference(s) (listed under Protocol): "
                f"the scores are not measured alike.", ""]
    counts = verdict_counts(c)
    out += [f"| Game | {ours}: runs | {them}: median [5%, 95%] (n) | percentile of each run | P(ours > pub.) | p | "
            f"verdict |", "|---|---:|---:|---:|---:|---:|---|"]
    for g in c.games:
        verdict = g.verdict if g.verdict == "consistent" else f"**{g.verdict}**"
        out.append(f"| {g.game} | {_runs_cell(g.ours, _num)} | {_num(g.published_median)} "
                   f"[{_num(g.published_range[0])}, {_num(g.published_range[1])}] ({g.published_runs}) | "
                   f"{_runs_cell(g.percentiles, lambda p: f'{p:.0f}')} | {g.test.prob_greater:.2f} | "
                   f"{_p_text(g.test)} | {verdict} |")
    out += ["", f"Per game: {counts['consistent']} consistent, {counts['below']} below, {counts['above']} above "
                f"(level {c.level:g}; about {c.level * len(c.games):.1f} expected by chance).", ""]
    out += ["| Aggregate (HNS, 1.0 = human) | value [95% CI] |", "|---|---:|"]
    for label, e in c.iqm.items():
        out.append(f"| IQM {label} ({c.runs[label]} runs/game) | {_estimate(e)} |")
    out.append(f"| P({ours} > {them}) | {_estimate(c.poi)} |")
    out += ["", "**Protocol**", "", f"| field | {ours} | {them} | |", "|---|---|---|---|"]
    for r in c.protocol.rows:
        out.append(f"| {r['title']} | {_text(r['ours'])} | {_text(r['against'])} | {r['status']} |")
    out.append("")
    if c.protocol.differences:
        out.append("- **Protocol differences (compared anyway: --allow-protocol-mismatch):** "
                   + "; ".join(c.protocol.differences))
    out.extend(f"- {n}" for n in c.protocol.notes)
    if c.protocol.agent_choices:
        out.append("- The agents' own choices, not the protocol (not compared): " + "; ".join(c.protocol.agent_choices))
    out += ["", "**How the numbers were obtained**", ""]
    out.extend(f"{i}. {line}" for i, line in enumerate(method_lines(c), 1))
    if c.notes:
        out += ["", *[f"- Note: {n}" for n in c.notes]]
    return "\n".join(out) + "\n"


def _estimate_json(e: agg.Estimate | float) -> dict[str, Any]:
    return e.as_dict() if isinstance(e, agg.Estimate) else {"value": float(e), "ci": None}


def comparison_json(c: Comparison) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (HNS as fractions, raw scores per game)."""
    def side(s: Side) -> dict[str, Any]:
        return {"label": s.label, "published": s.published, "score": s.score_text, "source": s.source,
                "protocol": s.protocol, "noop_detail": s.noop_detail}

    return {
        "ours": side(c.ours), "against": side(c.against),
        "verdict": c.verdict, "headline": headline(c).replace("**", ""),
        "aggregate": {"iqm_hns": {label: _estimate_json(e) for label, e in c.iqm.items()},
                      "probability_of_improvement": _estimate_json(c.poi),
                      "runs_per_game": c.runs, "games": len(c.games), "bootstrap": c.bootstrap},
        "games": [{"game": g.game, "seeds": g.seeds, "ours": g.ours, "percentiles": g.percentiles,
                   "published": {"runs": g.published_runs, "median": g.published_median,
                                 "p5": g.published_range[0], "p95": g.published_range[1]},
                   "test": {"name": "two-sided Wilcoxon-Mann-Whitney rank-sum test", "p_value": g.test.p_value,
                            "exact": g.test.exact, "min_p_value": g.test.min_p_value,
                            "prob_ours_greater": g.test.prob_greater, "level": c.level},
                   "verdict": g.verdict} for g in c.games],
        "verdict_counts": verdict_counts(c),
        "protocol": {"fields": c.protocol.rows, "differences": c.protocol.differences,
                     "mismatch_allowed": c.protocol_mismatch_allowed, "notes": c.protocol.notes,
                     "agent_choices": c.protocol.agent_choices},
        "method": method_lines(c), "notes": c.notes,
    }


def render_comparison(c: Comparison, fmt: str = "markdown") -> str:
    """Format a Comparison as `markdown` or `json` text."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(comparison_json(c), indent=2, default=_json_default) + "\n"
    return _markdown(c)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


# ---------------------------------------------------------------- files

def check_output_path(path: str | Path, flag: str, suffixes: Sequence[str] | None = None) -> Path:
    """Refuse (UsageError, one line) an output path that cannot be written, before any work.

    A path that is a folder, lies under a file, or whose nearest existing folder is not
    writable is refused; missing folders are created when writing. `suffixes`: allowed endings.
    """
    p = Path(path)
    if str(path).endswith(("/", os.sep)) or p.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file path")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {path}: give a file ending in {', '.join(suffixes)}")
    probe = p.parent if str(p.parent) else Path(".")
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{flag} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"{flag} {path}: not writable")
    return p


_VERDICT_COLORS = {"consistent": "0.15", "below": "tab:red", "above": "tab:blue"}


def comparison_figure(c: Comparison, path: str | Path) -> Path:
    """Per game, the published runs (box: median, quartiles, whiskers at 5-95%; dots: every run)
    and our runs (diamonds), each game on its own raw-score axis; written atomically.

    The format follows the suffix (.png, .pdf, .svg); PDF/SVG text stays text (TrueType).
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from atari100k.fileio import atomic_write

    path = Path(path)
    # `orientation` replaced `vert` in matplotlib 3.10.
    horizontal = ({"orientation": "horizontal"} if tuple(map(int, matplotlib.__version__.split(".")[:2])) >= (3, 10)
                  else {"vert": False})
    ncol = min(5, len(c.games))
    nrow = -(-len(c.games) // ncol)
    rng = np.random.default_rng(0)
    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}):
        width = 3.0 * ncol
        footer = textwrap.wrap(
            f"x: raw game score, each game on its own axis. Our score per run: {c.ours.score_text}. Published: "
            f"{c.against.score_text}. Per-game verdict: two-sided exact rank-sum test at level {c.level:g} (p in "
            f"each title). Overall: P(ours > published) with a stratified bootstrap 95% CI, "
            f"{c.bootstrap['reps']} reps, seed {c.bootstrap['seed']}.", width=int(width * 20))
        footer_in = 0.14 * len(footer) + 0.1
        fig = Figure(figsize=(width, 1.25 * nrow + 0.7 + footer_in))
        axes = fig.subplots(nrow, ncol, squeeze=False)
        for ax, g in zip(axes.flat, c.games):
            theirs = c.against.final.loc[c.against.final["game"] == g.game, "score"].to_numpy(float)
            ax.boxplot(theirs, whis=(5, 95), showfliers=False, positions=[0], widths=0.5,
                       medianprops={"color": "0.1"}, boxprops={"color": "0.4"}, whiskerprops={"color": "0.4"},
                       capprops={"color": "0.4"}, **horizontal)
            ax.scatter(theirs, rng.uniform(-0.18, 0.18, len(theirs)), s=4, color="0.55", alpha=0.5, lw=0)
            ax.scatter(g.ours, np.ones(len(g.ours)), marker="D", s=22, color="tab:orange", edgecolor="0.1",
                       lw=0.5, zorder=3)
            ax.set_yticks([0, 1], [f"pub. ({g.published_runs})", f"ours ({len(g.ours)})"], fontsize=7)
            ax.set_ylim(-0.6, 1.6)
            ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.tick_params(axis="x", labelsize=7)
            ax.grid(axis="x", alpha=0.3)
            ax.set_title(f"{g.game}: {g.verdict} (p={g.test.p_value:.2g})", fontsize=8,
                         color=_VERDICT_COLORS[g.verdict])
        for ax in list(axes.flat)[len(c.games):]:
            ax.set_axis_off()
        fig.suptitle(f"{c.ours.label} (diamonds) against {c.against.label} (box: median, quartiles, whiskers at "
                     f"5-95%; dots: every published run)\n{headline(c).replace('**', '')}", fontsize=9)
        height = fig.get_figheight()
        fig.tight_layout(rect=(0, footer_in / height, 1, 1))
        fig.text(0.01, 0.05 / height, "\n".join(footer), fontsize=6.5, color="0.3", ha="left", va="bottom")
        fmt = path.suffix.lstrip(".").lower()
        atomic_write(path, lambda handle: fig.savefig(handle, format=fmt, dpi=150), mode="wb")
    return path
