"""The reproduction check as text and as a figure: markdown, JSON, and the per-game plot.

`render_comparison` formats an `analysis.compare.Comparison` as markdown (`headline`, the
per-game table, the aggregates, the protocol, and how every number was obtained:
`method_lines`) or JSON (`comparison_json`); `comparison_figure` draws it. Output paths are
checked before any work by `atari100k.outpaths.check_output_path`. Nothing here prints; files are
written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis import aggregate as agg
from analysis.compare import Comparison, Side, algorithm_family
from analysis.curve_report import build_curve_figure, curve_json, curve_markdown, curve_method_line
from analysis.protocol import field_text
from analysis.output import json_default
from analysis.rank_test import RankTest
from atari100k.errors import UsageError
from atari100k.text import counted

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = ("markdown", "json")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


# ---------------------------------------------------------------- text

def _num(x: float) -> str:
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    return f"{x:,.1f}" if abs(x) >= 10 else f"{x:.2f}"  # thousands separators from 1,000, as `table`


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
        f"{c.ours.label}: {counted(k_text, 'run')} per game; a run's score: {c.ours.score_text}. Source: {c.ours.source}.",
        f"{c.against.label}: {counted(n_text, 'run')} per game; a run's score: {c.against.score_text}. "
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
        f"Aggregates over the {counted(len(c.games), 'common game')}: HNS = (score - random) / (human - random) (rliable's "
        f"Atari table); IQM with 95% CIs and P({c.ours.label} > {c.against.label}) averaged over games "
        f"(Mann-Whitney U/(k n) per game) with its 95% CI: {b['method']}, {b['reps']} reps, seed {b['seed']}"
        + ("" if c.verdict is not None else
           " (here P and every IQM of a side with one run per game are point estimates, without CI)") + "; "
        "runs per game in the aggregates: " + ", ".join(f"{a} {r}" for a, r in c.runs.items()) + ". "
        "Verdict: 'reproduced' when the CI of P(ours > published) contains 0.5, else 'better than published' / "
        "'worse than published'.",
    ]
    lines.append(
        f"Range checks (descriptive, not the verdict): a run is inside when it lies within its game's 5-95% range of "
        f"{c.against.label} (ends included); our IQM is inside when its point lies within the 95% CI of "
        f"{c.against.label}'s IQM, which allows only for {c.against.label}'s sampling error, not for ours. How often "
        f"a faithful reproduction with our run counts passes each (in parentheses) is simulated from "
        f"{c.against.label}'s own runs, {b['reps'] or agg.DEFAULT_REPS} draws, seed {b['seed']}: for the ranges, "
        f"our number of runs per game held out and the range taken from the others (one range is shared by a "
        f"game's runs, so not 0.9^k); for the IQM, each game's runs resampled (the published estimate's own error) "
        f"and our number of runs drawn from them. P({c.ours.label} > {c.against.label}) allows for both errors.")
    if 1 < min(c.runs.values()) <= 10:
        lines.append(f"With {min(c.runs.values())} runs per game the bootstrap resamples only those runs, so its CI is "
                     f"somewhat narrow: of 40 random 5-run splits of DER's own runs, 37 read 'reproduced' against "
                     f"the other 95 (about 92%, not 95%).")
    if c.curves is not None:
        lines.append(curve_method_line(c.curves, c.ours.label, c.against.label))
    cannot = [g.game for g in c.games if g.test.min_p_value is not None and g.test.min_p_value >= c.level]
    if cannot:
        lines.append(f"With these run counts the test cannot reach p < {c.level:g} on {', '.join(cannot)}: "
                     f"'consistent' there is by construction, not evidence.")
    return lines


def _runs_cell(values: list[float], fmt) -> str:
    if len(values) <= 5:
        return ", ".join(fmt(v) for v in values)
    return (f"median {fmt(float(np.median(values)))} [{fmt(min(values))}, {fmt(max(values))}] "
            f"({counted(len(values), 'run')})")


def same_algorithm(c: Comparison) -> bool:
    """Whether both sides run one algorithm (`algorithm_family`): "DER (ours)" and
    "DER (Dopamine, Agarwal et al.)" do (a reproduction check); "IQN (ours)" and DER do not."""
    return algorithm_family(c.ours.label) == algorithm_family(c.against.label)


def _markdown(c: Comparison) -> str:
    ours, them = c.ours.label, c.against.label
    same = same_algorithm(c)
    title = "Reproduction check" if same else "Comparison (different algorithms, not a reproduction check)"
    out = [f"**{title}: {ours} against {them} on {counted(len(c.games), 'game')}**", "", headline(c), ""]
    if not same:
        out += [f"{ours} and {them} are different algorithms: each verdict says whether {ours}'s scores can be "
                f"told apart from {them}'s, not that {them} was reproduced.", ""]
    if c.protocol.differences:
        out += [f"Compared despite {counted(len(c.protocol.differences), 'protocol difference')} (listed under Protocol): "
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
        out.append(f"| IQM {label} ({counted(c.runs[label], 'run')}/game) | {_estimate(e)} |")
    out.append(f"| P({ours} > {them}) | {_estimate(c.poi)} |")
    inside, total = c.runs_inside_range
    passes = ("" if c.range_inside_rate is None else
              f" (all {total} runs of a faithful reproduction are inside {100 * c.range_inside_rate:.0f}% of the time)")
    out.append(f"| {ours} runs inside {them}'s 5-95% range of their game | {inside} of {total}{passes} |")
    within = {True: "yes", False: "**no**", None: f"- ({them} has no CI)"}[c.iqm_inside_ci]
    if c.iqm_inside_rate is not None:
        within += (f" (a faithful reproduction with {counted(c.runs[ours], 'run')} per game is inside "
                   f"{100 * c.iqm_inside_rate:.0f}% of the time)")
    out.append(f"| IQM {ours} inside the 95% CI of IQM {them} | {within} |")
    if c.curves is not None:
        out += ["", *curve_markdown(c.curves, ours, them)]
    out += ["", "**Protocol**", "", f"| field | {ours} | {them} | |", "|---|---|---|---|"]
    for r in c.protocol.rows:
        out.append(f"| {r['title']} | {field_text(r['ours'])} | {field_text(r['against'])} | {r['status']} |")
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
        "verdict": c.verdict, "headline": headline(c).replace("**", ""), "same_algorithm": same_algorithm(c),
        "aggregate": {"iqm_hns": {label: _estimate_json(e) for label, e in c.iqm.items()},
                      "probability_of_improvement": _estimate_json(c.poi),
                      "runs_per_game": c.runs, "games": len(c.games), "bootstrap": c.bootstrap,
                      "runs_inside_5_95": {**dict(zip(("inside", "runs"), c.runs_inside_range)),
                                           "faithful_pass_rate": c.range_inside_rate},
                      "iqm_inside_against_ci": c.iqm_inside_ci,
                      "iqm_inside_rate_of_against_draws": c.iqm_inside_rate},
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
        "curves": curve_json(c.curves) if c.curves is not None else None,
        "method": method_lines(c), "notes": c.notes,
    }


def render_comparison(c: Comparison, fmt: str = "markdown") -> str:
    """Format a Comparison as `markdown` or `json` text."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(comparison_json(c), indent=2, default=json_default) + "\n"
    return _markdown(c)


