"""The score table: per-game raw scores, human-normalised aggregates, the protocol under it.

`build_table` computes everything (a `ScoreTable`); `render_table` formats it as markdown,
LaTeX (booktabs), CSV or JSON. Nothing here prints or writes files.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis import aggregate as agg
from analysis.baselines import (FRAMES_PER_STEP, IQN_NOTE, Baseline, curve_label_at, curve_scores_at,
                                dopamine_iteration_for, final_baseline_scores, find_baseline,
                                human_random_scores)
from analysis.normalize import add_hns
from analysis.scores import ScoreData, final_scores
from atari100k.errors import UsageError
from atari100k.games import ALL_GAMES

FORMATS = ("markdown", "latex", "csv", "json")
FOOTER = (("mean", "Mean HNS"), ("median", "Median HNS"), ("iqm", "IQM HNS"),
          ("optimality_gap", "Optimality gap"))

# run.json protocol fields that are each learner's own choice (DreamerV2: 64x64, a lost life
# not a terminal, greedy "mode" actor; DER/IQN: Dopamine's 84x84, a lost life a terminal,
# eps-greedy 0.001). The env and the scored episode go on after a lost life either way, so
# they change what the agent sees and learns from, not how its score is measured.
ALGORITHM_CHOICE_FIELDS = (("observation", "observation"),
                           ("life_loss_terminal", "a lost life is a terminal for the agent"),
                           ("eval_policy", "evaluation policy"))
# run.json protocol fields that decide how a score is measured: our algorithms must share them
# for their scores to be comparable (a difference is said, not hidden).
EVAL_PROTOCOL_FIELDS = (("budget_steps", "budget (agent steps)"), ("action_repeat", "action repeat"),
                        ("sticky_action_prob", "sticky actions"), ("noop_max", "no-op starts (max)"),
                        ("max_pool_frames", "max-pool"), ("action_set", "action set"),
                        ("max_episode_frames", "episode cap (frames)"), ("eval_episodes", "evaluation episodes"))


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
    """The inputs' frame budget (Dopamine rows are matched to it)."""


def _game_order(games: set[str]) -> list[str]:
    return sorted(games, key=lambda g: ALL_GAMES.index(g) if g in ALL_GAMES else len(ALL_GAMES))


def _user_budget_frames(data: ScoreData, final: pd.DataFrame) -> int:
    budgets = [p.get("budget_frames") for p in data.protocols.values()]
    budgets = [b for b in budgets if isinstance(b, (int, float))]
    steps = final["step"].dropna()
    if budgets:
        return int(max(budgets))
    return int(steps.max() * FRAMES_PER_STEP) if len(steps) else 400_000


def _user_protocol(algorithm: str, protocol: dict[str, Any], final: pd.DataFrame) -> dict[str, Any]:
    rows = final[final["algorithm"] == algorithm]
    steps = sorted(set(rows["step"].dropna().astype(int)))
    out = {
        "budget_steps": protocol.get("budget_steps"),
        "budget_frames": protocol.get("budget_frames"),
        "scored_at_steps": steps,
        "sticky_action_prob": protocol.get("sticky_action_prob"),
        "eval_episodes": protocol.get("eval_episodes"),
        "score": protocol.get("score", "as given in the CSV (raw game score)"),
        "source": "run folders" if protocol else "CSV",
    }
    out.update({k: v for k, v in protocol.items() if k not in out})
    return out


def _baseline_protocol(baseline: Baseline, iteration: int | None = None) -> dict[str, Any]:
    out = dict(baseline.protocol)
    if iteration is not None:
        out["budget_frames"] = (iteration + 1) * 1_000_000
        out["budget_steps"] = out["budget_frames"] // FRAMES_PER_STEP
        out["score"] = (f"training returns averaged over frames {iteration}M-{iteration + 1}M "
                        f"(Dopamine iteration {iteration})")
    out.update({"kind": baseline.kind, "paper": baseline.paper, "source": baseline.source})
    return out


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "not recorded" if value is None else str(value)


