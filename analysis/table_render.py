"""A ScoreTable as text: markdown, LaTeX (booktabs), CSV and JSON.

All formats show the same things: per-game raw scores (mean +- std, or mean [CI]), the
aggregates with their CIs, every protocol field of every column, and the notes. Numbers have
thousands separators from 1,000. Bold = the best among the columns that share the first column's
protocol (`ScoreTable.same_protocol`), per game and per aggregate, and only when at least two such
columns have a value; a column whose protocol differs is marked with MARK in the header.

CSV and JSON also hold every run's score (`per_run`) and every protocol field, so a table can be
rebuilt from them: `atari100k table exported.csv` reads a CSV export back (its `run` rows are the
scores, its `protocol` rows the protocol of each column).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis import aggregate as agg
from analysis.baselines import human_random_scores
from analysis.output import json_default
from analysis.protocol import FIELD_TITLES, MARK, TABLE_FIELDS, export_value, field_text
from atari100k.errors import UsageError
from atari100k.text import counted

if TYPE_CHECKING:
    from analysis.table import ScoreTable

FORMATS = ("markdown", "latex", "csv", "json")
ATARI100K_STEPS = 100_000
FOOTER = (("mean", "Mean HNS"), ("median", "Median HNS"), ("iqm", "IQM HNS"),
          ("optimality_gap", "Optimality gap"))
LOWER_IS_BETTER = ("optimality_gap",)
CSV_COLUMNS = ["kind", "name", "algorithm", "value", "std", "ci_low", "ci_high", "runs", "seed", "step"]


# ---------------------------------------------------------------- numbers and words

def num(x: float | None, digits: int = 1) -> str:
    """A number as shown in tables: `digits` decimals, thousands separators from 1,000; '-' if missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.{digits}f}"


def _level(table: ScoreTable) -> str:
    return f"{table.bootstrap['confidence'] * 100:g}%"


def _cell_text(table: ScoreTable, game: str, algorithm: str, pm: str) -> str:
    cell = table.cells.get((game, algorithm))
    if cell is None:
        return "n/a"
    if table.ci and "ci" in cell:
        return f"{num(cell['mean'])} [{num(cell['ci'][0])}, {num(cell['ci'][1])}]"
    if cell["std"] is None:
        return num(cell["mean"])
    return f"{num(cell['mean'])} {pm} {num(cell['std'])}"


def _best(values: dict[str, float], lower: bool = False) -> set[str]:
    """The keys holding the best value (ties included); none with fewer than two values or when all are equal."""
    values = {k: v for k, v in values.items() if v is not None and not math.isnan(v)}
    if len(values) < 2 or len(set(values.values())) == 1:
        return set()
    best = min(values.values()) if lower else max(values.values())
    return {k for k, v in values.items() if v == best}


def bold_cells(table: ScoreTable, game: str) -> set[str]:
    """The columns bold on `game`: best mean (as shown, 1 decimal) among the same-protocol columns."""
    return _best({a: round(table.cells[(game, a)]["mean"], 1) for a in table.same_protocol()
                  if (game, a) in table.cells})


def footer_rows(table: ScoreTable) -> list[tuple[str, str, list[str], set[str]]]:
    """(key, title, text per column, bold columns) for each aggregate row. Bold only among the
    same-protocol columns aggregated over every game of the table: an aggregate over fewer games
    says over how many and is never bold."""
    whole = [a for a in table.same_protocol() if table.games_used[a] == len(table.games)]
    rows = []
    for metric, title in FOOTER:
        estimates = {a: table.aggregates[a][metric] for a in table.algorithms}
        bold = _best({a: round(estimates[a].value, 3) for a in whole}, lower=metric in LOWER_IS_BETTER)
        rows.append((metric, title, [_estimate_text(table, a, estimates[a]) for a in table.algorithms], bold))
    bold = _best({a: float(table.above_human[a]) for a in whole})
    rows.append(("games_above_human", "#games >= human",
                 [f"{table.above_human[a]} / {table.games_used[a]}" for a in table.algorithms], bold))
    return rows


def aggregate_ci(table: ScoreTable, algorithm: str, e: agg.Estimate) -> tuple[float, float] | None:
    """An aggregate's CI, None with one run per game (a bootstrap of one run is no interval)."""
    return e.ci if table.runs[algorithm] >= 2 else None