# ---------------------------------------------------------------- the figure

_VERDICT_COLORS = {"consistent": "0.15", "below": "tab:red", "above": "tab:blue"}


def comparison_figure(c: Comparison, path: str | Path) -> Path:
    """Write `build_comparison_figure(c)` atomically to `path` (format from the suffix: .png, .pdf,
    .svg; PDF/SVG text stays text, TrueType)."""
    return _write_figure(lambda: build_comparison_figure(c), path)


def check_curve_figure(c: Comparison) -> None:
    """Refuse (UsageError, one line, saying why) `--curve-figure` for a comparison without a curve check."""
    if c.curves is None:
        why = (f"{c.against.label} ships no per-run evaluations during training (DER does)"
               if c.against.curves is None else
               f"{c.ours.label} has no evaluation at {c.against.label}'s steps before the last (eval.every)")
        raise UsageError(f"--curve-figure: no learning curves to compare: {why}")


def curve_figure(c: Comparison, path: str | Path) -> Path:
    """Write the learning-curve check's figure (`analysis.curve_report.build_curve_figure`) as
    `comparison_figure` does (`check_curve_figure` first)."""
    check_curve_figure(c)
    return _write_figure(lambda: build_curve_figure(c.curves, c.ours.label, c.against.label), path)


def _write_figure(build, path: str | Path) -> Path:
    import matplotlib

    from atari100k.fileio import atomic_write

    path = Path(path)
    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}):
        fig = build()
        fmt = path.suffix.lstrip(".").lower()
        atomic_write(path, lambda handle: fig.savefig(handle, format=fmt, dpi=150), mode="wb")
    return path


def build_comparison_figure(c: Comparison) -> Figure:
    """Per game, the published runs (box: median, quartiles, whiskers at 5-95%; dots: every run)
    and our runs (diamonds), each game on its own raw-score axis; up to 5 games per row."""
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    from analysis.figure_panels import panel_grid

    # `orientation` replaced `vert` in matplotlib 3.10.
    horizontal = ({"orientation": "horizontal"} if tuple(map(int, matplotlib.__version__.split(".")[:2])) >= (3, 10)
                  else {"vert": False})
    rng = np.random.default_rng(0)
    grid = panel_grid(
        len(c.games), 1.25,
        [f"{c.ours.label} (diamonds) against {c.against.label} (box: median, quartiles, whiskers at 5-95%; dots: "
         f"every published run)", headline(c).replace("**", "")],
        f"x: raw game score, each game on its own axis. Our score per run: {c.ours.score_text}. Published: "
        f"{c.against.score_text}. Per-game verdict: two-sided exact rank-sum test at level {c.level:g} (p in "
        f"each title). Overall: P(ours > published) with a stratified bootstrap 95% CI, "
        f"{c.bootstrap['reps']} reps, seed {c.bootstrap['seed']}.")
    for ax, g in zip(grid.axes, c.games):
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
    return grid.finish()
