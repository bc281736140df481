"""The score table: per-game raw scores, human-normalised aggregates, the protocol under it.

`build_table` computes everything (a `ScoreTable`); `render_table` (in `analysis.table_render`,
re-exported here) formats it as markdown, LaTeX (booktabs), CSV or JSON. Nothing here prints
or writes files.

The protocol is data: every column carries its protocol fields (`analysis.protocol.TABLE_FIELDS`:
run folders from run.json, shipped baselines from `analysis.baselines`, CSVs from a sidecar
`<file>.protocol.json`, `--protocol KEY=VALUE` or a table export). Each column is compared with
the first column, field by field; a column that differs is marked in the header, never bolded,
and each difference is a note. Bold = the best value among the columns that share the first
column's protocol (at least two of them), per game and for every aggregate (only among columns
aggregated over every game of the table). Aggregates of one run per game carry no CI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis import aggregate as agg
from analysis.baselines import (FRAMES_PER_STEP, IQN_NOTE, Baseline, curve_label_at, curve_point_for,
                                curve_scores_at, final_baseline_scores, find_baseline)
from analysis.normalize import add_hns
from analysis.protocol import (ALGORITHM_CHOICE_FIELDS, MARK, TABLE_FIELDS, baseline_fields, curve_protocol,
                               declared_fields, differences, field_text, run_fields, unrecorded)
from analysis.scores import ScoreData, final_scores
from atari100k.errors import UsageError
from atari100k.games import ALL_GAMES, resolve_games
from atari100k.text import counted

__all__ = ["ALGORITHM_CHOICE_FIELDS", "FORMATS", "MARK", "ScoreTable", "build_table", "own_algorithm_notes",
           "protocol_lines", "render_table", "table_json"]

FORMATS = ("markdown", "latex", "csv", "json")


@dataclass
class ScoreTable:
    """Everything a rendered table shows. HNS values are fractions (1.0 = human)."""

    games: list[str]
    algorithms: list[str]
    cells: dict[tuple[str, str], dict[str, Any]]
    """(game, algorithm) -> {mean, std, runs, hns, ci?}: raw scores over runs."""
    aggregates: dict[str, dict[str, agg.Estimate]]
    above_human: dict[str, int]
    runs: dict[str, int]
    """Runs per game used by the aggregates."""
    games_used: dict[str, int]
    protocols: dict[str, dict[str, Any]]
    """algorithm -> {budget_steps, budget_frames, sticky_action_prob, eval, runs, source, ...};
    a shipped baseline's also has `kind` ('final' or 'curve'), run folders' `algo`."""
    bootstrap: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    ci: bool = False
    matrices: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """algorithm -> HNS `[runs, games]` used by the aggregates (for figures)."""
    budget_frames: int = 400_000
    """The inputs' frame budget (curve baselines' rows are matched to it)."""
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    """algorithm -> protocol fields (`analysis.protocol.TABLE_FIELDS` and ALGORITHM_CHOICE_FIELDS keys; None =
    not recorded)."""
    differences: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """algorithm -> its protocol differences from the first column ({field, title, value, reference_value});
    absent = same protocol (where both record a field)."""
    reference: str | None = None
    """The first column: every other column's protocol is compared with its."""
    per_run: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    """`algorithm, game, seed, step, score, hns`: every run the cells use (the table can be rebuilt from it)."""
    options: dict[str, Any] = field(default_factory=dict)
    """What selected the runs: `runs` (first N per game or None), `games` (the --games list or None)."""

    def shown_label(self, algorithm: str) -> str:
        """`algorithm` as figures show it: marked with MARK when its protocol differs from the first column's."""
        return f"{algorithm} {MARK}" if self.differences.get(algorithm) else algorithm

    @property
    def confidence(self) -> float:
        """The level of every CI in the table (0.95 = 95%)."""
        return float(self.bootstrap["confidence"])

    def same_protocol(self) -> list[str]:
        """The columns whose protocol matches the first column's (the first column included)."""
        return [a for a in self.algorithms if a not in self.differences]