def aggregate_caveats(table: ScoreTable, algorithm: str) -> list[str]:
    """What an algorithm's aggregates lack: a CI (one run per game), games (fewer than the table's)."""
    said = ["no CI: 1 run"] if table.runs[algorithm] < 2 else []
    if table.games_used[algorithm] < len(table.games):
        said.append(f"{table.games_used[algorithm]} of {len(table.games)} games")
    return said


def _estimate_text(table: ScoreTable, algorithm: str, e: agg.Estimate) -> str:
    ci = aggregate_ci(table, algorithm, e)
    said = aggregate_caveats(table, algorithm)
    text = f"{e.value:,.3f}" + (f" [{ci[0]:,.3f}, {ci[1]:,.3f}]" if ci else "")
    return text + (f" ({'; '.join(said)})" if said else "")


def _estimate_dict(table: ScoreTable, algorithm: str, e: agg.Estimate) -> dict[str, Any]:
    ci = aggregate_ci(table, algorithm, e)
    return {"value": float(e.value), "ci": [float(ci[0]), float(ci[1])] if ci else None}


def _header(table: ScoreTable, algorithm: str) -> str:
    return f"{algorithm} {MARK}" if algorithm in table.differences else algorithm


def _agent_text(fields: dict[str, Any]) -> str:
    """"; the agent's own choices (not compared): 84x84 gray input, ..." ("" if none recorded)."""
    parts = []
    if fields.get("observation") is not None:
        parts.append(f"{fields['observation']} input")
    life = fields.get("life_loss_terminal")
    if isinstance(life, (bool, np.bool_)):
        parts.append(f"a lost life is {'' if life else 'not '}a terminal for the agent")
    elif life is not None:
        parts.append(f"a lost life is a terminal for the agent: {life}")
    if fields.get("eval_policy") is not None:
        parts.append(f"evaluation policy ({fields['eval_policy']})")
    return f"; the agent's own choices (not compared): {', '.join(parts)}" if parts else ""


def mark_legend(table: ScoreTable) -> str | None:
    """What MARK means, when some column carries it."""
    if not table.differences:
        return None
    return (f"{MARK} protocol differs from the first column's ({table.reference}): never bold; each difference "
            f"is a note below.")


def protocol_lines(table: ScoreTable) -> list[str]:
    """One line per column with every protocol field, then how the aggregates were computed, then notes."""
    lines = []
    for a in table.algorithms:
        fields, p = table.fields.get(a, {}), table.protocols[a]
        listed = "; ".join(f"{title}: {field_text(fields.get(key))}" for key, title in TABLE_FIELDS)
        lines.append(f"{_header(table, a)}: {listed}{_agent_text(fields)}; {counted(p['runs_per_game'], 'run')}/game "
                     f"({table.runs[a]} in aggregates); source: {p.get('source')}")
    b = table.bootstrap
    n_games = len(table.games)
    runs = table.options.get("runs")
    lines.append(
        f"Aggregates over {counted(n_games, 'game')}: HNS = (score - random) / (human - random) "
        f"(random/human: rliable's Atari table); IQM, median, mean and optimality gap (gamma = 1) of per-run HNS "
        f"with {_level(table)} CIs: {b['method']} {b['rliable_version']}, {b['reps']} reps, seed {b['seed']}"
        + (f"; the first {runs} runs per game of every column" if runs else "") + ". Cells: raw score, "
        + (f"mean [{_level(table)} bootstrap CI of the mean] over runs" if table.ci
           else "mean +- sample std over runs")
        + "; bold = best among the columns whose protocol matches the first column's (per game and per "
          "aggregate; none when fewer than two).")
    return lines + [f"Note: {n}" for n in table.notes]


def _title(table: ScoreTable) -> str:
    games = counted(len(table.games), "game")
    return (f"{budget_heading(table)} over {games}: raw game scores per game, human-normalised aggregates "
            f"(1.0 = human)")


