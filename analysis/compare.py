"""The reproduction check: our runs against a published algorithm, per game and overall.

`atari100k compare OURS... --against ALGO` answers "did we reproduce ALGO?" in three parts:

1. **Protocol.** The fields that decide what a score means (TABLE_FIELDS, as `table` compares
   them: budget, action repeat, sticky actions, no-op starts, max-pool, action set, episode
   cap, what a run's score is, evaluation episodes, whether a lost life ends the scored
   episode, the frames the score covers) are compared first, read the same way as `table`
   reads them (run.json, a CSV's sidecar or --protocol, the shipped baselines' records); a difference refuses the comparison unless
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
   the published per-run distribution, and our k runs are tested against the n published ones
   (`analysis.rank_test`, which defines the numbers and says why this test and what it can and
   cannot detect):

   - *percentile* of one run = mid-rank percentile in the published runs (0 = below every
     published run, 100 = above every one);
   - *published median and 5-95% range*: `np.percentile` (linear interpolation) of the n
     published per-run scores;
   - *verdict*: a two-sided exact rank-sum (Wilcoxon-Mann-Whitney) test at level LEVEL = 0.05:
     "below" / "above" when p < 0.05, else "consistent". Per-game verdicts are not corrected for
     multiplicity; the aggregate verdict is the overall check.

3. **Aggregate.** On the common games, IQM of human-normalised scores of both, each with
   rliable's stratified bootstrap 95% CI (`analysis.aggregate`, as `table`), and P(ours >
   published) averaged over games with its stratified independent bootstrap CI (rliable's
   statistic, vectorised in `analysis.rank_test.improvement_probability`; rliable's
   bootstrap). Verdict: "reproduced" when that CI contains 0.5, else "better than published" /
   "worse than published". The bootstrap needs at least 2 runs per game on each side; with fewer, the
   point estimates are shown and no overall verdict is given. With few runs the percentile
   bootstrap is somewhat narrow (it resamples k runs; its variance is about (k - 1)/k of the
   truth): of 40 random 5-run splits of DER's shipped runs, 37 read "reproduced" against the
   other 95 (tests/test_analysis_compare.py checks the rate), and the output says so.

4. **Range checks** (descriptive, beside the verdict): how many of our runs lie inside their
   game's published 5-95% range, and whether our IQM lies inside the published IQM's 95% CI.
   The published CI allows only for the published runs' sampling error, so with few runs of
   ours a faithful reproduction often lands outside it. `iqm_inside_rate` and
   `range_inside_rate` simulate, from the published runs themselves, how often a faithful
   reproduction with our run counts passes each check (DER on Krull, RoadRunner, Assault and
   Breakout, 2 runs per game: the IQM check about 21% of the time, all 8 runs inside their
   ranges about 35%).

`build_comparison` computes a `Comparison`; `analysis.compare_report` formats it (markdown, JSON)
and draws it. Nothing here prints or writes files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from analysis import aggregate as agg
from analysis.baselines import Baseline, baseline_eval_curves, final_baseline_scores, find_baseline
from analysis.curve_check import CurveCheck, build_curve_check
from analysis.normalize import add_hns
# The protocol fields and how each kind of input records them live in analysis.protocol (shared with `table`).
from analysis.protocol import (ALGORITHM_CHOICE_FIELDS, NOOP_FAMILY_30, PUBLISHED_PROTOCOLS, TABLE_FIELDS,
                               baseline_fields, comparable, curve_protocol, declared_fields, field_text, run_fields)
from analysis.rank_test import (LEVEL, RankTest, game_verdict, improvement_probability, midrank_percentiles,
                                rank_sum_test)
from analysis.scores import algorithm_label, final_scores, load_inputs
from atari100k.errors import UsageError
from atari100k.games import ALL_GAMES
from atari100k.text import counted

VERDICTS = ("reproduced", "better than published", "worse than published")


# ---------------------------------------------------------------- the two sides

@dataclass
class Side:
    """One side of the comparison: per-run final scores and how they were obtained."""

    label: str
    final: pd.DataFrame
    """`game, seed, step, score`: one final score per run and game."""
    protocol: dict[str, Any]
    """TABLE_FIELDS and ALGORITHM_CHOICE_FIELDS keys -> value (None = not recorded): `analysis.protocol`'s
    run_fields (run folders), declared_fields (CSVs: sidecar / --protocol) or baseline_fields."""
    noop_detail: str | None
    score_text: str
    """How one run's score was obtained."""
    source: str
    published: bool
    notes: list[str] = field(default_factory=list)
    curves: pd.DataFrame | None = None
    """`game, seed, step, score` at every evaluation of the runs in `final` (ours: eval.csv or the CSV's
    steps; published: `baseline_eval_curves`), for the learning-curve check; None = none."""
    curves_text: str = ""
    """How one point of `curves` was obtained."""


