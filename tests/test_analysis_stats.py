"""HNS and aggregates on small matrices computed by hand."""

import numpy as np
import pandas as pd
import pytest

from analysis import aggregate as agg
from analysis.normalize import add_hns, human_normalized
from atari100k.errors import UsageError


def test_hns_by_hand():
    # Pong: random -20.7, human 14.6 -> human-range 35.3.
    assert human_normalized(14.6, "Pong") == pytest.approx(1.0)
    assert human_normalized(-20.7, "Pong") == pytest.approx(0.0)
    assert human_normalized(-3.05, "Pong") == pytest.approx(17.65 / 35.3)
    frame = pd.DataFrame({"game": ["Breakout", "Alien"], "score": [30.5, 227.8]})
    assert add_hns(frame)["hns"].tolist() == pytest.approx([1.0, 0.0])


def test_iqm_median_mean_og_by_hand():
    # 2 runs x 4 games = 8 values 0..7: IQM keeps the middle four (2, 3, 4, 5) -> 3.5.
    assert agg.iqm(np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]])) == pytest.approx(3.5)
    # A matrix on which the four metrics all differ. Columns = games, rows = runs.
    scores = np.array([[0.0, 0.3, 1.0, 3.0],
                       [0.9, 0.5, 1.4, 5.0]])
    # IQM: the 8 values sorted are 0, 0.3, 0.5, 0.9, 1.0, 1.4, 3, 5; the middle four 0.5, 0.9, 1.0, 1.4 -> 0.95.
    # Median: of the per-game means 0.45, 0.4, 1.2, 4.0 -> (0.45 + 1.2) / 2 = 0.825 (the median of all 8
    # values would be 0.95: rliable's median is over games, not runs).
    # Mean: of the per-game means -> 6.05 / 4 = 1.5125.
    # Optimality gap (gamma = 1): 1 - mean(min(x, 1)) = 1 - (0 + 0.3 + 1 + 1 + 0.9 + 0.5 + 1 + 1) / 8 = 0.2875.
    est = agg.interval_estimates({"a": scores}, reps=50)["a"]
    assert est["iqm"].value == pytest.approx(0.95)
    assert est["median"].value == pytest.approx(0.825)
    assert est["mean"].value == pytest.approx(1.5125)
    assert est["optimality_gap"].value == pytest.approx(0.2875)
    assert agg.iqm(scores) == pytest.approx(0.95)
    for e in est.values():
        assert e.ci[0] <= e.value <= e.ci[1]
    clipped = agg.interval_estimates({"b": np.array([[2.0, 0.5]])}, reps=10)["b"]
    assert clipped["optimality_gap"].value == pytest.approx(1 - (1.0 + 0.5) / 2)
    assert agg.games_above_human(np.array([[1.0, 0.5, 2.0], [1.0, 0.4, 0.1]])) == 2


def test_confidence_level_sets_the_interval_width():
    rng = np.random.default_rng(2)
    scores = rng.random((10, 5))
    wide = agg.interval_estimates({"a": scores}, reps=300, seed=1, confidence=0.95)["a"]
    narrow = agg.interval_estimates({"a": scores}, reps=300, seed=1, confidence=0.5)["a"]
    for m in agg.METRICS:
        assert wide[m].value == narrow[m].value
        assert wide[m].ci[0] < narrow[m].ci[0] <= narrow[m].ci[1] < wide[m].ci[1]
    with pytest.raises(UsageError, match="--confidence"):
        agg.interval_estimates({"a": scores}, reps=10, confidence=95)
    lo, hi = agg.per_game_mean_cis({"Pong": scores[:, 0]}, reps=300, confidence=0.5)["Pong"]
    wide_lo, wide_hi = agg.per_game_mean_cis({"Pong": scores[:, 0]}, reps=300)["Pong"]
    assert wide_lo < lo < scores[:, 0].mean() < hi < wide_hi


def test_bootstrap_is_seeded_and_independent_of_other_algorithms():
    rng = np.random.default_rng(1)
    a, b = rng.random((5, 6)), rng.random((7, 6))
    one = agg.interval_estimates({"a": a}, reps=100, seed=3)["a"]["iqm"]
    two = agg.interval_estimates({"b": b, "a": a}, reps=100, seed=3)["a"]["iqm"]
    assert one == two
    assert one.ci[0] <= one.value <= one.ci[1]
    other = agg.interval_estimates({"a": a}, reps=100, seed=4)["a"]["iqm"]
    assert other.ci != one.ci


def test_ragged_runs_truncate_to_smallest_count_and_say_so():
    final = pd.DataFrame({"algorithm": "x", "game": ["Pong"] * 3 + ["Alien"] * 2,
                          "seed": [0, 1, 2, 0, 1], "hns": [1.0, 2.0, 9.0, 3.0, 4.0]})
    notes = []
    matrix = agg.score_matrix(final, "x", ["Pong", "Alien"], notes=notes)
    assert matrix.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert "first 2 runs" in notes[0]
    assert agg.missing_pairs(final, "x", ["Pong", "Alien"]) == [("Alien", 2)]
    notes = []
    assert agg.score_matrix(final[final["seed"] != 1], "x", ["Pong", "Alien"], notes=notes).tolist() == [[1.0, 3.0]]
    assert "1-2 runs per game; aggregates use the first 1 run of every game" in notes[0]


def test_unknown_game_has_no_human_score():
    with pytest.raises(UsageError):
        human_normalized(1.0, "NotAGame")


def test_probability_of_improvement_equals_rliables_own_computation():
    from rliable import library as rly
    from rliable import metrics

    rng = np.random.default_rng(3)
    x, y = rng.normal(0.2, 1, (5, 7)), rng.normal(0.0, 1, (8, 7))
    x[:, 0] = y[:5, 0]  # ties count half
    ours = agg.probability_of_improvement({"X,Y": (x, y)}, reps=300, seed=4)["X,Y"]
    np.random.seed(4)
    points, intervals = rly.get_interval_estimates({"p": [x, y]}, metrics.probability_of_improvement, reps=300)
    assert ours.value == pytest.approx(float(points["p"]))
    assert ours.ci == pytest.approx((float(np.ravel(intervals["p"][0])[0]), float(np.ravel(intervals["p"][1])[0])))
    assert 0.5 < ours.value < 1 and ours.ci[0] < ours.value < ours.ci[1]
