"""The paper figures (Agarwal et al. 2021 style), camera-ready PNG and PDF.

`make_figures` writes into one folder, every figure at a paper's column width (`width`:
'single' = 3.25 in, 'double' = 6.75 in; fonts >= 7 pt at that size, TrueType fonts in PDFs):
- `aggregates`: IQM, median, mean, optimality gap of HNS with stratified bootstrap CIs (95% unless --confidence);
- `performance_profiles`: fraction of runs with HNS > tau, with CI bands;
- `probability_of_improvement`: P(X > Y) on [0, 1] with a 0.5 line, the first algorithm against
  each other one (`poi="first"`) or every pair (`poi="all-pairs"`);
- `sample_efficiency`: IQM HNS vs frames for the inputs, final-score baselines at their budget,
  and curve baselines (Dopamine agents, DreamerV2's own curves) only when asked for (their own
  log-frame panel);
- `learning_curves`: per-game mean evaluation return vs frames;
and `figures.txt`: how every figure was computed. Drawing: `figure_summary`, `figure_curves`;
sizes, fonts and saving: `figure_style`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from matplotlib.figure import Figure

from analysis import aggregate as agg
from analysis.baselines import Baseline
from analysis.figure_curves import learning_curves_figure, sample_efficiency_figure
from analysis.figure_style import DEFAULT_WIDTH, check_width, palette, percent, save, style
from analysis.figure_summary import POI_MODES, TAUS, aggregates_figure, poi_figure, profiles_figure
from analysis.scores import ScoreData
from analysis.table import MARK, ScoreTable, build_table, protocol_lines
from analysis.table_render import aggregate_caveats, budget_heading
from atari100k.errors import UsageError
from atari100k.fileio import atomic_write_text

__all__ = ["FIGURES", "FigureSet", "TAUS", "build_figures", "make_figures"]

FIGURES = ("aggregates", "performance_profiles", "probability_of_improvement", "sample_efficiency",
           "learning_curves")


@dataclass
class FigureSet:
    """The figures of one `plot`, drawn but not saved."""

    figures: dict[str, Figure]
    """name (FIGURES) -> figure, at its printed size."""
    captions: dict[str, str]
    """name -> how it was computed (the lines of figures.txt)."""
    table: ScoreTable
    width: str
    protocol: list[str] = field(default_factory=list)


def build_figures(data: ScoreData, baselines: Sequence[Baseline], step: int | None = None,
                  allow_partial: bool = False, reps: int = agg.DEFAULT_REPS, seed: int = agg.DEFAULT_SEED,
                  width: str = DEFAULT_WIDTH, poi: str = "first", confidence: float = 0.95) -> FigureSet:
    """Compute the table and draw every figure (unsaved).

    Args:
      data: loaded inputs (may be empty when `baselines` is given).
      baselines: shipped baselines; curve baselines (Dopamine's Rainbow, IQN, DQN, C51; DreamerV2's own
        curves) appear only when listed.
      step, allow_partial, reps, seed: as for `build_table` (same refusals).
      width: 'single' (3.25 in) or 'double' (6.75 in).
      poi: 'first' (the first algorithm against each other one) or 'all-pairs'.
      confidence: the level of every CI (0.95 = 95%), as `table --confidence`.
    """
    if width not in ("single", "double"):
        raise UsageError(f"--width must be single or double, not {width!r}")
    if poi not in POI_MODES:
        raise UsageError(f"--poi must be one of {', '.join(POI_MODES)}, not {poi!r}")
    table = build_table(data, baselines, step=step, allow_partial=allow_partial, reps=reps, seed=seed,
                        confidence=confidence)
    colors = palette(table.algorithms)
    def runs_text(a: str) -> str:  # as the table says it (a bar without CI is its point)
        said = aggregate_caveats(table, a)
        return f"{a} {table.runs[a]}" + (f" ({'; '.join(said)})" if said else "")

    how = (f"{len(table.games)} games; HNS; {percent(confidence)} stratified bootstrap CIs (rliable), {reps} reps, seed {seed}; "
           f"runs per algorithm: " + ", ".join(runs_text(a) for a in table.algorithms))
    figures, captions = {}, {}
    with style():
        figures["aggregates"], text = aggregates_figure(table, width, colors)
        captions["aggregates"] = f"{text}; {how}"
        figures["performance_profiles"], text = profiles_figure(table, width, colors, reps, seed)
        captions["performance_profiles"] = f"{text}; {how}"
        figures["probability_of_improvement"], captions["probability_of_improvement"] = poi_figure(
            table, width, colors, poi, reps, seed)
        figures["sample_efficiency"], captions["sample_efficiency"] = sample_efficiency_figure(
            data, table, baselines, width, colors, reps, seed)
        figures["learning_curves"], captions["learning_curves"] = learning_curves_figure(
            data, table, width, colors, baselines)
    marked = [a for a in table.algorithms if table.differences.get(a)]
    if marked:
        key = (f"{MARK} after a name: its protocol differs from the first column's ({table.algorithms[0]}); "
               f"each difference is listed under Protocol")
        captions = {name: f"{caption}. {key}" for name, caption in captions.items()}
    return FigureSet(figures, captions, table, width, protocol_lines(table))


def make_figures(data: ScoreData, baselines: Sequence[Baseline], out: str | Path, step: int | None = None,
                 allow_partial: bool = False, reps: int = agg.DEFAULT_REPS, seed: int = agg.DEFAULT_SEED,
                 width: str = DEFAULT_WIDTH, poi: str = "first", confidence: float = 0.95) -> list[Path]:
    """Write every figure (PNG + PDF, at its printed size) and `figures.txt` into `out`.

    Args: as for `build_figures`.
    Returns:
      the paths written.
    """
    out = Path(out)
    figures = build_figures(data, baselines, step=step, allow_partial=allow_partial, reps=reps, seed=seed,
                            width=width, poi=poi, confidence=confidence)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in FIGURES:
        written += save(figures.figures[name], out, name)
    size = f"{figures.width} width ({check_width(figures.width):g} in)"
    text = f"{budget_heading(figures.table)}: figures at {size}.\n" + "\n".join(f"{name}: {caption}" for name, caption in figures.captions.items())
    text += "\n\nProtocol:\n" + "\n".join(f"- {line}" for line in figures.protocol) + "\n"
    atomic_write_text(out / "figures.txt", text)
    written.append(out / "figures.txt")
    return written
