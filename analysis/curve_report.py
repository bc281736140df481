"""The learning-curve check (`analysis.curve_check`) as markdown, JSON and a figure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.curve_check import CurveCheck, GameCurves

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _step(step: int) -> str:
    return f"{step / 1000:g}k"


def _score(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}"


def _cell(score: float, percentile: float) -> str:
    return "-" if np.isnan(score) else f"{_score(score)} ({percentile:.0f})"


def _median_text(g: GameCurves, seed: int) -> str:
    median = g.median_percentile(seed)
    return "-" if np.isnan(median) else f"{median:.0f}"


def curve_markdown(check: CurveCheck, ours: str, them: str) -> list[str]:
    """The section: per game, the published median [5%, 95%] at each step, then each of our runs'
    score (its percentile among the published runs) and the median of its percentiles."""
    steps = check.steps
    out = [f"**Learning curves**: each evaluation of {ours} placed among {them}'s evaluations at the same step "
           f"(score (percentile); descriptive, see the notes below)", "",
           "| Game | | " + " | ".join(_step(s) for s in steps) + " | median percentile |",
           "|---|---|" + "---:|" * (len(steps) + 1)]
    for g in check.games:
        at = {s: i for i, s in enumerate(g.steps)}
        published = [f"{_score(g.published[50][at[s]])} [{_score(g.published[5][at[s]])}, "
                     f"{_score(g.published[95][at[s]])}]"
                     if s in at else "-" for s in steps]
        out.append(f"| {g.game} | published median [5%, 95%] ({g.published_runs} runs) | " + " | ".join(published)
                   + " | |")
        for seed in g.ours:
            cells = [_cell(g.ours[seed][at[s]], g.percentiles[seed][at[s]]) if s in at else "-" for s in steps]
            out.append(f"| {g.game} | seed {seed} | " + " | ".join(cells) + f" | {_median_text(g, seed)} |")
    return out


def curve_method_line(check: CurveCheck, ours: str, them: str) -> str:
    """How the curve section's numbers were obtained (a footnote)."""
    return (f"Learning curves: at each step both sides evaluated at, the published median and 5-95% range of "
            f"{them}'s runs and the mid-rank percentile of each of our evaluations among them; per run, the median of "
            f"its percentiles over the steps. {them}: {check.published_text}. {ours}: {check.ours_text}. "
            f"Descriptive, with no test: a run's evaluations are not independent, and an evaluation that averages "
            f"fewer episodes than the published 100 spreads our points wider than the published runs' even when "
            f"nothing differs, so single steps near 0 or 100 are expected; a run whose percentiles stay high (or "
            f"low) over many steps learns faster (or more slowly) than the published runs did.")


def curve_json(check: CurveCheck) -> dict[str, Any]:
    """JSON-ready: per game the steps, the published percentiles and our runs' scores and percentiles
    (NaN becomes null)."""
    def clean(values: list[float]) -> list[float | None]:
        return [None if np.isnan(v) else v for v in values]

    return {"published": check.published_text, "ours": check.ours_text, "games": [
        {"game": g.game, "steps": g.steps, "published_runs": g.published_runs,
         "published_percentiles": {str(q): v for q, v in g.published.items()},
         "ours": {str(seed): {"scores": clean(g.ours[seed]), "percentiles": clean(g.percentiles[seed]),
                              "median_percentile": None if np.isnan(m := g.median_percentile(seed)) else m}
                  for seed in g.ours}} for g in check.games]}


def build_curve_figure(check: CurveCheck, ours: str, them: str) -> Figure:
    """Per game: the published runs' median (line), 25-75% and 5-95% bands at each step, and each of
    our runs (a line with markers, one colour per seed); raw score against agent steps; up to 5 games a row."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from analysis.figure_panels import panel_grid

    grid = panel_grid(
        len(check.games), 2.0,
        [f"{ours} (lines with markers, one per run) in the evaluations of {them}'s runs at the same steps (line: "
         f"median; bands: 25-75% and 5-95%)"],
        f"{them}: {check.published_text}. {ours}: {check.ours_text}. Panel titles: the median of each run's "
        f"percentiles over the steps.", min_width=4.5)
    colors = ["tab:orange", "tab:purple", "tab:red", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    for i, (ax, g) in enumerate(zip(grid.axes, check.games)):
        _draw_game(ax, g, colors)
        ax.set_xlabel("agent steps", fontsize=7)
        if i % grid.columns == 0:
            ax.set_ylabel("raw game score", fontsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _step(int(x))))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    return grid.finish()


def _draw_game(ax, g: GameCurves, colors: list[str]) -> None:
    x = np.asarray(g.steps, float)
    ax.fill_between(x, g.published[5], g.published[95], color="tab:green", alpha=0.15, lw=0, gid="band:5-95")
    ax.fill_between(x, g.published[25], g.published[75], color="tab:green", alpha=0.3, lw=0, gid="band:25-75")
    ax.plot(x, g.published[50], color="tab:green", lw=1.2, gid="published:median",
            label=f"published median ({g.published_runs} runs)")
    medians = []
    for i, seed in enumerate(g.ours):
        y = np.asarray(g.ours[seed], float)
        ax.plot(x, y, marker="o", ms=3, lw=1, color=colors[i % len(colors)], gid=f"ours:{seed}",
                label=f"seed {seed}")
        medians.append(_median_text(g, seed))
    ax.set_title(f"{g.game}: runs at median percentile {', '.join(medians)}", fontsize=8)
    ax.legend(fontsize=6, loc="best", frameon=False)