def own_algorithm_notes(protocols: dict[str, dict[str, Any]], ours: Sequence[str]) -> list[str]:
    """Notes comparing the protocols of our own algorithms (run folders) with each other.

    Args:
      protocols: algorithm -> protocol (run.json's `protocol` fields among them).
      ours: the algorithms that come from run folders, in table order.
    Returns:
      [] for fewer than two; else one note on the fields that are each algorithm's own choice
      (ALGORITHM_CHOICE_FIELDS: what differs, and that it is not an evaluation-protocol
      difference) and one on the evaluation protocol (EVAL_PROTOCOL_FIELDS: what differs, or
      that it is shared).
    """
    if len(ours) < 2:
        return []

    def differences(fields: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
        differ, same = [], []
        for key, title in fields:
            values = {a: _value_text(protocols[a].get(key)) for a in ours}
            if len(set(values.values())) > 1:
                differ.append(f"{title} (" + "; ".join(f"{a}: {v}" for a, v in values.items()) + ")")
            elif all(protocols[a].get(key) is not None for a in ours):
                same.append(title)
        return differ, same

    notes = []
    choices, _ = differences(ALGORITHM_CHOICE_FIELDS)
    if choices:
        notes.append("our algorithms differ in settings that are each algorithm's own choice, not evaluation-"
                     "protocol differences: " + ", ".join(choices) + ". They set what each agent sees and learns "
                     "from and how it acts; the game and the scored episode go on after a lost life, so every "
                     "score is the return of whole games")
    differ, same = differences(EVAL_PROTOCOL_FIELDS)
    if differ:
        notes.append("our algorithms differ in the evaluation protocol: " + ", ".join(differ)
                     + "; their scores are not measured alike")
    elif same:
        notes.append(f"our algorithms ({', '.join(ours)}) share the evaluation protocol: {', '.join(same)}")
    return notes


def build_table(data: ScoreData, baselines: Sequence[Baseline] = (), step: int | None = None,
                allow_partial: bool = False, reps: int = agg.DEFAULT_REPS, seed: int = agg.DEFAULT_SEED,
                ci: bool = False) -> ScoreTable:
    """Compute the table from loaded scores and shipped baselines.

    Args:
      data: the long table of the user's inputs (may be empty if `baselines` is not).
      baselines: shipped baselines to add as columns (restricted to the user's games).
      step: score runs at this agent step instead of their last evaluation.
      allow_partial: aggregate despite missing (game, seed) pairs and unfinished runs.
      reps, seed: stratified bootstrap replications and seed; ci: per-game 95% CIs.
    Returns:
      ScoreTable. Raises UsageError (listing the pairs) when a game or seed is missing.
    """
    if data.frame.empty and not baselines:
        raise UsageError("nothing to tabulate: give run folders, sweep folders or CSVs, or --baselines")
    if reps < 1:
        raise UsageError("--reps must be >= 1")
    notes = list(data.notes)
    if step is not None and data.frame.empty:
        raise UsageError("--step applies to run folders and CSVs; shipped baselines are final scores only")
    user = final_scores(data.frame, step, allow_partial, notes) if not data.frame.empty else data.frame
    algorithms = list(dict.fromkeys(data.frame["algorithm"]))
    protocols = {a: _user_protocol(a, data.protocols.get(a, {}), user) for a in algorithms}
    notes.extend(own_algorithm_notes(protocols, [a for a in algorithms if "algo" in data.protocols.get(a, {})]))
    games = _game_order(set(user["game"])) if not user.empty else []
    budget = _user_budget_frames(data, user)
    parts = [user[["algorithm", "game", "seed", "step", "score"]]] if not user.empty else []
    for b in baselines:
        if b.kind == "final":
            rows, label, protocol = final_baseline_scores(b), b.label, _baseline_protocol(b)
        else:
            iteration = dopamine_iteration_for(budget)
            rows, label = curve_scores_at(b, iteration), curve_label_at(b, iteration)
            protocol = _baseline_protocol(b, iteration)
            if b.key == "IQN":
                notes.append(f"IQN: {IQN_NOTE}; its row is Dopamine iteration {iteration} "
                             f"({iteration}-{iteration + 1}M frames, training returns, sticky actions 0.25)")
            elif b.key == "Rainbow":
                notes.append(f"Rainbow (Dopamine): iteration {iteration} ({iteration}-{iteration + 1}M frames, "
                             f"sticky 0.25); the Rainbow baselines at 100k steps are DER and OTRainbow")
        # Never merge (or set side by side under one name) an input and a published algorithm.
        if label in algorithms or any(find_baseline(a) is b for a in algorithms):
            name = label if label in algorithms else next(a for a in algorithms if find_baseline(a) is b)
            raise UsageError(f"algorithm name {name!r} of an input reads as the baseline {label!r}; "
                             f"rename the input with --name")
        algorithms.append(label)
        protocols[label] = protocol
        if protocol.get("budget_frames") != budget and user.size:
            notes.append(f"{label}: budget {protocol['budget_frames']:,} frames differs from the inputs' "
                         f"{budget:,} frames (shown as published, not rescaled)")
        parts.append(rows)
    if not games:
        games = _game_order(set().union(*(set(p["game"]) for p in parts)))
    final = add_hns(pd.concat(parts, ignore_index=True))
    final = final[final["game"].isin(games)]

    # Inputs must cover every (game, seed); published runs are not paired across games, so
    # a baseline only needs every game.
    user_algorithms = set(data.frame["algorithm"])
    missing: dict[str, list[str]] = {}
    for a in algorithms:
        if a in user_algorithms:
            found = [f"({g}, seed {s})" for g, s in agg.missing_pairs(final, a, games)]
        else:
            found = [g for g in games if not (final["algorithm"].eq(a) & final["game"].eq(g)).any()]
        if found:
            missing[a] = found
    if missing and not allow_partial:
        listed = "; ".join(f"{a}: {', '.join(m[:12])}" + (f" and {len(m) - 12} more" if len(m) > 12 else "")
                           for a, m in missing.items())
        raise UsageError(f"missing (game, seed) pairs, refusing to aggregate (use --allow-partial): {listed}")
    for a in algorithms:
        absent = [g for g in games if not (final["algorithm"].eq(a) & final["game"].eq(g)).any()]
        if absent:
            notes.append(f"{a}: no scores on {', '.join(absent)}; its aggregates are over the other games")
        elif a in missing:
            notes.append(f"{a}: {len(missing[a])} missing (game, seed) pair(s) allowed by --allow-partial")

    matrices = {a: agg.score_matrix(final, a, games, "hns", notes) for a in algorithms}
    estimates = agg.interval_estimates(matrices, reps=reps, seed=seed)
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for a in algorithms:
        rows = final[final["algorithm"] == a]
        by_game = {g: rows.loc[rows["game"] == g, "score"].to_numpy(float) for g in games}
        by_game = {g: v for g, v in by_game.items() if len(v)}
        cis = agg.per_game_mean_cis(by_game, reps=reps, seed=seed) if ci else {}
        for g, v in by_game.items():
            hns = rows.loc[rows["game"] == g, "hns"].mean()
            cells[(g, a)] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None,
                             "runs": int(len(v)), "hns": float(hns)}
            if g in cis:
                cells[(g, a)]["ci"] = list(cis[g])
        protocols[a]["runs_per_game"] = _runs_text([len(v) for v in by_game.values()])
    return ScoreTable(
        games=games, algorithms=algorithms, cells=cells, aggregates=estimates,
        above_human={a: agg.games_above_human(m) for a, m in matrices.items()},
        runs={a: int(m.shape[0]) for a, m in matrices.items()},
        games_used={a: int(m.shape[1]) for a, m in matrices.items()},
        protocols=protocols, notes=notes, ci=ci, matrices=matrices, budget_frames=budget,
        bootstrap={"method": "stratified bootstrap, percentile CIs (rliable)", "reps": reps, "seed": seed,
                   "confidence": 0.95, "rliable_version": _rliable_version()},
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


# ---------------------------------------------------------------- text pieces

def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.{digits}f}" if abs(x) >= 10_000 else f"{x:.{digits}f}"