def algorithm_family(label: str) -> str:
    """The algorithm a label names, by its first word: "DER (ours)" and "DER (Dopamine, Agarwal et al.)"
    -> "der" (one algorithm: a reproduction check); "IQN (ours)" -> "iqn"."""
    return re.split(r"[\s(]", label.strip(), maxsplit=1)[0].lower()


def _select(labels: list[str], wanted: str | None, what: str, flag: str, prefer: str | None = None,
            notes: list[str] | None = None) -> str:
    if wanted:
        for label in labels:
            if label.lower() in (wanted.lower(), algorithm_label(wanted).lower()):
                return label
        # An algorithm name ("der") also names its only recipe variant ("DER (ours, dopamine2021)").
        family = [label for label in labels if algorithm_family(label) == wanted.lower()]
        if len(family) == 1:
            return family[0]
        raise UsageError(f"{flag} {wanted!r} is not among the algorithms of {what}: {', '.join(labels)}")
    if len(labels) > 1:
        # Several algorithms: the one of the algorithm it is compared with, when exactly one is.
        same = [label for label in labels if prefer and algorithm_family(label) == algorithm_family(prefer)]
        if len(same) == 1:
            if notes is not None:
                notes.append(f"{what} holds {', '.join(labels)}: compared {same[0]}, the one of the algorithm "
                             f"it is compared with ({flag} NAME picks another)")
            return same[0]
        raise UsageError(f"{what} holds several algorithms ({', '.join(labels)}); pick one with {flag} NAME")
    return labels[0]