def budget_heading(table: ScoreTable) -> str:
    """"Atari 100k scores" when the first column's runs trained for 100k agent steps; otherwise the
    budget they did use, so that a debug sweep is never headed as an Atari 100k result."""
    fields = table.fields.get(table.reference or "", {}) if table.algorithms else {}
    budget = fields.get("budget_steps")
    if budget == ATARI100K_STEPS or (budget is None and not table.algorithms):
        return "Atari 100k scores"
    if isinstance(budget, int):
        return f"Scores after {budget:,} agent steps (not the Atari 100k budget of {ATARI100K_STEPS:,})"
    return f"Scores at the budgets under the table ({budget or 'budget not recorded'}; not one Atari 100k budget)"


# ---------------------------------------------------------------- markdown

def _md(text: str) -> str:
    return str(text).replace("|", r"\|")


def _markdown(table: ScoreTable) -> str:
    header = ["Game", "Random", "Human", *(_header(table, a) for a in table.algorithms)]
    hr = human_random_scores()
    out = [f"**{_title(table)}**", "", "| " + " | ".join(map(_md, header)) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for g in table.games:
        bold = bold_cells(table, g)
        cells = [f"**{_cell_text(table, g, a, '±')}**" if a in bold else _cell_text(table, g, a, "±")
                 for a in table.algorithms]
        out.append("| " + " | ".join([g, num(hr.loc[g, "random"]), num(hr.loc[g, "human"]), *cells]) + " |")
    for _, title, values, bold in footer_rows(table):
        values = [f"**{v}**" if a in bold else v for a, v in zip(table.algorithms, values)]
        out.append("| " + " | ".join([f"*{title}*", "", "", *values]) + " |")
    out.append("")
    legend = mark_legend(table)
    if legend:
        out += [legend, ""]
    out.extend(f"- {line}" for line in protocol_lines(table))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- LaTeX

_TEX_SEQUENCES = {">=": r"$\geq$", "<=": r"$\leq$", "+-": r"$\pm$"}
_TEX_CHARS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "$": r"\$", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "|": r"\textbar{}", '"': "''", "±": r"$\pm$", "≥": r"$\geq$", "≤": r"$\leq$",
    "×": r"$\times$", "ε": r"$\varepsilon$", MARK: r"\textsuperscript{\dag}", "–": "--", "—": "---",
    "≈": r"$\approx$", "·": r"$\cdot$", "→": r"$\rightarrow$", "…": r"\ldots{}",
}
_TEX_TOKEN = re.compile("|".join(map(re.escape, _TEX_SEQUENCES)) + "|.", re.S)


def tex(text: Any) -> str:
    """Text safe in LaTeX text mode: special characters escaped (`<Game>` prints as <Game>, not ¡Game¿;
    `_ & % # $ { } ~ ^ \\ |` escaped), `>=`, `+-` and a few symbols (± ε × † –) as math or text commands."""
    return "".join(_TEX_SEQUENCES.get(t) or _TEX_CHARS.get(t, t) for t in _TEX_TOKEN.findall(str(text)))