def _game_order(games: set[str]) -> list[str]:
    return sorted(games, key=lambda g: ALL_GAMES.index(g) if g in ALL_GAMES else len(ALL_GAMES))


def _user_budget_frames(fields: dict[str, dict[str, Any]], final: pd.DataFrame) -> int:
    """The frame budget the inputs were scored at (largest), 400k when nothing says."""
    budgets = []
    for f in fields.values():
        steps, repeat = f.get("budget_steps"), f.get("action_repeat")
        if isinstance(steps, (int, np.integer)) and not isinstance(steps, bool):
            budgets.append(int(steps) * (int(repeat) if isinstance(repeat, (int, np.integer)) else FRAMES_PER_STEP))
    if budgets:
        return max(budgets)
    steps = final["step"].dropna() if "step" in final else pd.Series(dtype=float)
    return int(steps.max() * FRAMES_PER_STEP) if len(steps) else 400_000


def _scored_steps(final: pd.DataFrame, algorithm: str) -> list[int]:
    """The steps an input's runs were scored at; [] when some run has no step (a final score)."""
    rows = final[final["algorithm"] == algorithm]
    if rows.empty or rows["step"].isna().any():
        return []
    return sorted(set(rows["step"].astype(int)))


def _user_protocol(algorithm: str, protocol: dict[str, Any], final: pd.DataFrame,
                   declared_source: str | None) -> dict[str, Any]:
    rows = final[final["algorithm"] == algorithm]
    steps = sorted(set(rows["step"].dropna().astype(int)))
    source = "run folders" if protocol else "CSV" + (f", protocol from {declared_source}" if declared_source else
                                                    ", protocol not recorded")
    out = {
        "budget_steps": protocol.get("budget_steps"),
        "budget_frames": protocol.get("budget_frames"),
        "scored_at_steps": steps,
        "sticky_action_prob": protocol.get("sticky_action_prob"),
        "eval_episodes": protocol.get("eval_episodes"),
        "score": protocol.get("score", "as given in the CSV (raw game score)"),
        "source": source,
    }
    out.update({k: v for k, v in protocol.items() if k not in out})
    return out


def _baseline_protocol(baseline: Baseline, iteration: int | None = None) -> dict[str, Any]:
    out = dict(baseline.protocol)
    if iteration is not None:
        out["budget_frames"] = baseline.curves.frames_of(iteration)[1]
        out["budget_steps"] = out["budget_frames"] // FRAMES_PER_STEP
        out["score"] = curve_protocol(baseline).score(iteration)
    out.update({"kind": baseline.kind, "paper": baseline.paper, "source": baseline.source})
    return out


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "not recorded" if value is None else str(value)


