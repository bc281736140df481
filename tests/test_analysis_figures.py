"""Camera-ready figures: what is drawn (from the figure objects), their printed size, fonts
(sizes, and no Type 3 font in the PDFs), and a figure set made from a real (tiny) sweep.

PDFs are checked by scanning their bytes (matplotlib writes font dictionaries uncompressed), so
no PDF tool is needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.lines import Line2D

from analysis.baselines import final_baseline_scores, get_baseline, parse_baselines
from analysis.figure_style import PNG_DPI, WIDTHS, CompactFormatter, pdf_media_box, text_sizes
from analysis.figures import FIGURES, build_figures
from analysis.scores import load_inputs
from analysis.table import MARK
from atari100k.cli import main

REPO = Path(__file__).resolve().parent.parent
SWEEP = Path(__file__).parent / "fixtures" / "analysis" / "sweep_demo"  # DreamerV2, Pong + Breakout, 2 seeds
OURS = "DreamerV2 (ours)"
DER = "DER (Dopamine, Agarwal et al.)"
REPS = 30


def _figures(inputs=(SWEEP,), baselines="DER,OTRainbow", reps=REPS, **kwargs):
    return build_figures(load_inputs(list(inputs)), parse_baselines(baselines), reps=reps, **kwargs)


def _gid(fig, prefix: str) -> list:
    return [a for a in fig.findobj(lambda a: str(a.get_gid() or "").startswith(prefix))]


def _legend_texts(fig, marks: bool = False) -> list[str]:
    """Legend entries; without `marks`, the protocol mark is dropped (tested on its own below)."""
    texts = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    return texts if marks else [_unmarked(t) for t in texts]


def _unmarked(text: str) -> str:
    return text.replace(f" {MARK}", "")


def _all_texts(fig) -> list[str]:
    return [text for text, _ in text_sizes(fig)]


def _check_pdf(path: Path, width: str) -> None:
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert re.search(rb"/Subtype\s*/Type3", data) is None, f"{path.name} embeds a Type 3 font"
    assert b"/FontFile2" in data, f"{path.name} embeds no TrueType font"  # Type 42: TrueType programs
    assert pdf_media_box(data)[0] == pytest.approx(WIDTHS[width], abs=0.01)


@pytest.mark.parametrize("width", ["single", "double"])
def test_cli_writes_truetype_pdfs_at_the_printed_width(tmp_path, capsys, width):
    out = tmp_path / "figs"
    code = main(["plot", "--reps", str(REPS), str(SWEEP), "--baselines", "DER,OTRainbow", "--width", width,
                 "--out", str(out)])
    assert code == 0
    for name in FIGURES:
        _check_pdf(out / f"{name}.pdf", width)
        height_in, width_in = np.array(matplotlib.image.imread(out / f"{name}.png").shape[:2]) / PNG_DPI
        assert width_in == pytest.approx(WIDTHS[width], abs=0.01)
        assert pdf_media_box((out / f"{name}.pdf").read_bytes())[1] == pytest.approx(height_in, abs=0.01)
    text = (out / "figures.txt").read_text()
    assert f"{width} width ({WIDTHS[width]:g} in)" in text and "Protocol" in text
    # The PDF settings stay inside the figures: the global rc is untouched.
    assert matplotlib.rcParams["pdf.fonttype"] == 3


def test_cli_refuses_a_bad_width_or_poi(tmp_path, capsys):
    for flag, value in (("--width", "triple"), ("--poi", "some")):
        with pytest.raises(SystemExit) as exit_info:
            main(["plot", str(SWEEP), flag, value, "--out", str(tmp_path / "f")])
        assert exit_info.value.code == 2
        assert value in capsys.readouterr().err
    assert not (tmp_path / "f").exists()


@pytest.fixture(scope="module")
def all_games(tmp_path_factory) -> Path:
    """A CSV over the 26 games: 'Ours' evaluated 4 times (5 seeds), 'Once' evaluated once."""
    rows = ["algorithm,game,seed,step,score"]
    published = final_baseline_scores(get_baseline("DER"))
    for game, runs in published.groupby("game"):
        for seed, score in enumerate(runs["score"].to_numpy()[:5]):
            rows += [f"Ours,{game},{seed},{step},{score * (0.4 + 0.2 * k)}"
                     for k, step in enumerate((25_000, 50_000, 75_000, 100_000))]
            rows.append(f"Once,{game},{seed},100000,{score * (0.7 + 0.1 * seed)}")
    path = tmp_path_factory.mktemp("games") / "all_games.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("width", ["single", "double"])
def test_sizes_fonts_and_nothing_outside_the_page(all_games, width):
    # 26 games, 7 algorithms with long labels, every pair: the hardest case for a narrow column.
    # (3 bootstrap reps: P(X > Y) runs one Mann-Whitney test per pair, game and rep.)
    figures = _figures([all_games], baselines="DER,OTRainbow,SPR,IQN,Rainbow", reps=3, width=width, poi="all-pairs")
    assert len(figures.table.games) == 26 and len(figures.figures["learning_curves"].axes) == 26
    for name, fig in figures.figures.items():
        w, h = fig.get_size_inches()
        assert w == pytest.approx(WIDTHS[width]), name
        sizes = text_sizes(fig)
        assert sizes and min(size for _, size in sizes) >= 7.0, (name, min(sizes, key=lambda s: s[1]))
        box = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer())
        assert box.x0 >= -0.02 and box.y0 >= -0.02 and box.x1 <= w + 0.02 and box.y1 <= h + 0.02, (name, box)


def test_only_the_algorithms_asked_for_are_drawn():
    figures = _figures()
    se, lc = figures.figures["sample_efficiency"], figures.figures["learning_curves"]
    assert _legend_texts(se) == [f"{OURS} (2 runs)", f"{DER} (100 runs)", "OTRainbow (final)"]
    assert _legend_texts(lc) == [OURS, f"{DER} (mean of 100 runs)", "OTRainbow (final)"]
    for fig in figures.figures.values():  # no Dopamine agent unless asked for
        assert not _gid(fig, "dopamine:")
        assert not [t for t in _all_texts(fig) if t.startswith(("IQN", "Rainbow", "DQN", "C51"))]
    assert len(se.axes) == 1  # no log-frame panel without Dopamine curves

    # The curve: one point per evaluation step (50k and 100k agent steps), with markers.
    (curve,) = _gid(se, f"curve:{OURS}")
    assert list(curve.get_xdata()) == [200_000, 400_000] and curve.get_marker() == "o" and curve.get_markersize() >= 3
    # DER ships its runs' 10 evaluations: a curve of square markers, every 10k steps (40k frames), whose last
    # point is the IQM of the very runs the table aggregates (its final scores).
    (der,) = _gid(se, f"curve:{DER}")
    assert list(der.get_xdata()) == [40_000 * (i + 1) for i in range(10)] and der.get_marker() == "s"
    assert der.get_ydata()[-1] == pytest.approx(figures.table.aggregates[DER]["iqm"].value)
    assert "its published runs' own evaluations during training" in figures.captions["sample_efficiency"]
    # The other final-score marker is dodged off 400k frames, away from the curves' ends.
    finals = {g.get_gid(): g.get_xdata()[0] for g in _gid(se, "final:") if isinstance(g, Line2D) and len(g.get_xdata())}
    assert set(finals) == {"final:OTRainbow"} and finals["final:OTRainbow"] != 400_000
    assert abs(finals["final:OTRainbow"] - 400_000) < 40_000

    panels = [ax for ax in lc.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["Breakout", "Pong"]
    for ax in panels:
        (line,) = _gid(ax, f"curve:{OURS}")
        assert len(line.get_xdata()) == 2
        # DER: the mean of its 100 runs at each of their 10 evaluations; the last is the table's cell.
        (der,) = _gid(ax, f"curve:{DER}")
        assert list(der.get_xdata()) == [40_000 * (i + 1) for i in range(10)] and der.get_marker() == "s"
        assert der.get_ydata()[-1] == pytest.approx(figures.table.cells[(ax.get_title(), DER)]["mean"])
        marks = [a.get_xdata()[0] for a in _gid(ax, "final:")]
        assert len(marks) == 1 and 400_000 not in marks  # OTRainbow, dodged off the curves' ends
        # "k" tick labels, never an offset or scientific notation.
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert labels == ["0", "400k"] and ax.xaxis.get_offset_text().get_text() == ""


def test_dopamine_curves_only_when_asked_and_only_where_measured():
    figures = _figures(baselines="DER,IQN")
    se, lc = figures.figures["sample_efficiency"], figures.figures["learning_curves"]
    assert not [t for t in _all_texts(se) + _all_texts(lc) if "Rainbow" in t]  # asked for IQN only
    linear, log = se.axes
    assert log.get_xscale() == "log" and linear.get_xscale() == "linear"
    assert not _gid(linear, "dopamine:")  # its first measurement (1M frames) is beyond 400k
    (iqn,) = [a for a in _gid(log, "dopamine:") if isinstance(a, Line2D)]
    assert iqn.get_gid() == "dopamine:IQN (Dopamine, 0-1M frames)"
    # One point per 1M-frame iteration, at the frames where it ends: nothing before 1M.
    assert np.array_equal(iqn.get_xdata(), (np.arange(199) + 1) * 1e6)
    assert "IQN (Dopamine)" in _legend_texts(se)
    for ax in (ax for ax in lc.axes if ax.get_title()):
        (mark,) = _gid(ax, "final:IQN")
        assert mark.get_xdata()[0] == 1e6  # the iteration the table uses (frames 0-1M), at 1M
        assert ax.get_xlim()[1] > 1e6
    assert "IQN (Dopamine, 0-1M frames)" in _legend_texts(lc)



def test_dreamerv2_published_curve_on_the_frame_axis():
    # DreamerV2's own published curves: asked for by name, drawn like the Dopamine curves (log-frame panel,
    # one point at the end of each 1M-frame bin), with its own gid and legend wording.
    label = "DreamerV2 (Hafner et al., 0-1M frames)"
    figures = _figures(baselines="DER,DreamerV2")
    se, lc = figures.figures["sample_efficiency"], figures.figures["learning_curves"]
    linear, log = se.axes
    assert log.get_xscale() == "log" and not _gid(se, "dopamine:")
    assert not _gid(linear, "dreamerv2:")  # its first point (frames 0-1M, drawn at 1M) is beyond 400k
    (line,) = [a for a in _gid(log, "dreamerv2:") if isinstance(a, Line2D)]
    assert line.get_gid() == f"dreamerv2:{label}" and line.get_linestyle() == "--"
    assert "DreamerV2 (Hafner et al.)" in _legend_texts(se)
    # Pong and Breakout have runs up to bin 199 (200M frames); nothing before 1M.
    assert np.array_equal(line.get_xdata(), (np.arange(200) + 1) * 1e6)
    # The first point is the IQM HNS of bin 0, the table's column: the 16 scores read by hand from the
    # shipped file (seeds 3-10), human-normalised with Pong -20.7/14.6 and Breakout 1.7/30.5.
    pong = np.array([-18.7, -17.7, -18.1, -19.3, -19.3, -18.4, -15.7, -19.0])
    breakout = np.array([0.7, 1.2, 3.2, 1.3, 1.6, 1.1, 1.1, 1.5])
    hns = np.sort(np.concatenate([(pong + 20.7) / 35.3, (breakout - 1.7) / 28.8]))
    assert line.get_ydata()[0] == pytest.approx(hns[4:12].mean())  # IQM: the middle half of 16
    assert line.get_ydata()[0] == pytest.approx(figures.table.aggregates[label]["iqm"].value)
    caption = figures.captions["sample_efficiency"]
    assert "DreamerV2 of Hafner et al. 2021 (8 seeds; 5 from 3M frames" in caption
    assert "sticky actions 0.25, full action set" in caption
    assert "training or evaluation episodes: not recorded" in caption
    # Learning curves: the bin the table uses, as a marker at its last frame.
    for ax in (ax for ax in lc.axes if ax.get_title()):
        (mark,) = _gid(ax, f"final:{label}")
        assert mark.get_xdata()[0] == 1e6
    assert label in _legend_texts(lc) and "DreamerV2 of Hafner et al. 2021" in figures.captions["learning_curves"]


def _poi_bars(fig) -> dict[str, tuple[float, float]]:
    return {r.get_gid(): (r.get_x(), r.get_x() + r.get_width()) for r in _gid(fig, "ci:")}


def test_probability_of_improvement_on_0_1_with_a_half_line(tmp_path):
    fig = _figures().figures["probability_of_improvement"]
    (ax,) = fig.axes
    assert ax.get_xlim() == (0.0, 1.0)
    (half,) = _gid(ax, "poi:0.5")
    assert list(half.get_xdata()) == [0.5, 0.5]
    assert set(_poi_bars(fig)) == {f"ci:{OURS}|{DER}", f"ci:{OURS}|OTRainbow"}
    assert f"{OURS} vs. {DER}" in [_unmarked(t) for t in _all_texts(fig)]

    every = _figures(poi="all-pairs").figures["probability_of_improvement"]
    assert set(_poi_bars(every)) == {f"ci:{OURS}|{DER}", f"ci:{OURS}|OTRainbow", f"ci:{DER}|OTRainbow"}

    # Always worse: P = 0 with a CI of [0, 0]; the axis stays [0, 1] (it auto-ranged to +-0.04).
    worse = tmp_path / "worse.csv"
    worse.write_text("algorithm,game,seed,score\n" + "".join(f"Worse,Pong,{s},-30\n" for s in range(3)))
    fig = _figures([worse], baselines="DER").figures["probability_of_improvement"]
    (ax,) = fig.axes
    assert ax.get_xlim() == (0.0, 1.0) and _poi_bars(fig) == {f"ci:Worse|{DER}": (0.0, 0.0)}
    (point,) = _gid(ax, "point:")
    assert point.get_segments()[0][0][0] == 0.0 and _gid(ax, "poi:0.5")


def test_aggregates_and_profiles_draw_every_algorithm_with_its_ci():
    figures = _figures()
    algorithms = [OURS, DER, "OTRainbow"]
    aggregates = figures.figures["aggregates"]
    assert [ax.get_title() for ax in aggregates.axes] == ["IQM", "Median", "Mean", "Optimality Gap"]
    for metric in ("iqm", "median", "mean", "optimality_gap"):
        for a in algorithms:
            (bar,) = _gid(aggregates, f"ci:{a}:{metric}")
            lo, hi = figures.table.aggregates[a][metric].ci
            assert (bar.get_x(), bar.get_x() + bar.get_width()) == pytest.approx((lo, hi))
    for ax in aggregates.axes:  # every bar and tick clear of the panel's edges (a 1-run point has a bar of width 0)
        left, right = ax.get_xlim()
        ends = [x for bar in _gid(ax, "ci:") for x in (bar.get_x(), bar.get_x() + bar.get_width())]
        assert left < min(ends) and max(ends) < right, (ax.get_title(), ax.get_xlim(), ends)
    assert [_unmarked(t.get_text()) for t in aggregates.axes[0].get_yticklabels()] == algorithms[::-1]  # first on top
    profiles = figures.figures["performance_profiles"]
    assert sorted(g.get_gid() for g in _gid(profiles, "curve:")) == sorted(f"curve:{a}" for a in algorithms)
    for a in algorithms:  # CI bands drawn, visibly (alpha >= 0.2), and not all of zero height
        (band,) = _gid(profiles, f"ci:{a}")
        assert band.get_alpha() >= 0.2
    assert _legend_texts(profiles) == algorithms


def test_compact_tick_labels():
    def labels(locs, **kwargs):
        formatter = CompactFormatter(**kwargs)
        formatter.set_locs(locs)
        return [formatter(x) for x in locs]

    assert labels([0, 200_000, 400_000]) == ["0", "200k", "400k"]
    assert labels([0, 400_000, 1_000_000]) == ["0", "400k", "1000k"]
    assert labels([0, 600, 1200]) == ["0", "0.6k", "1.2k"]
    assert labels([0, 500, 1000, 1500], k_from=1e4) == ["0", "500", "1000", "1500"]
    assert labels([-20, -10, 0], k_from=1e4) == ["\N{MINUS SIGN}20", "\N{MINUS SIGN}10", "0"]
    assert labels([0, 2.5, 5.0], k_from=1e4) == ["0", "2.5", "5.0"]
    assert labels([0, 5e7, 1e8]) == ["0", "50M", "100M"]


@pytest.fixture(scope="session")
def real_sweep(tmp_path_factory) -> Path:
    """A real sweep made by the agent (DreamerV2 debug preset, Pong, 2 seeds, 300 steps: ~20 s).
    Each run is evaluated once, at its end."""
    out = tmp_path_factory.mktemp("real") / "sweep"
    args = [sys.executable, "-m", "atari100k", "sweep", "--games", "Pong", "--seeds", "2", "--preset", "debug",
            "--steps", "300", "--set", "eval.episodes=1", "--set", "env.max_episode_frames=1000",
            "--executor", "local", "--no-progress", "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")  # a shared test machine: one thread per run
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.mark.slow
@pytest.mark.parametrize("width", ["single", "double"])
def test_figures_from_a_real_sweep(real_sweep, tmp_path, capsys, width):
    out = tmp_path / "figs"
    assert main(["plot", "--reps", str(REPS), str(real_sweep), "--baselines", "DER", "--width", width,
                 "--out", str(out)]) == 0
    for name in FIGURES:
        _check_pdf(out / f"{name}.pdf", width)
    figures = _figures([real_sweep], baselines="DER", width=width)
    for name, fig in figures.figures.items():
        assert min(size for _, size in text_sizes(fig)) >= 7.0, name
    # Evaluated once (at 300 steps = 1,200 frames): a visible marker with an error bar, not a
    # one-point line.
    for name in ("sample_efficiency", "learning_curves"):
        fig = figures.figures[name]
        (point,) = _gid(fig, f"curve:{OURS}")
        assert len(point.get_xdata()) == 1 and point.get_marker() == "o" and point.get_markersize() >= 3
        assert point.get_xdata()[0] == pytest.approx(1_200, abs=1) and point.get_xdata()[0] > fig.axes[0].get_xlim()[0]
    assert _legend_texts(figures.figures["learning_curves"]) == [OURS, f"{DER} (mean of 100 runs)"]
    assert "the mean over the runs the table uses of their own evaluations" in figures.captions["learning_curves"]
    assert set(_poi_bars(figures.figures["probability_of_improvement"])) == {f"ci:{OURS}|{DER}"}


def test_confidence_level_reaches_every_figure_and_caption():
    wide, narrow = _figures(), _figures(confidence=0.5)
    assert "95% CI" in wide.captions["aggregates"] and "50% CI" in narrow.captions["aggregates"]
    for name in ("performance_profiles", "probability_of_improvement", "sample_efficiency"):
        assert "50%" in narrow.captions[name], name

    def widths(figures, name, prefix):
        return [patch.get_width() for patch in _gid(figures.figures[name], prefix)]

    # Same bootstrap (seed, reps): a 50% interval lies inside the 95% one, strictly for some.
    for name, prefix in (("aggregates", "ci:"), ("probability_of_improvement", "ci:")):
        w95, w50 = widths(wide, name, prefix), widths(narrow, name, prefix)
        assert len(w95) == len(w50) > 0
        assert all(b <= a + 1e-12 for a, b in zip(w95, w50)) and sum(w50) < sum(w95)


def test_a_differing_protocol_is_marked_in_every_figure():
    figures = _figures()  # our debug runs first: DER and OTRainbow were trained for another budget
    marked = [a for a in figures.table.algorithms if figures.table.differences.get(a)]
    assert marked == [DER, "OTRainbow"]
    assert _legend_texts(figures.figures["sample_efficiency"], marks=True) == [
        f"{OURS} (2 runs)", f"{DER} {MARK} (100 runs)", f"OTRainbow {MARK} (final)"]
    assert _legend_texts(figures.figures["performance_profiles"], marks=True) == [OURS, f"{DER} {MARK}",
                                                                                 f"OTRainbow {MARK}"]
    ticks = [t.get_text() for t in figures.figures["aggregates"].axes[0].get_yticklabels()]
    assert sum(MARK in t for t in ticks) == 2 and not any(MARK in t for t in ticks if OURS in t)
    assert f"{OURS} vs. {DER} {MARK}" in _all_texts(figures.figures["probability_of_improvement"])
    for caption in figures.captions.values():
        assert f"{MARK} after a name: its protocol differs from the first column's ({OURS})" in caption
    # Same protocols (the published Atari 100k agents, DER first): nothing marked, no key.
    same = _figures(inputs=(), baselines="DER,OTRainbow")
    assert not any(MARK in t for t in _legend_texts(same.figures["performance_profiles"], marks=True))
    assert not any(MARK in c for c in same.captions.values())


def test_poi_placeholder_says_which_pairs_were_tried(tmp_path):
    """The first column on fewer games than the others: 'first' finds no pair and says all-pairs might."""
    import shutil

    from analysis.figure_summary import poi_figure
    from analysis.table import build_table
    from tests.test_analysis_table import _run_folders

    sweep = _run_folders(tmp_path / "sweep", sticky=0.0)
    for folder in (sweep / "der" / "Boxing").iterdir():  # Boxing's runs become IQN (ours): 3 games in all
        run = json.loads((folder / "run.json").read_text())
        run["spec"]["algo"] = "iqn"
        (folder / "run.json").write_text(json.dumps(run))
    shutil.move(sweep / "der" / "Boxing", sweep / "iqn")
    table = build_table(load_inputs([sweep]), parse_baselines("DER"), reps=20, allow_partial=True)
    _, caption = poi_figure(table, "single", {a: (0, 0, 0) for a in table.algorithms}, "first", 20, 0)
    assert caption == ("not computed: P(X > Y) needs another algorithm on the games of DER (ours) "
                       "(--poi all-pairs tries every pair)")