def _latex(table: ScoreTable) -> str:
    ncol = 3 + len(table.algorithms)
    hr = human_random_scores()
    out = [f"% {_title(table)}", r"% requires \usepackage{booktabs}",
           r"\begin{tabular}{l" + "r" * (ncol - 1) + "}", r"\toprule",
           " & ".join(["Game", "Random", "Human", *(tex(_header(table, a)) for a in table.algorithms)]) + r" \\",
           r"\midrule"]
    for g in table.games:
        bold = bold_cells(table, g)
        cells = [rf"\textbf{{{tex(_cell_text(table, g, a, '+-'))}}}" if a in bold
                 else tex(_cell_text(table, g, a, "+-")) for a in table.algorithms]
        out.append(" & ".join([tex(g), tex(num(hr.loc[g, "random"])), tex(num(hr.loc[g, "human"])), *cells])
                   + r" \\")
    out.append(r"\midrule")
    for _, title, values, bold in footer_rows(table):
        values = [rf"\textbf{{{tex(v)}}}" if a in bold else tex(v) for a, v in zip(table.algorithms, values)]
        out.append(" & ".join([tex(title), "", "", *values]) + r" \\")
    out.append(r"\bottomrule")
    legend = mark_legend(table)
    for line in ([legend] if legend else []) + protocol_lines(table):
        out.append(rf"\multicolumn{{{ncol}}}{{p{{0.95\linewidth}}}}{{\footnotesize {tex(line)}}} \\")
    out.append(r"\end{tabular}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- CSV and JSON

def _csv(table: ScoreTable) -> str:
    """Rows of kind: game (per-game cells, with Random and Human), aggregate_hns, run (one per run: name =
    game, value = raw score, seed, step), protocol (name = field, value), column (protocol_differs),
    setting (bootstrap and selection), note."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(kind: str, name: Any, algorithm: str = "", value: Any = "", std: Any = "", lo: Any = "",
            hi: Any = "", runs: Any = "", seed: Any = "", step: Any = "") -> None:
        writer.writerow([kind, name, algorithm, value, std, lo, hi, runs, seed, step])

    hr = human_random_scores()
    for g in table.games:
        row("game", g, "Random", hr.loc[g, "random"])
        row("game", g, "Human", hr.loc[g, "human"])
        for a in table.algorithms:
            c = table.cells.get((g, a))
            if c:
                lo, hi = c.get("ci", ["", ""])
                row("game", g, a, c["mean"], "" if c["std"] is None else c["std"], lo, hi, c["runs"])
    for a in table.algorithms:
        for m in agg.METRICS:
            e = table.aggregates[a][m]
            lo, hi = aggregate_ci(table, a, e) or ("", "")
            row("aggregate_hns", m, a, e.value, "", lo, hi, table.runs[a])
        row("aggregate_hns", "games_above_human", a, table.above_human[a], runs=table.runs[a])
    for r in table.per_run.itertuples():
        row("run", r.game, r.algorithm, r.score, seed=int(r.seed), step="" if np.isnan(r.step) else int(r.step))
    for a in table.algorithms:
        for key, value in table.fields.get(a, {}).items():
            if value is not None:
                row("protocol", key, a, export_value(value))
        row("column", "protocol_differs", a, export_value(a in table.differences))
    b = table.bootstrap
    for name, value in (("reps", b["reps"]), ("seed", b["seed"]), ("confidence", b["confidence"]),
                        ("runs", table.options.get("runs") or ""),
                        ("games", ",".join(table.options.get("games") or []))):
        row("setting", name, value=value)
    legend = mark_legend(table)
    for line in ([legend] if legend else []) + protocol_lines(table):
        row("note", line)
    return buffer.getvalue()


def table_json(table: ScoreTable) -> dict[str, Any]:
    """The table as a JSON-ready dict (HNS values as fractions, 1.0 = human), with every run's score."""
    hr = human_random_scores()
    per_run = [{"algorithm": r.algorithm, "game": r.game, "seed": int(r.seed),
                "step": None if np.isnan(r.step) else int(r.step), "score": float(r.score), "hns": float(r.hns)}
               for r in table.per_run.itertuples()]
    return {
        "aggregates": {a: {**{m: _estimate_dict(table, a, table.aggregates[a][m]) for m in agg.METRICS},
                           "games_above_human": table.above_human[a], "runs": table.runs[a],
                           "games": table.games_used[a]} for a in table.algorithms},
        "games": [{"game": g, "random": float(hr.loc[g, "random"]), "human": float(hr.loc[g, "human"]),
                   "scores": {a: table.cells[(g, a)] for a in table.algorithms if (g, a) in table.cells},
                   "bold": sorted(bold_cells(table, g))}
                  for g in table.games],
        "columns": [{"algorithm": a, "header": _header(table, a), "protocol_differs": a in table.differences}
                    for a in table.algorithms],
        "per_run": per_run,
        "protocol": {"algorithms": table.protocols, "bootstrap": table.bootstrap, "games": len(table.games),
                     "normalisation": "HNS = (score - random) / (human - random), rliable's table",
                     "fields": table.fields, "field_titles": FIELD_TITLES, "reference": table.reference,
                     "differences": table.differences, "options": table.options,
                     "lines": protocol_lines(table), "notes": table.notes},
    }


def render_table(table: ScoreTable, fmt: str = "markdown") -> str:
    """Format a ScoreTable as `markdown`, `latex` (booktabs), `csv` or `json` text."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(table_json(table), indent=2, default=json_default) + "\n"
    return {"markdown": _markdown, "latex": _latex, "csv": _csv}[fmt](table)