def side_from_inputs(inputs: Sequence[str | Path], names: Sequence[str] = (), algorithm: str | None = None,
                     allow_partial: bool = False, what: str = "OURS", flag: str = "--algorithm",
                     protocol: dict[str, Any] | None = None, prefer: str | None = None) -> Side:
    """Run folders, sweep folders or a long CSV (as `table` reads them) as one Side.

    Args:
      inputs, names: as `analysis.scores.load_inputs` (names: --name, once or once per input).
      algorithm: which algorithm of the inputs (label, e.g. "DER (ours)", or run.json's algo,
        e.g. "der"); None = the only one, or among several the one whose algorithm is `prefer`'s
        (the other side's label; a note says so), else a UsageError listing them.
      allow_partial: score unfinished runs at their latest evaluation (else left out, said).
      protocol: declared protocol fields for CSV inputs (`--protocol`), over their sidecars.
    Returns:
      Side with one final score per run: the last evaluation of each run (`final_scores`).
    """
    data = load_inputs(inputs, list(names), protocol)
    if data.frame.empty:
        raise UsageError(f"{what}: no scores found")
    labels = list(dict.fromkeys(data.frame["algorithm"]))
    chosen: list[str] = []
    label = _select(labels, algorithm, what, flag, prefer, chosen)
    others = [a for a in labels if a != label]
    notes = [n for n in data.notes if not any(n.startswith(f"{o}:") for o in others)] + chosen
    final = final_scores(data.frame[data.frame["algorithm"] == label], allow_partial=allow_partial, notes=notes)
    if final.empty:
        raise UsageError(f"{what}: no finished runs of {label} (use --allow-partial to score unfinished ones)")
    raw = data.protocols.get(label, {})
    declared = data.declared.get(label)
    steps = sorted(set(final["step"].dropna().astype(int))) if final["step"].notna().all() else []
    fields = run_fields(raw, steps) if raw else declared_fields(declared or {}, steps)
    budget, episodes = fields["budget_steps"], fields["eval_episodes"]
    if raw and raw.get("eval_episodes") is not None and episodes != raw.get("eval_episodes"):
        notes.append(f"{label}: run.json asks for {raw['eval_episodes']} evaluation episodes, eval.csv holds "
                     f"{episodes} at the scored step; {episodes} are what the scores average")
    noop = raw.get("noop_max", (declared or {}).get("noop_max"))
    noop_detail = (f"uniform 0-{noop} single no-op frames at every episode start (the suite's env; run.json "
                   f"noop_max {noop})" if raw and isinstance(noop, int) else None)
    at = f"step {budget:,}" if isinstance(budget, int) else f"steps {budget}" if budget else "its last step"
    if raw:
        score_text = (f"mean return of the {episodes} evaluation episodes at {at} (eval.csv; each run's last "
                      f"evaluation)")
        source = "run folders: " + ", ".join(map(str, inputs))
    else:
        where = data.declared_sources.get(label)
        score_text = (f"the score given for each run at {at} (CSV; each run's last step), "
                      + (f"protocol as declared in {where}" if declared else "protocol not recorded"))
        source = "CSV: " + ", ".join(map(str, inputs))
    rows = data.frame[data.frame["algorithm"] == label]
    scored = final[["game", "seed"]].drop_duplicates()
    curves = rows.merge(scored, on=["game", "seed"])[["game", "seed", "step", "score"]]
    curves_text = ("each run's evaluations in eval.csv (a finished run's last one at the budget; the ones before, "
                   "every eval.every steps, average eval.episodes_during_training episodes, 10 by default)" if raw
                   else "the scores given for each run at each step (CSV)")
    return Side(label, final[["game", "seed", "step", "score"]].reset_index(drop=True), fields, noop_detail,
                score_text, source, published=False, notes=notes, curves=curves, curves_text=curves_text)


def side_from_baseline(baseline: Baseline) -> Side:
    """A shipped final-score baseline as one Side (its protocol: analysis.baselines + PUBLISHED_PROTOCOLS)."""
    if baseline.kind != "final":
        raise UsageError(f"{baseline.key} is a {baseline.curves.wording} learning curve "
                         f"({curve_protocol(baseline).brief}), not a published Atari 100k result; compare against "
                         f"a final-score baseline such as DER")
    known = PUBLISHED_PROTOCOLS.get(baseline.key, {})
    p = baseline.protocol
    protocol = baseline_fields(baseline)
    rows = final_baseline_scores(baseline)
    runs = rows.groupby("game").size()
    count = f"{runs.min()}" if runs.min() == runs.max() else f"{runs.min()}-{runs.max()}"
    source = f"{baseline.paper}; {baseline.source}" + (f"; protocol: {known['_source']}" if "_source" in known else "")
    curves = baseline_eval_curves(baseline)
    curves_text = (f"each published run's evaluations (shipped {baseline.eval_curves}: 100 episodes each, after "
                   f"each training iteration of at least 10,000 steps; an iteration ended only with an episode, "
                   f"about 104-107k steps over the 10 (docs/dopamine_settings.md D4), so a published point comes "
                   f"up to a few thousand steps after its nominal step, which favours the published runs)"
                   if curves is not None else "")
    return Side(baseline.label, rows[["game", "seed", "step", "score"]], protocol, known.get("_noop_detail"),
                f"{p.get('score')} ({count} published runs per game)", source, published=True,
                notes=[f"{baseline.label}: {baseline.caveat}"] if baseline.caveat else [], curves=curves,
                curves_text=curves_text)


