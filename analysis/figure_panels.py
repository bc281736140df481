"""Per-game panel grids for `compare`'s figures (`--figure`, `--curve-figure`): up to 5 panels a
row, 3 in each, a title and a footer wrapped to the figure's width (a 1-2 game figure is narrower
than one line of either)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Sequence

from matplotlib.figure import Figure


@dataclass
class PanelGrid:
    """A figure with one panel per game (`axes`, in order; unused grid cells are hidden)."""

    fig: Figure
    axes: list[Any]
    columns: int
    footer: list[str]
    footer_in: float

    def finish(self) -> Figure:
        """Lay the panels out between the title and the footer, and draw the footer."""
        height = self.fig.get_figheight()
        self.fig.tight_layout(rect=(0, self.footer_in / height, 1, 1))
        self.fig.text(0.01, 0.05 / height, "\n".join(self.footer), fontsize=6.5, color="0.3", ha="left",
                      va="bottom")
        return self.fig


def panel_grid(panels: int, panel_height: float, title: Sequence[str], footer: str,
               min_width: float = 0.0) -> PanelGrid:
    """An empty grid for `panels` games, each `panel_height` inches tall.

    Args:
      title: the title's paragraphs (each wrapped, then stacked); footer: the footnote text.
      min_width: the figure's least width in inches (one panel of 3 in may be too narrow for its text).
    """
    columns = min(5, panels)
    rows = -(-panels // columns)
    width = max(min_width, 3.0 * columns)
    title_lines = [line for part in title for line in textwrap.wrap(part, width=int(width * 13))]
    footer_lines = textwrap.wrap(footer, width=int(width * 20))
    title_in, footer_in = 0.17 * len(title_lines) + 0.1, 0.14 * len(footer_lines) + 0.1
    fig = Figure(figsize=(width, panel_height * rows + 0.35 + title_in + footer_in))
    grid = fig.subplots(rows, columns, squeeze=False)
    for ax in list(grid.flat)[panels:]:
        ax.set_axis_off()
    fig.suptitle("\n".join(title_lines), fontsize=9)
    return PanelGrid(fig, list(grid.flat)[:panels], columns, footer_lines, footer_in)