def _cell_text(table: ScoreTable, game: str, algorithm: str, pm: str) -> str:
    cell = table.cells.get((game, algorithm))
    if cell is None:
        return "n/a"
    if table.ci and "ci" in cell:
        return f"{_fmt(cell['mean'])} [{_fmt(cell['ci'][0])}, {_fmt(cell['ci'][1])}]"
    if cell["std"] is None:
        return _fmt(cell["mean"])
    return f"{_fmt(cell['mean'])} {pm} {_fmt(cell['std'])}"


def _best(table: ScoreTable, game: str) -> str | None:
    means = {a: table.cells[(game, a)]["mean"] for a in table.algorithms if (game, a) in table.cells}
    return max(means, key=means.get) if len(means) > 1 else None


def _estimate_text(e: agg.Estimate) -> str:
    return f"{e.value:.3f} [{e.ci[0]:.3f}, {e.ci[1]:.3f}]"


def _footer_rows(table: ScoreTable) -> list[tuple[str, list[str]]]:
    rows = [(title, [_estimate_text(table.aggregates[a][m]) for a in table.algorithms]) for m, title in FOOTER]
    rows.append(("#games >= human", [f"{table.above_human[a]} / {table.games_used[a]}" for a in table.algorithms]))
    return rows


def protocol_lines(table: ScoreTable) -> list[str]:
    """One line per algorithm, then how the aggregates were computed, then notes."""
    lines = []
    for a in table.algorithms:
        p = table.protocols[a]
        steps, frames = p.get("budget_steps"), p.get("budget_frames")
        budget = f"{steps:,} steps ({frames:,} frames)" if isinstance(steps, int) and isinstance(frames, int) \
            else "budget unknown"
        sticky = p.get("sticky_action_prob")
        sticky = "sticky actions unverified" if sticky is None else f"sticky actions {sticky:g}" \
            if isinstance(sticky, (int, float)) else f"sticky actions {sticky}"
        eval_text = f"{p['eval_episodes']} eval episodes" if p.get("eval_episodes") else p.get("score", "")
        if p.get("eval_policy") is not None:
            eval_text += f" ({p['eval_policy']})"
        scored = p.get("scored_at_steps")
        scored = f", scored at step {', '.join(map(str, scored))}" if scored else ""
        lines.append(f"{a}: {budget}, {sticky}, {eval_text}{_agent_text(p)}{scored}, {p['runs_per_game']} "
                     f"runs/game ({table.runs[a]} in aggregates), source: {p.get('source')}")
    b = table.bootstrap
    n_games = len(table.games)
    lines.append(
        f"Aggregates over {n_games} game{'s' if n_games != 1 else ''}: HNS = (score - random) / (human - random) "
        f"(random/human: rliable's Atari table); IQM, median, mean and optimality gap (gamma = 1) of per-run HNS "
        f"with {b['confidence']:.0%} CIs: {b['method']} {b['rliable_version']}, {b['reps']} reps, seed {b['seed']}. "
        f"Cells: raw score, " + ("mean [95% bootstrap CI of the mean] over runs." if table.ci
                                 else "mean +- sample std over runs; bold = best mean."))
    return lines + [f"Note: {n}" for n in table.notes]