def side_from_spec(spec: str, name: str | None = None, algorithm: str | None = None,
                   allow_partial: bool = False) -> Side:
    """ALGO of `--against`: an existing file or folder (read as inputs), else a shipped baseline name."""
    if not spec.strip():  # Path("") is the working folder
        raise UsageError("--against: empty; give a shipped baseline (e.g. DER) or a file or folder of runs")
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
    """One per TABLE_FIELDS entry: field, title, ours, against, status ('same', 'differs',
    'not recorded')."""
    differences: list[str]
    notes: list[str]
    agent_choices: list[str]
    """The agents' own settings (not compared)."""


def check_protocols(ours: Side, against: Side) -> ProtocolCheck:
    """Compare TABLE_FIELDS; unrecorded fields are listed, not compared; no-op families explained.

    Returns:
      ProtocolCheck; `differences` holds one line per field recorded on both sides with
      different values ("sticky actions: X 0.25, Y 0").
    """
    rows, differences, notes = [], [], []
    for key, title in TABLE_FIELDS:
        a, b = ours.protocol.get(key), against.protocol.get(key)
        if a is None or b is None:
            status = "not recorded"
        elif comparable(a) == comparable(b):
            status = "same"
        else:
            status = "differs"
            differences.append(f"{title}: {ours.label} {field_text(a)}, {against.label} {field_text(b)}")
        rows.append({"field": key, "title": title, "ours": a, "against": b, "status": status})
    missing = [r["title"] for r in rows if r["status"] == "not recorded"]
    if missing:
        who = [s.label for s in (ours, against) if any(s.protocol.get(key) is None for key, _ in TABLE_FIELDS)]
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
            choices.append(f"{title}: {ours.label} {field_text(a)}; {against.label} {field_text(b)}")
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

    @property
    def inside_range(self) -> int:
        """How many of our runs lie inside the published 5-95% range (ends included)."""
        low, high = self.published_range
        return sum(low <= score <= high for score in self.ours)


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
    iqm_inside_rate: float | None = None
    """How often a faithful reproduction with our runs per game has its IQM inside their IQM's CI
    (`iqm_inside_rate`): what `iqm_inside_ci` reads when nothing is wrong."""
    range_inside_rate: float | None = None
    """How often every run of a faithful reproduction with our runs per game lies inside its
    game's published 5-95% range (`range_inside_rate`)."""
    curves: CurveCheck | None = None
    """The learning-curve check (`analysis.curve_check`), when both sides have evaluations at common
    steps before the last one."""

    @property
    def runs_inside_range(self) -> tuple[int, int]:
        """(our runs inside their game's published 5-95% range, our runs), over the games."""
        return sum(g.inside_range for g in self.games), sum(len(g.ours) for g in self.games)

    @property
    def iqm_inside_ci(self) -> bool | None:
        """Whether our IQM point lies inside the 95% CI of theirs (None: theirs has no CI)."""
        ours, theirs = self.iqm[self.ours.label], self.iqm[self.against.label]
        if not isinstance(theirs, agg.Estimate):
            return None
        value = ours.value if isinstance(ours, agg.Estimate) else float(ours)
        return theirs.ci[0] <= value <= theirs.ci[1]


def iqm_inside_rate(theirs: np.ndarray, ci: tuple[float, float], runs: int, draws: int = agg.DEFAULT_REPS,
                    seed: int = agg.DEFAULT_SEED) -> float | None:
    """How often a faithful reproduction with `runs` runs per game has its IQM inside `ci` (their
    IQM's CI), simulated: each draw resamples every game's published runs (`theirs`, HNS
    [n, games]) with replacement, a world whose IQM differs from the published one as the
    published estimate differs from the truth, then draws `runs` runs per game from that world.
    Our IQM thus carries both sampling errors, as a real reproduction's does. None when
    `theirs` has fewer than 2 runs."""
    n, games = theirs.shape
    if n < 2 or runs < 1:
        return None
    rng = np.random.default_rng(seed)
    world = rng.integers(n, size=(draws, n, games))  # a resampled population per draw and game
    picks = np.take_along_axis(world, rng.integers(n, size=(draws, runs, games)), axis=1)
    values = theirs[picks, np.arange(games)]  # [draws, runs, games]
    iqms = scipy.stats.trim_mean(values.reshape(draws, -1), 0.25, axis=1)  # rliable's IQM per draw
    return float(np.mean((ci[0] <= iqms) & (iqms <= ci[1])))