def own_algorithm_notes(protocols: dict[str, dict[str, Any]], ours: Sequence[str]) -> list[str]:
    """Notes comparing the protocols of our own algorithms (run folders) with each other.

    Args:
      protocols: algorithm -> protocol fields (`analysis.protocol.run_fields`).
      ours: the algorithms that come from run folders, in table order.
    Returns:
      [] for fewer than two; else one note on the fields that are each algorithm's own choice
      (ALGORITHM_CHOICE_FIELDS: what differs, and that it is not an evaluation-protocol
      difference) and one on the evaluation protocol (TABLE_FIELDS: what differs, or that it is
      shared).
    """
    if len(ours) < 2:
        return []

    def compare(fields: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
        differ, same = [], []
        for key, title in fields:
            values = {a: _value_text(protocols[a].get(key)) for a in ours}
            if len(set(values.values())) > 1:
                differ.append(f"{title} (" + "; ".join(f"{a}: {v}" for a, v in values.items()) + ")")
            elif all(protocols[a].get(key) is not None for a in ours):
                same.append(title)
        return differ, same

    notes = []
    choices, _ = compare(ALGORITHM_CHOICE_FIELDS)
    if choices:
        notes.append("our algorithms differ in settings that are each algorithm's own choice, not evaluation-"
                     "protocol differences: " + ", ".join(choices) + ". They set what each agent sees and learns "
                     "from and how it acts; the game and the scored episode go on after a lost life, so every "
                     "score is the return of whole games")
    differ, same = compare(TABLE_FIELDS)
    if differ:
        notes.append("our algorithms differ in the evaluation protocol: " + ", ".join(differ)
                     + "; their scores are not measured alike")
    elif same:
        notes.append(f"our algorithms ({', '.join(ours)}) share the evaluation protocol: {', '.join(same)}")
    return notes


def difference_notes(table_fields: dict[str, dict[str, Any]], diffs: dict[str, list[dict[str, Any]]],
                     reference: str) -> list[str]:
    """One note per protocol difference from the first column, and one on what is not recorded."""
    notes = []
    for algorithm, found in diffs.items():
        for d in found:
            notes.append(f"{algorithm} {MARK}: {d['title']} is {field_text(d['value'])}, the first column "
                         f"({reference}) has {field_text(d['reference_value'])}: a different protocol, so its "
                         f"cells are never bold")
    missing = [(a, unrecorded(f)) for a, f in table_fields.items()]
    missing = [(a, m) for a, m in missing if m]
    if missing:
        notes.append("protocol fields not recorded are not compared (a column can differ there unseen): "
                     + "; ".join(f"{a}: {', '.join(m)}" for a, m in missing))
    return notes


def _select_runs(final: pd.DataFrame, runs: int, order: Sequence[str], notes: list[str]) -> pd.DataFrame:
    """The first `runs` runs per (algorithm, game): by seed (published runs: their position in the file)."""
    final = final.sort_values(["algorithm", "game", "seed"], kind="stable")
    counts = final.groupby(["algorithm", "game"]).size()
    kept = final.groupby(["algorithm", "game"], sort=False).head(runs)
    notes.append(f"--runs {runs}: the first {runs} runs per game of every column (by seed; published runs in the "
                 f"order of their data file), as papers with fewer runs report")
    for algorithm in order:
        few = counts.loc[algorithm] if algorithm in counts.index.get_level_values(0) else pd.Series(dtype=int)
        few = few[few < runs]
        if len(few):
            notes.append(f"{algorithm}: fewer than {counted(runs, 'run')} on {counted(len(few), 'game')} ({few.min()}-{few.max()}); "
                         f"all of them are used")
    return kept.reset_index(drop=True)


def build_table(data: ScoreData, baselines: Sequence[Baseline] = (), step: int | None = None,
                allow_partial: bool = False, reps: int = agg.DEFAULT_REPS, seed: int = agg.DEFAULT_SEED,
                ci: bool = False, runs: int | None = None, games: Sequence[str] | str | None = None,
                confidence: float = 0.95) -> ScoreTable:
    """Compute the table from loaded scores and shipped baselines.

    Args:
      data: the long table of the user's inputs (may be empty if `baselines` is not).
      baselines: shipped baselines to add as columns (restricted to the table's games).
      step: score runs at this agent step instead of their last evaluation.
      allow_partial: aggregate despite missing (game, seed) pairs and unfinished runs.
      reps, seed: stratified bootstrap replications and seed; ci: per-game CIs of the mean.
      runs: keep the first N runs per game of every column (by seed; published runs in file order).
      games: only these games (names or aliases, `atari100k`...; `atari100k.games.resolve_games`).
      confidence: the level of every CI (0.95 = 95%).
    Returns:
      ScoreTable. Raises UsageError (listing the pairs) when a game or seed is missing.
    """
    if data.frame.empty and not baselines:
        raise UsageError("nothing to tabulate: give run folders, sweep folders or CSVs, or --baselines")
    if reps < 1:
        raise UsageError("--reps must be >= 1")
    if runs is not None and runs < 1:
        raise UsageError("--runs must be >= 1")
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"--confidence must be between 0 and 1 (e.g. 0.95), not {confidence:g}")
    notes = list(data.notes)
    if step is not None and data.frame.empty:
        raise UsageError("--step applies to run folders and CSVs; shipped baselines are final scores only")
    wanted = resolve_games(games) if games else None
    frame = data.frame
    if wanted is not None and not frame.empty:
        frame = frame[frame["game"].isin(wanted)]
        if frame.empty:
            raise UsageError(f"the inputs have no scores on the chosen games ({', '.join(wanted)})")
        left = [a for a in dict.fromkeys(data.frame["algorithm"]) if a not in set(frame["algorithm"])]
        if left:
            notes.append(f"{', '.join(left)}: no scores on the chosen games: left out")
    user = final_scores(frame, step, allow_partial, notes) if not frame.empty else frame
    algorithms = list(dict.fromkeys(frame["algorithm"]))
    protocols = {a: _user_protocol(a, data.protocols.get(a, {}), user, data.declared_sources.get(a))
                 for a in algorithms}
    table_fields = {a: run_fields(data.protocols[a], _scored_steps(user, a)) if a in data.protocols
                    else declared_fields(data.declared.get(a, {}), _scored_steps(user, a)) for a in algorithms}
    notes.extend(own_algorithm_notes(table_fields, [a for a in algorithms if "algo" in data.protocols.get(a, {})]))
    game_list = _game_order(set(wanted)) if wanted else (_game_order(set(user["game"])) if not user.empty else [])
    budget = _user_budget_frames(table_fields, user)
    parts = [user[["algorithm", "game", "seed", "step", "score"]]] if not user.empty else []
    for b in baselines:
        if b.kind == "final":
            rows, label, protocol = final_baseline_scores(b), b.label, _baseline_protocol(b)
            fields = baseline_fields(b)
        else:
            iteration = curve_point_for(b, budget)
            rows, label = curve_scores_at(b, iteration), curve_label_at(b, iteration)
            protocol, fields = _baseline_protocol(b, iteration), baseline_fields(b, iteration)
            how = curve_protocol(b).how(iteration)
            if b.key == "IQN":
                notes.append(f"IQN: {IQN_NOTE}; its row is {how}")
            elif b.key == "Rainbow":
                notes.append(f"Rainbow (Dopamine): {how}; the Rainbow baselines at 100k steps are DER and OTRainbow")
            else:
                notes.append(f"{label}: {how}")
        # Never merge (or set side by side under one name) an input and a published algorithm.
        if label in algorithms or any(find_baseline(a) is b for a in algorithms):
            name = label if label in algorithms else next(a for a in algorithms if find_baseline(a) is b)
            raise UsageError(f"algorithm name {name!r} of an input reads as the baseline {label!r}; "
                             f"rename the input with --name")
        if b.caveat:
            notes.append(f"{label}: {b.caveat}")
        algorithms.append(label)
        protocols[label] = protocol
        table_fields[label] = fields
        parts.append(rows)
    if not game_list:
        game_list = _game_order(set().union(*(set(p["game"]) for p in parts)))
    final = add_hns(pd.concat(parts, ignore_index=True))
    final = final[final["game"].isin(game_list)]
    if wanted is not None:
        empty = [g for g in game_list if g not in set(final["game"])]
        if empty:
            raise UsageError(f"--games: no column has scores on {', '.join(empty)}")
    if runs is not None:
        final = _select_runs(final, runs, algorithms, notes)

    # Inputs must cover every (game, seed); published runs are not paired across games, so
    # a baseline only needs every game.
    user_algorithms = set(frame["algorithm"])
    missing: dict[str, list[str]] = {}
    for a in algorithms:
        if a in user_algorithms:
            found = [f"({g}, seed {s})" for g, s in agg.missing_pairs(final, a, game_list)]
        else:
            found = [g for g in game_list if not (final["algorithm"].eq(a) & final["game"].eq(g)).any()]
        if found:
            missing[a] = found
    if missing and not allow_partial:
        listed = "; ".join(f"{a}: {', '.join(m[:12])}" + (f" and {len(m) - 12} more" if len(m) > 12 else "")
                           for a, m in missing.items())
        raise UsageError(f"missing (game, seed) pairs, refusing to aggregate (use --allow-partial): {listed}")
    for a in algorithms:
        absent = [g for g in game_list if not (final["algorithm"].eq(a) & final["game"].eq(g)).any()]
        if absent:
            notes.append(f"{a}: no scores on {', '.join(absent)}; its aggregates are over the other games")
        elif a in missing:
            notes.append(f"{a}: {counted(len(missing[a]), 'missing (game, seed) pair')} allowed by --allow-partial")

    reference = algorithms[0]
    diffs = differences(table_fields, reference)
    notes.extend(difference_notes(table_fields, diffs, reference))

    matrices = {a: agg.score_matrix(final, a, game_list, "hns", notes) for a in algorithms}
    estimates = agg.interval_estimates(matrices, reps=reps, seed=seed, confidence=confidence)
    for a, m in matrices.items():
        if m.shape[0] < 2:
            notes.append(f"{a}: one run per game: its aggregates are point estimates, with no CI (a bootstrap "
                         f"needs at least 2 runs per game)")
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for a in algorithms:
        rows = final[final["algorithm"] == a]
        by_game = {g: rows.loc[rows["game"] == g, "score"].to_numpy(float) for g in game_list}
        by_game = {g: v for g, v in by_game.items() if len(v)}
        several = {g: v for g, v in by_game.items() if len(v) > 1}  # one run has no interval
        cis = agg.per_game_mean_cis(several, reps=reps, seed=seed, confidence=confidence) if ci else {}
        for g, v in by_game.items():
            hns = rows.loc[rows["game"] == g, "hns"].mean()
            cells[(g, a)] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None,
                             "runs": int(len(v)), "hns": float(hns)}
            if g in cis:
                cells[(g, a)]["ci"] = list(cis[g])
        protocols[a]["runs_per_game"] = _runs_text([len(v) for v in by_game.values()])
    order = {a: i for i, a in enumerate(algorithms)}
    games_order = {g: i for i, g in enumerate(game_list)}
    per_run = final.assign(_a=final["algorithm"].map(order), _g=final["game"].map(games_order)).sort_values(
        ["_a", "_g", "seed"], kind="stable")[["algorithm", "game", "seed", "step", "score", "hns"]]
    return ScoreTable(
        games=game_list, algorithms=algorithms, cells=cells, aggregates=estimates,
        above_human={a: agg.games_above_human(m) for a, m in matrices.items()},
        runs={a: int(m.shape[0]) for a, m in matrices.items()},
        games_used={a: int(m.shape[1]) for a, m in matrices.items()},
        protocols=protocols, notes=notes, ci=ci, matrices=matrices, budget_frames=budget,
        bootstrap={"method": "stratified bootstrap, percentile CIs (rliable)", "reps": reps, "seed": seed,
                   "confidence": confidence, "rliable_version": _rliable_version()},
        fields=table_fields, differences=diffs, reference=reference, per_run=per_run.reset_index(drop=True),
        options={"runs": runs, "games": wanted},
    )


def _runs_text(counts: list[int]) -> str:
    if not counts:
        return "0"
    return str(min(counts)) if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"


def _rliable_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("rliable")
    except PackageNotFoundError:
        return "unknown"


# The renderers live in analysis.table_render; `from analysis.table import render_table, protocol_lines` keeps working.
from analysis.table_render import protocol_lines, render_table, table_json  # noqa: E402
