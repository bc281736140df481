"""The learning-curve check: the shipped DER evaluation curves, and our runs placed in them step by step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.baselines import EVAL_CURVE_STEPS, baseline_eval_curves, final_baseline_scores, get_baseline
from analysis.curve_check import QUANTILES, build_curve_check
from analysis.curve_report import build_curve_figure, curve_json, curve_markdown


def test_shipped_der_curves_end_at_the_shipped_final_scores():
    der = get_baseline("DER")
    curves = baseline_eval_curves(der)
    finals = final_baseline_scores(der)
    assert curves.groupby("game").size().eq(100 * 10).all() and curves["game"].nunique() == 26
    assert sorted(curves["step"].unique()) == [EVAL_CURVE_STEPS * (i + 1) for i in range(10)]
    last = curves[curves["step"] == 100_000].merge(finals, on=["game", "seed"], suffixes=("", "_final"))
    assert len(last) == 2600 and (last["score"] == last["score_final"]).all()  # run k's curve is run k's score
    # RoadRunner's published runs learn over the whole budget: median 535.5 after 10k steps, 12,301.5 after 100k.
    road = curves[curves["game"] == "RoadRunner"].groupby("step")["score"].median()
    assert road[10_000] == pytest.approx(535.5) and road[100_000] == pytest.approx(12_301.5)
    assert baseline_eval_curves(get_baseline("SPR")) is None


def _rows(game: str, table: dict[int, list[float]]) -> pd.DataFrame:
    """{seed: scores at steps 10k, 20k, ...} -> long rows (NaN = no evaluation there)."""
    return pd.DataFrame([(game, seed, 10_000 * (i + 1), v) for seed, values in table.items()
                         for i, v in enumerate(values) if not np.isnan(v)], columns=["game", "seed", "step", "score"])


def test_percentiles_and_spread_by_hand():
    published = _rows("Pong", {s: [float(s), 10.0 + s, 20.0 + s] for s in range(10)})  # runs 0..9
    ours = pd.concat([_rows("Pong", {0: [4.5, 30.0, np.nan]}),
                      _rows("Pong", {1: [-1.0, 14.0, 29.0]})])
    check = build_curve_check(ours, published, ["Pong", "Boxing"], "pub", "ours")
    (game,) = check.games  # Boxing: no data on either side, left out
    assert game.steps == [10_000, 20_000, 30_000] and game.published_runs == 10
    # Step 1: published 0..9; 4.5 has 5 runs below -> 50; -1 is below all -> 0.
    # Step 2: published 10..19; 30 above all -> 100; 14 has 4 below and 1 equal -> 45.
    assert game.percentiles[0][:2] == [50.0, 100.0] and np.isnan(game.percentiles[0][2])
    assert game.percentiles[1] == [0.0, 45.0, 95.0]
    assert game.ours[0][1] == 30.0 and np.isnan(game.ours[0][2])
    assert game.published[50] == [4.5, 14.5, 24.5] and game.published[5][0] == pytest.approx(0.45)
    assert set(game.published) == set(QUANTILES)
    assert game.median_percentile(0) == 75.0 and game.median_percentile(1) == 45.0
    text = "\n".join(curve_markdown(check, "Mine", "Theirs"))
    assert "| Pong | seed 0 | 4.5 (50) | 30.0 (100) | - | 75 |" in text
    assert "| Pong | published median [5%, 95%] (10 runs) | 4.5 [0.5, 8.5] |" in text
    data = curve_json(check)["games"][0]
    assert data["ours"]["0"]["percentiles"] == [50.0, 100.0, None] and data["published_percentiles"]["50"][0] == 4.5


def test_a_run_without_a_common_step_shows_a_dash():
    published = _rows("Pong", {s: [float(s), 10.0 + s, 20.0 + s] for s in range(10)})
    ours = pd.concat([_rows("Pong", {0: [4.5, 14.0, 24.0]}),
                      pd.DataFrame({"game": ["Pong"], "seed": [1], "step": [15_000], "score": [3.0]})])
    check = build_curve_check(ours, published, ["Pong"], "pub", "ours")
    (game,) = check.games
    assert np.isnan(game.median_percentile(1)) and all(np.isnan(p) for p in game.percentiles[1])
    assert "| Pong | seed 1 | - | - | - | - |" in "\n".join(curve_markdown(check, "Mine", "Theirs"))
    assert curve_json(check)["games"][0]["ours"]["1"]["median_percentile"] is None


def test_a_final_evaluation_alone_is_no_curve():
    published = _rows("Pong", {s: [float(s), 10.0 + s] for s in range(10)})
    ours = pd.DataFrame({"game": ["Pong"], "seed": [0], "step": [20_000], "score": [12.0]})
    assert build_curve_check(ours, published, ["Pong"], "pub", "ours") is None
    off_grid = pd.DataFrame({"game": ["Pong"], "seed": [0], "step": [15_000], "score": [3.0]})
    assert build_curve_check(off_grid, published, ["Pong"], "pub", "ours") is None


@pytest.mark.parametrize("games", [1, 2, 6])
def test_curve_figure_text_fits_and_draws_every_run(games):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    names = ["Pong", "Boxing", "Breakout", "Krull", "Assault", "Qbert"][:games]
    published = pd.concat([_rows(g, {s: [float(s), 10.0 + s, 20.0 + s] for s in range(10)}) for g in names])
    ours = pd.concat([_rows(g, {0: [1.0, 12.0, 25.0], 3: [2.0, 11.0, 21.0]}) for g in names])
    check = build_curve_check(ours, published, names, "published runs, 100 episodes each", "ours " * 30)
    fig = build_curve_figure(check, "DER (ours) with a long name", "DER (Dopamine, Agarwal et al.)")
    renderer = FigureCanvasAgg(fig).get_renderer()
    for text in fig.texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y0 >= 0 and box.y1 <= fig.bbox.y1, text.get_text()
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == games
    for ax in drawn:
        gids = {line.get_gid() for line in ax.get_lines()}
        assert {"published:median", "ours:0", "ours:3"} <= gids
        (ours0,) = [line for line in ax.get_lines() if line.get_gid() == "ours:0"]
        assert list(ours0.get_ydata()) == [1.0, 12.0, 25.0]