def range_inside_rate(theirs_by_game: dict[str, np.ndarray], runs_by_game: dict[str, int],
                      draws: int = agg.DEFAULT_REPS, seed: int = agg.DEFAULT_SEED) -> float | None:
    """How often every run of a faithful reproduction lies inside its game's 5-95% range of the
    published runs, simulated by holding out: each draw sets aside `runs_by_game[g]` of game g's
    published runs, takes the 5-95% range of the others (np.percentile, ends included, as the
    check) and asks whether every set-aside run is inside it. The runs of one game share one
    range, so this is not 0.9^k; with ranges from n - k runs instead of n it is exact for
    n - k. None when some game has fewer than 10 runs left to make a range."""
    rng = np.random.default_rng(seed)
    every = np.ones(draws, bool)
    for game, k in runs_by_game.items():
        scores = np.asarray(theirs_by_game[game], float)
        if len(scores) - k < 10:
            return None
        order = np.argsort(rng.random((draws, len(scores))), axis=1)
        held, rest = scores[order[:, :k]], scores[order[:, k:]]
        low, high = np.percentile(rest, [5, 95], axis=1)
        every &= ((held >= low[:, None]) & (held <= high[:, None])).all(axis=1)
    return float(every.mean())


def build_comparison(ours: Side, against: Side, reps: int = agg.DEFAULT_REPS, seed: int = agg.DEFAULT_SEED,
                     allow_protocol_mismatch: bool = False, level: float = LEVEL) -> Comparison:
    """Compare `ours` with `against`: protocol first, then per game, then the aggregates.

    Args:
      ours, against: the two sides (`side_from_inputs`, `side_from_spec`).
      reps, seed: stratified bootstrap replications and seed (NumPy's global generator is
        seeded before each bootstrap, as `analysis.aggregate` does).
      allow_protocol_mismatch: go on when TABLE_FIELDS differ (they are listed).
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
        notes.append(f"compared on the {counted(len(games), 'game')} {ours.label} ran; {counted(len(left), 'game')} of "
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
                     f"least 2 per game): point estimates there and for P({ours.label} > {against.label}), "
                     f"no overall verdict")
        # A side with enough runs (the published one, usually) still gets its IQM's CI.
        enough = {label: m for label, m in matrices.items() if m.shape[0] >= 2}
        estimates = agg.interval_estimates(enough, reps=reps, seed=seed) if enough else {}
        iqm: dict[str, agg.Estimate | float] = {
            label: estimates[label]["iqm"] if label in estimates else agg.iqm(m) for label, m in matrices.items()}
        poi: agg.Estimate | float = improvement_probability(x, y)
        verdict = None
        if not enough:
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
    theirs_iqm = iqm[against.label]
    rate = (iqm_inside_rate(y, theirs_iqm.ci, runs[ours.label], reps, seed)
            if isinstance(theirs_iqm, agg.Estimate) else None)
    range_rate = range_inside_rate(
        {g: against.final.loc[against.final["game"] == g, "score"].to_numpy(float) for g in games},
        {c.game: len(c.ours) for c in per_game}, reps, seed)
    curves = None
    if ours.curves is not None and against.curves is not None:
        curves = build_curve_check(ours.curves, against.curves, games, against.curves_text, ours.curves_text)
        if curves is None:
            notes.append(f"no learning-curve check: {against.label} has per-run evaluations during training, but "
                         f"{ours.label} was evaluated only at the end (eval.every=0) or at other steps")
    return Comparison(ours, against, per_game, iqm, poi, verdict, runs, check, bootstrap, notes, level,
                      allow_protocol_mismatch, rate, range_rate, curves)
