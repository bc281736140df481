"""The shipped per-run data reproduce aggregates published in the papers (3 decimals)."""

import pytest

from analysis import aggregate as agg
from analysis.baselines import catalog_rows, final_baseline_scores, get_baseline, human_random_scores
from analysis.normalize import add_hns
from atari100k.games import ALL_GAMES, ATARI100K_GAMES


def _estimates(key, first_runs=None):
    b = get_baseline(key)
    final = add_hns(final_baseline_scores(b))
    if first_runs:
        final = final[final["seed"] < first_runs]
    matrix = agg.score_matrix(final, b.label, list(ATARI100K_GAMES))
    return matrix, agg.interval_estimates({key: matrix}, reps=20)[key]


def test_iris_paper_mean_and_median_hns():
    # Micheli et al. 2023 (IRIS), Table 1: mean HNS 1.046, median 0.289, 5 runs.
    matrix, est = _estimates("IRIS")
    assert matrix.shape == (5, 26)
    assert round(est["mean"].value, 3) == 1.046
    assert round(est["median"].value, 3) == 0.289


def test_spr_paper_median_from_first_ten_runs():
    # Schwarzer et al. 2021 (SPR), Table 1: median HNS 0.415 over its 10 seeds.
    matrix, est = _estimates("SPR", first_runs=10)
    assert matrix.shape == (10, 26)
    assert round(est["median"].value, 3) == 0.415


def test_shipped_data_shape():
    table = human_random_scores()
    assert set(table.index) == set(ALL_GAMES)
    # Published anchors: Pong random -20.7 / human 14.6 (Mnih et al. 2015).
    assert table.loc["Pong"].tolist() == [-20.7, 14.6]
    rows = {r["key"]: r for r in catalog_rows()}
    assert rows["DER"]["runs_per_game"] == "100" and rows["IRIS"]["runs_per_game"] == "5"
    assert rows["BBF"]["runs_per_game"] == "52-60"
    assert rows["IQN"]["sticky_actions"] == "0.25" and "no published IQN" in rows["IQN"]["score"]
    assert all(r["games"] == 26 for r in rows.values())
