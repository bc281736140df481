"""Camera-ready figure style shared by every paper figure: sizes, fonts, tick labels, saving.

Figures are made for a printed page: `--width single` is one column of a two-column paper
(3.25 in), `double` the full text width (6.75 in). Every text is at least MIN_FONT_PT at that
size, PDFs embed TrueType (Type 42) fonts rather than Type 3 (which many venues reject), and a
figure is saved at exactly its size (constrained layout, no `bbox_inches="tight"`).
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, ScalarFormatter

from atari100k.fileio import atomic_write

WIDTHS = {"single": 3.25, "double": 6.75}
"""Figure widths in inches: one column / the text width of a two-column paper."""
DEFAULT_WIDTH = "double"
MIN_FONT_PT = 7.0
PNG_DPI = 300

RC = {
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",  # TrueType, not Type 3
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "figure.titlesize": 8, "figure.labelsize": 8,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7, "legend.title_fontsize": 7,
    "axes.linewidth": 0.6, "lines.linewidth": 1.2, "lines.markersize": 3.5, "patch.linewidth": 0.6,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5,
    "xtick.major.pad": 2, "ytick.major.pad": 2, "axes.labelpad": 2, "axes.titlepad": 3,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.5, "legend.frameon": False, "legend.handlelength": 1.6, "legend.columnspacing": 1.2,
    "legend.handletextpad": 0.4, "legend.borderaxespad": 0.2, "axes.formatter.useoffset": False,
    "figure.constrained_layout.h_pad": 0.02, "figure.constrained_layout.w_pad": 0.02,
    "errorbar.capsize": 1.5, "mathtext.fontset": "dejavusans",
}
"""rc parameters of every figure (in force both when drawing and when saving)."""


def percent(level: float) -> str:
    """A confidence level as text: 0.95 -> "95%"."""
    return f"{level * 100:g}%"


def check_width(width: str) -> float:
    """Inches of a `--width` name ('single' or 'double'); ValueError otherwise."""
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {', '.join(WIDTHS)}, not {width!r}")
    return WIDTHS[width]


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The figure rc parameters, for drawing and saving."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: str, height: float) -> Figure:
    """An empty figure `WIDTHS[width]` x `height` inches with constrained layout (no pyplot state)."""
    return Figure(figsize=(check_width(width), height), layout="constrained")


def palette(algorithms: Sequence[str]) -> dict[str, tuple]:
    """algorithm -> colour, in order: Okabe-Ito (colour-blind safe; without its yellow, faint on
    white, and black, which would hide the black point ticks), then tab10's purple, brown, grey, olive."""
    colors = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
              "#9467BD", "#8C564B", "#7F7F7F", "#BCBD22"]
    colors = [matplotlib.colors.to_rgb(c) for c in colors]
    return {a: colors[i % len(colors)] for i, a in enumerate(algorithms)}


def wrap(text: str, width: str, single_chars: int = 22, double_chars: int = 40) -> str:
    """`text` broken into lines of at most `single_chars` / `double_chars` characters."""
    return "\n".join(textwrap.wrap(text, single_chars if width == "single" else double_chars)) or text


def legend_columns(labels: Sequence[str], width: str) -> int:
    """Columns for a legend of `labels` across the figure: as many as its longest label allows."""
    longest = max((len(s) for s in labels), default=0)
    columns = (1 if longest > 24 else 2) if width == "single" else (2 if longest > 34 else 3)
    return max(1, min(columns, len(labels)))


def legend_height(labels: Sequence[str], width: str) -> float:
    """Inches that a legend of `labels` (legend_columns wide) takes above or below the axes."""
    return 0.06 + 0.135 * math.ceil(len(labels) / legend_columns(labels, width))


class CompactFormatter(Formatter):
    """Tick labels without offset or scientific notation: one unit for the whole axis.

    Ticks up to `k_from` are plain numbers; above, every tick of the axis is in k (thousands),
    from `m_from` in M: frames 0, 200k, 400k rather than "0 2 4 x 1e5".
    """

    def __init__(self, k_from: float = 1e3, m_from: float = 1e7):
        super().__init__()
        self.k_from, self.m_from = k_from, m_from
        self._scale, self._unit, self._digits = 1.0, "", 0

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        finite = np.asarray([x for x in locs if np.isfinite(x)], float)
        top = float(np.max(np.abs(finite))) if len(finite) else 0.0
        self._scale, self._unit = ((1e6, "M") if top >= self.m_from else
                                   (1e3, "k") if top >= self.k_from else (1.0, ""))
        values = finite / self._scale
        self._digits = next((d for d in range(4) if np.allclose(np.round(values, d), values, atol=1e-9, rtol=0)), 4)

    def __call__(self, x, pos=None) -> str:
        if x == 0:
            return "0"
        text = f"{x / self._scale:.{self._digits}f}".replace("-", "\N{MINUS SIGN}")
        return text + self._unit


def plain(axis) -> None:
    """Plain tick labels on an axis: no offset, no scientific notation."""
    formatter = ScalarFormatter(useOffset=False)
    formatter.set_scientific(False)
    axis.set_major_formatter(formatter)


def dodge(n: int, step: float, keep_center: bool = False) -> np.ndarray:
    """Offsets for `n` markers sharing one x: `step` apart, centred on 0.

    With `keep_center`, the centre slot is left free (for a curve's last point at the same x).
    """
    k = n + (1 if keep_center else 0)
    offsets = (np.arange(k) - (k - 1) / 2) * step
    if keep_center:
        offsets = np.delete(offsets, int(np.argmin(np.abs(offsets))))
    return offsets


def text_sizes(fig: Figure) -> list[tuple[str, float]]:
    """(text, size in pt) of every visible, non-empty text of a drawn figure."""
    from matplotlib.text import Text

    fig.draw_without_rendering()
    return [(t.get_text(), float(t.get_fontsize())) for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip()]


def save(fig: Figure, out: Path, name: str) -> list[Path]:
    """`<out>/<name>.png` (PNG_DPI) and `.pdf`, atomically, at the figure's exact size."""
    written = []
    with style():
        for ext in ("png", "pdf"):
            path = out / f"{name}.{ext}"
            atomic_write(path, lambda handle, e=ext: fig.savefig(handle, format=e, dpi=PNG_DPI), mode="wb")
            written.append(path)
    return written


def pdf_media_box(data: bytes) -> tuple[float, float]:
    """(width, height) in inches of a one-page PDF's /MediaBox."""
    import re

    match = re.search(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", data)
    if not match:
        raise ValueError("no /MediaBox in the PDF")
    x0, y0, x1, y1 = (float(v) for v in match.groups())
    return (x1 - x0) / 72.0, (y1 - y0) / 72.0


def log_ticks_text(value: float) -> str:
    """100k, 1M, 10M... for a log frame axis."""
    if value <= 0:
        return "0"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{unit}"
    return f"{value:g}"