def _agent_text(protocol: dict[str, Any]) -> str:
    """", 84x84 gray input, a lost life is a terminal for the agent" from run.json fields ("" if absent)."""
    parts = []
    if protocol.get("observation") is not None:
        parts.append(f"{protocol['observation']} input")
    life = protocol.get("life_loss_terminal")
    if isinstance(life, bool):
        parts.append(f"a lost life is {'' if life else 'not '}a terminal for the agent")
    elif life is not None:
        parts.append(f"a lost life is a terminal for the agent: {life}")
    return "".join(f", {x}" for x in parts)


def _title(table: ScoreTable) -> str:
    return (f"Atari 100k scores over {len(table.games)} game{'s' if len(table.games) != 1 else ''}: "
            f"raw game scores per game, human-normalised aggregates (1.0 = human)")


# ---------------------------------------------------------------- renderers

def _markdown(table: ScoreTable) -> str:
    header = ["Game", "Random", "Human", *table.algorithms]
    hr = human_random_scores()
    out = [f"**{_title(table)}**", "", "| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for g in table.games:
        best = _best(table, g)
        cells = [f"**{_cell_text(table, g, a, '±')}**" if a == best else _cell_text(table, g, a, "±")
                 for a in table.algorithms]
        out.append("| " + " | ".join([g, _fmt(hr.loc[g, "random"]), _fmt(hr.loc[g, "human"]), *cells]) + " |")
    for title, values in _footer_rows(table):
        out.append("| " + " | ".join([f"*{title}*", "", "", *values]) + " |")
    out.append("")
    out.extend(f"- {line}" for line in protocol_lines(table))
    return "\n".join(out) + "\n"


def _tex(text: str) -> str:
    text = str(text)
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("_", r"\_"),
                 ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        text = text.replace(a, b)
    return text.replace(">=", r"$\geq$").replace("+-", r"$\pm$")


def _latex(table: ScoreTable) -> str:
    ncol = 3 + len(table.algorithms)
    hr = human_random_scores()
    out = [f"% {_title(table)}", r"% requires \usepackage{booktabs}",
           r"\begin{tabular}{l" + "r" * (ncol - 1) + "}", r"\toprule",
           " & ".join(["Game", "Random", "Human", *map(_tex, table.algorithms)]) + r" \\", r"\midrule"]
    for g in table.games:
        best = _best(table, g)
        cells = [_cell_text(table, g, a, "+-") for a in table.algorithms]
        cells = [rf"\textbf{{{_tex(c)}}}" if a == best else _tex(c) for a, c in zip(table.algorithms, cells)]
        out.append(" & ".join([g, _fmt(hr.loc[g, "random"]), _fmt(hr.loc[g, "human"]), *cells]) + r" \\")
    out.append(r"\midrule")
    for title, values in _footer_rows(table):
        out.append(" & ".join([_tex(title), "", "", *map(_tex, values)]) + r" \\")
    out.append(r"\bottomrule")
    for line in protocol_lines(table):
        out.append(rf"\multicolumn{{{ncol}}}{{p{{0.95\linewidth}}}}{{\footnotesize {_tex(line)}}} \\")
    out.append(r"\end{tabular}")
    return "\n".join(out) + "\n"


def _csv(table: ScoreTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["kind", "name", "algorithm", "value", "std", "ci_low", "ci_high", "runs"])
    hr = human_random_scores()
    for g in table.games:
        writer.writerow(["game", g, "Random", hr.loc[g, "random"], "", "", "", ""])
        writer.writerow(["game", g, "Human", hr.loc[g, "human"], "", "", "", ""])
        for a in table.algorithms:
            c = table.cells.get((g, a))
            if c:
                lo, hi = c.get("ci", ["", ""])
                writer.writerow(["game", g, a, c["mean"], "" if c["std"] is None else c["std"], lo, hi, c["runs"]])
    for a in table.algorithms:
        for m in agg.METRICS:
            e = table.aggregates[a][m]
            writer.writerow(["aggregate_hns", m, a, e.value, "", e.ci[0], e.ci[1], table.runs[a]])
        writer.writerow(["aggregate_hns", "games_above_human", a, table.above_human[a], "", "", "", table.runs[a]])
    for line in protocol_lines(table):
        writer.writerow(["note", line, "", "", "", "", "", ""])
    return buffer.getvalue()


def table_json(table: ScoreTable) -> dict[str, Any]:
    """The table as a JSON-ready dict (HNS values as fractions, 1.0 = human)."""
    hr = human_random_scores()
    return {
        "aggregates": {a: {**{m: table.aggregates[a][m].as_dict() for m in agg.METRICS},
                           "games_above_human": table.above_human[a], "runs": table.runs[a],
                           "games": table.games_used[a]} for a in table.algorithms},
        "games": [{"game": g, "random": float(hr.loc[g, "random"]), "human": float(hr.loc[g, "human"]),
                   "scores": {a: table.cells[(g, a)] for a in table.algorithms if (g, a) in table.cells}}
                  for g in table.games],
        "protocol": {"algorithms": table.protocols, "bootstrap": table.bootstrap, "games": len(table.games),
                     "normalisation": "HNS = (score - random) / (human - random), rliable's table",
                     "lines": protocol_lines(table), "notes": table.notes},
    }


def render_table(table: ScoreTable, fmt: str = "markdown") -> str:
    """Format a ScoreTable as `markdown`, `latex` (booktabs), `csv` or `json` text."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(table_json(table), indent=2, default=_json_default) + "\n"
    return {"markdown": _markdown, "latex": _latex, "csv": _csv}[fmt](table)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)
