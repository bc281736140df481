"""`atari100k compare`: the rank test and percentiles by hand, published data split in two, SPR
against DER, run folders, protocol refusals, output paths."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from analysis.baselines import final_baseline_scores, get_baseline
from analysis.aggregate import iqm as agg_iqm
from analysis.compare import Side, build_comparison, iqm_inside_rate, range_inside_rate
from analysis.compare_report import build_comparison_figure
from analysis.rank_test import LEVEL, game_verdict, improvement_probability, midrank_percentiles, rank_sum_test
from atari100k.cli import build_parser, main

# `main` builds the whole parser, which imports submitit, whose logging.config.dictConfig closes every
# logging handler there is: absl's (imported by rliable) among them, and that one holds the sys.stderr
# of the moment rliable was imported, pytest's capture when it was inside a test. Build it first.
build_parser()

DER_LABEL = "DER (Dopamine, Agarwal et al.)"
REPS = ["--reps", "200"]


def _der() -> pd.DataFrame:
    return final_baseline_scores(get_baseline("DER"))


def _split(seed: int, k: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """k of DER's shipped runs per game drawn at random (seeded), and the other runs."""
    der = _der()
    rng = np.random.default_rng(seed)
    picked = np.concatenate([rng.choice(g.index.to_numpy(), k, replace=False) for _, g in der.groupby("game")])
    ours = der.loc[picked]
    return ours.assign(seed=ours.groupby("game").cumcount()), der.drop(picked)


def _csv(frame: pd.DataFrame, name: str, path: Path) -> Path:
    frame.assign(algorithm=name)[["algorithm", "game", "seed", "score"]].to_csv(path, index=False)
    return path


def _side(frame: pd.DataFrame, label: str, published: bool) -> Side:
    return Side(label, frame[["game", "seed", "step", "score"]].reset_index(drop=True), {}, None, "", "", published)


def _json(capsys, *args) -> dict:
    code = main(["compare", *REPS, *args, "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


# ---------------------------------------------------------------- statistics by hand

def test_percentiles_and_verdicts_by_hand():
    published = np.arange(1, 11, dtype=float)  # 1..10
    # Mid-rank percentile: 100 * (#below + 0.5 #equal) / n.
    assert midrank_percentiles([0, 5.5, 11, 5], published) == pytest.approx([0, 50, 100, 45])
    # One run against 10: the smallest two-sided p is 2/11 > 0.05, so it can never be flagged.
    for run, direction in ((0, "below"), (11, "above")):
        test = rank_sum_test([run], published)
        assert test.exact and test.p_value == pytest.approx(2 / 11) and test.min_p_value == pytest.approx(2 / 11)
        assert test.direction == direction and game_verdict(test) == "consistent"
    middle = rank_sum_test([5.5], published)
    assert middle.p_value == pytest.approx(1.0) and middle.prob_greater == 0.5 and game_verdict(middle) == "consistent"
    # The three together have ranks 1, 7, 13 of 13: sum 21 = its null mean 3 * 14 / 2.
    together = rank_sum_test([0, 5.5, 11], published)
    assert together.p_value == pytest.approx(1.0) and game_verdict(together) == "consistent"
    # Three runs below all ten: ranks 1, 2, 3 is 1 of C(13, 3) = 286 splits -> p = 2/286.
    low = rank_sum_test([0.5, 0.7, 0.9], published)
    assert low.p_value == pytest.approx(2 / 286) and game_verdict(low) == "below"
    high = rank_sum_test([10.5, 11, 12], published)
    assert high.p_value == pytest.approx(2 / 286) and game_verdict(high) == "above"
    assert low.prob_greater == 0.0 and high.prob_greater == 1.0
    # One run against 40 published: below all of them -> p = 2/41 < 0.05; tied with the lowest -> its
    # mid-rank 1.5 has P(S <= 1.5) = 2/41, p = 4/41 > 0.05.
    forty = np.arange(1, 41, dtype=float)
    below_all = rank_sum_test([0], forty)
    assert below_all.p_value == pytest.approx(2 / 41) and game_verdict(below_all) == "below"
    assert game_verdict(rank_sum_test([41], forty)) == "above"
    tied = rank_sum_test([1], forty)
    assert tied.p_value == pytest.approx(4 / 41) and game_verdict(tied) == "consistent"
    assert midrank_percentiles([1], forty) == pytest.approx([100 * 0.5 / 40])
    # One run against DER's 100: the smallest two-sided p is 2/101 = 0.0198.
    pong = _der().query("game == 'Pong'")["score"].to_numpy()
    assert rank_sum_test([pong.min() - 1], pong).p_value == pytest.approx(2 / 101)


def _enumerated_p(x, y) -> float:
    """Two-sided p of the rank-sum test by listing every split of the pooled runs."""
    ranks = scipy.stats.rankdata(np.concatenate([x, y]))
    observed = ranks[:len(x)].sum()
    sums = np.array([ranks[list(c)].sum() for c in itertools.combinations(range(len(ranks)), len(x))])
    return min(1.0, 2 * min(np.mean(sums <= observed + 1e-9), np.mean(sums >= observed - 1e-9)))


def test_exact_test_matches_enumeration_scipy_and_rliable():
    rng = np.random.default_rng(3)
    for _ in range(40):  # with ties, and with more of ours than published
        x = rng.integers(0, 6, rng.integers(1, 6)).astype(float)
        y = rng.integers(0, 6, rng.integers(1, 10)).astype(float)
        assert rank_sum_test(x, y).p_value == pytest.approx(_enumerated_p(x, y), abs=1e-12)
    for _ in range(10):  # no ties: scipy's exact Mann-Whitney
        x, y = rng.normal(size=rng.integers(2, 8)), rng.normal(size=rng.integers(2, 9))
        expected = scipy.stats.mannwhitneyu(x, y, method="exact").pvalue
        assert rank_sum_test(x, y).p_value == pytest.approx(expected, rel=1e-9)
    large = rank_sum_test(rng.normal(size=100), rng.normal(size=100))
    assert not large.exact and large.min_p_value is None  # 100 against 100: the normal approximation
    from rliable import metrics
    x, y = rng.integers(0, 4, (5, 26)).astype(float), rng.integers(0, 4, (100, 26)).astype(float)
    assert improvement_probability(x, y) == pytest.approx(metrics.probability_of_improvement(x, y))


# ---------------------------------------------------------------- published data

def test_der_split_in_two_per_game_verdicts_hold_their_level():
    """DER's own runs, 5 against the other 95, 40 seeded splits x 26 games: the exact test rejects at
    most about 5% of the time (it is conservative: ties and discreteness)."""
    flagged = total = 0
    for seed in range(40):
        ours, rest = _split(seed)
        for game, rows in ours.groupby("game"):
            test = rank_sum_test(rows["score"], rest.loc[rest["game"] == game, "score"])
            flagged += game_verdict(test) != "consistent"
            total += 1
    assert total == 1040 and flagged / total <= LEVEL + 0.01


def test_der_split_in_two_reads_reproduced():
    """Aggregate verdicts of 12 seeded splits (5 runs per game against the other 95): the 95% CI of
    P(ours > published) holds 0.5 in about 92% of them (the 5-run bootstrap is a little narrow)."""
    verdicts = []
    for seed in range(12):
        ours, rest = _split(seed)
        comparison = build_comparison(_side(ours, "DER split", False), _side(rest, "DER rest", True), reps=200)
        verdicts.append(comparison.verdict)
        assert comparison.runs == {"DER split": 5, "DER rest": 95} and len(comparison.games) == 26
    assert verdicts.count("reproduced") >= 10, verdicts


def test_der_runs_against_shipped_der_through_the_cli(capsys, tmp_path):
    ours, _ = _split(seed=1)
    data = _json(capsys, str(_csv(ours, "DER redrawn", tmp_path / "ours.csv")), "--against", "DER")
    assert data["verdict"] == "reproduced" and data["against"]["label"] == DER_LABEL and data["same_algorithm"]
    poi = data["aggregate"]["probability_of_improvement"]
    assert poi["ci"][0] <= 0.5 <= poi["ci"][1]
    counts = data["verdict_counts"]
    assert sum(counts.values()) == 26 and counts["below"] + counts["above"] <= 4
    games = {g["game"]: g for g in data["games"]}
    pong = _der().query("game == 'Pong'")["score"].to_numpy()
    assert games["Pong"]["published"]["median"] == pytest.approx(np.median(pong))
    assert games["Pong"]["published"]["p5"] == pytest.approx(np.percentile(pong, 5))
    assert games["Pong"]["percentiles"] == pytest.approx(list(midrank_percentiles(games["Pong"]["ours"], pong)))
    assert data["aggregate"]["runs_per_game"] == {"DER redrawn": 5, DER_LABEL: 100}
    assert data["aggregate"]["bootstrap"]["reps"] == 200
    # A CSV records no protocol: said, and not compared.
    assert all(row["status"] == "not recorded" for row in data["protocol"]["fields"])
    assert any("not recorded for DER redrawn" in n for n in data["protocol"]["notes"])


def test_spr_against_der_is_better_not_reproduced(capsys, tmp_path):
    spr = final_baseline_scores(get_baseline("SPR"))
    data = _json(capsys, str(_csv(spr, "SPR runs", tmp_path / "spr.csv")), "--against", "DER")
    poi = data["aggregate"]["probability_of_improvement"]
    assert data["verdict"] == "better than published" and poi["ci"][0] > 0.5
    iqm = data["aggregate"]["iqm_hns"]
    assert iqm["SPR runs"]["value"] > iqm[DER_LABEL]["value"]
    counts = data["verdict_counts"]
    assert counts["above"] > 13 and counts["above"] > 3 * counts["below"], counts


def test_a_csv_protocol_from_its_sidecar_or_flags_is_compared(capsys, tmp_path):
    ours, _ = _split(seed=1)
    csv = _csv(ours, "DER redrawn", tmp_path / "ours.csv")
    # A sidecar declaring sticky actions: refused like a run folder with them.
    (tmp_path / "ours.csv.protocol.json").write_text(json.dumps({"sticky_action_prob": 0.25, "evaluation": "final"}))
    assert main(["compare", *REPS, str(csv), "--against", "DER"]) == 2
    err = capsys.readouterr().err.strip()
    assert "protocols differ: sticky actions: DER redrawn 0.25" in err and len(err.splitlines()) == 1
    # --protocol overrides the sidecar field by field; a score field (a lost life ends the scored
    # episode) is compared too.
    assert main(["compare", *REPS, str(csv), "--against", "DER", "--protocol", "sticky_action_prob=0",
                 "--protocol", "life_loss_ends_episode=true"]) == 2
    err = capsys.readouterr().err
    assert "a lost life ends the scored episode: DER redrawn yes" in err
    data = _json(capsys, str(csv), "--against", "DER", "--protocol", "sticky_action_prob=0")
    status = {r["field"]: r["status"] for r in data["protocol"]["fields"]}
    assert status["sticky_action_prob"] == "same" and status["evaluation"] == "same"
    assert status["action_set"] == "not recorded"
    assert "protocol as declared in" in data["ours"]["score"]


# ---------------------------------------------------------------- run folders

PROTOCOL = {"budget_steps": 100000, "budget_frames": 400000, "action_repeat": 4, "sticky_action_prob": 0.0,
            "noop_max": 30, "max_pool_frames": True, "action_set": "minimal", "max_episode_frames": 108000,
            "life_loss_terminal": True, "observation": "84x84 gray", "eval_episodes": 100,
            "eval_policy": "eps-greedy eps=0.001, noise off",
            "score": "mean return of 100 evaluation episodes after 100000 steps"}
# Final scores per game: Pong below every published DER run (min -20.63), the others near DER's median.
FINALS = {"Pong": [-21.0, -21.0, -20.9], "Breakout": [8.0, 9.5, 10.0], "Boxing": [-1.0, 0.5, 1.0]}


def _run_folder(folder: Path, algo: str, game: str, seed: int, final: float, **protocol) -> None:
    """A finished run folder: run.json (spec, config, protocol), eval.csv (100 episodes at the end), DONE."""
    folder.mkdir(parents=True)
    info = {"spec": {"game": game, "seed": seed, "algo": algo, "presets": ["atari100k"], "overrides": []},
            "config": {"env": {"sticky_action_prob": protocol.get("sticky_action_prob", 0.0)}},
            "protocol": {**PROTOCOL, **protocol}, "budget_steps": 100000,
            "provenance": {"git_commit": "fixture", "git_dirty": False}}
    (folder / "run.json").write_text(json.dumps(info))
    rows = ["step,episode,return,length"] + [f"50000,{e},{final - 5},100" for e in range(10)]
    rows += [f"100000,{e},{final + (1 if e % 2 else -1)},100" for e in range(100)]  # mean = final
    (folder / "eval.csv").write_text("\n".join(rows) + "\n")
    (folder / "DONE").write_text(json.dumps({"step": 100000, "frames": 400000, "eval_episodes": 100}))


def _sweep(root: Path, algos=("der",), **protocol) -> Path:
    for algo in algos:
        for game, finals in FINALS.items():
            for seed, final in enumerate(finals):
                _run_folder(root / algo / game / f"seed_{seed}", algo, game, seed, final, **protocol)
    return root


def test_run_folders_are_der_ours_and_compared(capsys, tmp_path):
    sweep = _sweep(tmp_path / "sweep")
    figure = tmp_path / "figs" / "compare.pdf"
    data = _json(capsys, str(sweep), "--against", "DER", "--figure", str(figure))
    assert data["ours"]["label"] == "DER (ours)" and not data["ours"]["published"]
    assert "100 evaluation episodes at step 100,000" in data["ours"]["score"]
    games = {g["game"]: g for g in data["games"]}
    assert set(games) == set(FINALS)
    assert games["Pong"]["ours"] == pytest.approx(FINALS["Pong"]) and games["Pong"]["percentiles"] == [0, 0, 0]
    assert games["Pong"]["verdict"] == "below" and games["Pong"]["test"]["exact"]
    assert games["Breakout"]["verdict"] == "consistent" and games["Boxing"]["verdict"] == "consistent"
    assert data["aggregate"]["runs_per_game"] == {"DER (ours)": 3, DER_LABEL: 100}
    protocol = data["protocol"]
    assert [r["status"] for r in protocol["fields"]] == ["same"] * 11 and protocol["differences"] == []
    noop = next(n for n in protocol["notes"] if "no-op starts are one protocol family" in n)
    assert "0-30 single no-op frames" in noop and "0-29 single frames" in noop and "predate" in noop
    assert any("target network every 8,000 steps" in n for n in data["notes"])  # the 2021 code (DER_NOTE)
    assert any("observation: DER (ours) 84x84 gray" in c for c in protocol["agent_choices"])
    assert figure.stat().st_size > 5000 and b"FontFile2" in figure.read_bytes()  # TrueType, not Type 3
    # Markdown: the table, the verdict line and the footnotes.
    assert main(["compare", *REPS, str(sweep), "--against", "DER"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("**Reproduction check: DER (ours) against DER (Dopamine") and "different algorithms" not in text
    assert "| Pong | -21.0, -21.0, -20.9 |" in text and "**below**" in text
    assert "mid-rank percentile" in text and "exact Wilcoxon-Mann-Whitney" in text and "200 reps" in text


def test_learning_curves_of_run_folders_in_the_published_der_curves(capsys, tmp_path):
    from analysis.baselines import baseline_eval_curves

    sweep = _sweep(tmp_path / "sweep")  # each run: 10 episodes at 50k steps (final - 5), 100 at 100k
    figure = tmp_path / "curves.svg"
    data = _json(capsys, str(sweep), "--against", "DER", "--curve-figure", str(figure))
    published = baseline_eval_curves(get_baseline("DER"))
    curves = {g["game"]: g for g in data["curves"]["games"]}
    assert set(curves) == set(FINALS) and all(g["steps"] == [50_000, 100_000] for g in curves.values())
    for game, finals in FINALS.items():
        at = {step: published.loc[(published["game"] == game) & (published["step"] == step), "score"].to_numpy()
              for step in (50_000, 100_000)}
        for seed, final in enumerate(finals):
            by_hand = [100 * ((at[s] < v).sum() + 0.5 * (at[s] == v).sum()) / len(at[s])
                       for s, v in ((50_000, final - 5), (100_000, final))]
            assert curves[game]["ours"][str(seed)]["percentiles"] == pytest.approx(by_hand)
        assert curves[game]["published_percentiles"]["50"][0] == pytest.approx(np.median(at[50_000]))
    assert "Learning curves:" in " ".join(data["method"]) and "der_eval_curves.csv.gz" in data["curves"]["published"]
    assert figure.read_text().count("<svg") == 1
    assert main(["compare", *REPS, str(sweep), "--against", "DER"]) == 0
    text = capsys.readouterr().out
    assert "**Learning curves**" in text and "| Pong | published median [5%, 95%] (100 runs) |" in text
    assert main(["compare", *REPS, str(sweep), "--against", "SPR", "--curve-figure", str(tmp_path / "s.png")]) == 2
    assert "SPR ships no per-run evaluations during training" in capsys.readouterr().err
    # Runs evaluated only at the end have no curve: the table says so, and --curve-figure is refused.
    for folder in sweep.glob("der/*/seed_*"):
        rows = (folder / "eval.csv").read_text().splitlines()
        (folder / "eval.csv").write_text("\n".join([rows[0], *[r for r in rows[1:] if r.startswith("100000,")]]) + "\n")
    data = _json(capsys, str(sweep), "--against", "DER")
    assert data["curves"] is None and any("no learning-curve check" in n for n in data["notes"])
    out = tmp_path / "table.md"
    assert main(["compare", *REPS, str(sweep), "--against", "DER", "--out", str(out), "--curve-figure",
                 str(tmp_path / "none.png")]) == 2
    err = capsys.readouterr().err
    assert "no learning curves to compare: DER (ours) has no evaluation" in err and not out.exists()
    assert not (tmp_path / "none.png").exists()


def test_sticky_actions_refused_unless_allowed_then_every_difference_printed(capsys, tmp_path):
    sweep = _sweep(tmp_path / "sticky", sticky_action_prob=0.25, noop_max=0, eval_episodes=10)
    assert main(["compare", *REPS, str(sweep), "--against", "DER"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "protocols differ: sticky actions" in err
    assert "0.25" in err and "--allow-protocol-mismatch" in err and "1 more" in err
    assert main(["compare", *REPS, str(sweep), "--against", "DER", "--allow-protocol-mismatch"]) == 0
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if "Protocol differences" in line)
    assert "sticky actions: DER (ours) 0.25, DER (Dopamine, Agarwal et al.) 0" in line
    assert "no-op starts: DER (ours) none, DER (Dopamine, Agarwal et al.) up to 30 no-op starts" in line
    # eval.csv holds 100 episodes: that is what the scores average (run.json's 10 is noted)
    assert "evaluation episodes per score" not in line
    assert "run.json asks for 10 evaluation episodes" in text


def test_several_algorithms_take_the_compared_one_or_need_a_selector(capsys, tmp_path):
    sweep = _sweep(tmp_path / "both", algos=("der", "iqn"))
    # --against DER: our DER is the one a reproduction check is about; the notes say it was chosen.
    data = _json(capsys, str(sweep), "--against", "DER")
    assert data["ours"]["label"] == "DER (ours)" and data["same_algorithm"] is True
    assert any("holds DER (ours), IQN (ours): compared DER (ours)" in n for n in data["notes"])
    # No algorithm of ours is SPR's: which one is meant cannot be guessed.
    assert main(["compare", *REPS, str(sweep), "--against", "SPR"]) == 2
    err = capsys.readouterr().err
    assert "several algorithms" in err and "DER (ours)" in err and "IQN (ours)" in err and "--algorithm" in err
    data = _json(capsys, str(sweep), "--against", "DER", "--algorithm", "iqn")
    assert data["ours"]["label"] == "IQN (ours)"
    # Another input path as ALGO: our IQN runs against our DER runs (equal scores: P = 0.5).
    data = _json(capsys, str(sweep), "--algorithm", "IQN (ours)", "--against", str(sweep),
                 "--against-algorithm", "der")
    assert data["against"]["label"] == "DER (ours)" and data["verdict"] == "reproduced"
    assert data["aggregate"]["probability_of_improvement"]["value"] == pytest.approx(0.5)
    assert all(r["status"] == "same" for r in data["protocol"]["fields"])
    # ... which is a comparison of two algorithms, not a reproduction check, and says so.
    assert data["same_algorithm"] is False
    assert main(["compare", *REPS, str(sweep), "--algorithm", "iqn", "--against", "DER"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("**Comparison (different algorithms, not a reproduction check): IQN (ours) against DER")
    assert "not that DER (Dopamine, Agarwal et al.) was reproduced" in text


def test_one_run_per_game_gives_no_overall_verdict(capsys, tmp_path):
    ours, _ = _split(seed=0, k=1)
    data = _json(capsys, str(_csv(ours, "one run", tmp_path / "one.csv")), "--against", "DER")
    assert data["verdict"] is None and data["aggregate"]["probability_of_improvement"]["ci"] is None
    assert any("too few runs for a bootstrap" in n for n in data["notes"])
    for game in data["games"]:  # one run against 100 cannot reach below p = 2/101
        assert game["test"]["min_p_value"] >= 2 / 101 - 1e-12 and len(game["ours"]) == 1
    # The published side has 100 runs per game: its IQM still gets a CI, and the range checks are shown.
    aggregate = data["aggregate"]
    published_iqm = aggregate["iqm_hns"][DER_LABEL]
    assert published_iqm["ci"] is not None and aggregate["iqm_hns"]["one run"]["ci"] is None
    ours_iqm = aggregate["iqm_hns"]["one run"]["value"]
    assert aggregate["iqm_inside_against_ci"] == (published_iqm["ci"][0] <= ours_iqm <= published_iqm["ci"][1])
    inside = sum(g["published"]["p5"] <= g["ours"][0] <= g["published"]["p95"] for g in data["games"])
    ranges = aggregate["runs_inside_5_95"]
    assert (ranges["inside"], ranges["runs"]) == (inside, 26) and 15 <= inside <= 26
    # 26 runs, each inside its range ~88% of the time: all of them far less often.
    assert 0.01 < ranges["faithful_pass_rate"] < 0.15
    assert 0 < aggregate["iqm_inside_rate_of_against_draws"] < 0.5  # one run a game is far noisier than the CI
    assert main(["compare", *REPS, str(tmp_path / "one.csv"), "--against", "DER"]) == 0
    text = capsys.readouterr().out
    assert "one run: 1 run per game;" in text and "a faithful reproduction with 1 run per game is inside" in text
    row = next(line for line in text.splitlines() if "5-95% range of their game" in line)
    rate = f"{100 * ranges['faithful_pass_rate']:.0f}%"
    assert f"| {inside} of 26 (all 26 runs of a faithful reproduction are inside {rate} of the time) |" in row


def test_iqm_inside_rate_by_hand():
    theirs = np.array([[0.0], [1.0], [2.0]])  # 3 runs of one game
    # One run per draw, from a resample of the three: each score 1/3 of the time; (0.5, 1.5) holds only 1.
    assert iqm_inside_rate(theirs, (0.5, 1.5), 1, draws=6000) == pytest.approx(1 / 3, abs=0.02)
    assert iqm_inside_rate(theirs, (-1.0, 3.0), 2, draws=50) == 1.0
    assert iqm_inside_rate(theirs, (5.0, 6.0), 2, draws=50) == 0.0
    assert iqm_inside_rate(theirs[:1], (0.0, 2.0), 1) is None  # one run: nothing to resample
    # Normal runs: the published CI of the mean-like IQM is ~ +-2 sd/sqrt(n); our k runs add sd/sqrt(k).
    rng = np.random.default_rng(0)
    many = rng.normal(size=(400, 1))
    half_width = 2 * many.std() / np.sqrt(400)
    ci = (float(agg_iqm(many)) - half_width, float(agg_iqm(many)) + half_width)
    # k = 400 runs: ours and theirs equally noisy: inside ~ P(|N(0, 2/400)| < 2/sqrt(400)) = P(|Z| < 1.41) ~ 0.84
    assert iqm_inside_rate(many, ci, 400, draws=1000) == pytest.approx(0.84, abs=0.06)


def test_range_inside_rate_by_hand():
    rng = np.random.default_rng(0)
    games = {g: rng.random(100) for g in ("a", "b")}
    # One held-out run inside the 5-95% range of the 99 others: ~0.9 * 98 / 100 = 0.88 per game.
    one = range_inside_rate({"a": games["a"]}, {"a": 1}, draws=20000)
    assert one == pytest.approx(0.88, abs=0.015)
    both = range_inside_rate(games, {"a": 1, "b": 1}, draws=20000)
    assert both == pytest.approx(0.88 ** 2, abs=0.02)  # games are independent
    assert range_inside_rate({"a": games["a"][:12]}, {"a": 3}) is None  # fewer than 10 left for a range


def test_bad_output_paths_and_against_refused_before_any_work(capsys, tmp_path):
    missing = str(tmp_path / "no_such_input")
    a_file = tmp_path / "a.txt"
    a_file.write_text("x")
    cases = [
        (["--out", str(tmp_path)], "--out"),                                   # a folder where a file is expected
        (["--figure", str(a_file / "fig.png")], "is a file, not a folder"),
        (["--figure", str(tmp_path / "fig.jpeg")], ".png, .pdf, .svg"),
        (["--figure", str(tmp_path)], "is a folder"),
        (["--curve-figure", str(tmp_path / "c.txt")], ".png, .pdf, .svg"),
        (["--figure", str(tmp_path / "x.png"), "--curve-figure", str(tmp_path / "x.png")], "name the same file"),
    ]
    for extra, said in cases:
        assert main(["compare", missing, "--against", "DER", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and said in err and "no_such_input" not in err
    sweep = _sweep(tmp_path / "sweep")
    for against, said in (("IQN", "learning curve"), ("NoSuchAlgo", "neither a file or folder"), ("", "empty")):
        assert main(["compare", str(sweep), "--against", against]) == 2
        assert said in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.pdf"))


def test_analysis_compare_stays_torch_free():
    code = ("import sys, analysis.rank_test, analysis.compare, analysis.compare_report, analysis.commands; "
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.split('.')[0] == 'agent'); "
            "sys.exit(f'imported {bad}' if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_numbers_have_thousands_separators_from_1000_as_in_table():
    from analysis.compare_report import _num

    assert [_num(x) for x in (3046.64, 15224.0, 999.95, 12.34, 5.123)] == ["3,046.6", "15,224", "1,000.0",
                                                                          "12.3", "5.12"]


@pytest.mark.parametrize("games", [1, 2, 7])
def test_figure_text_fits_the_figure(games):
    """The title and footer are wrapped to the figure's width, however few games it has."""
    ours, rest = _split(3, k=2)
    keep = sorted(ours["game"].unique())[:games]
    comparison = build_comparison(_side(ours[ours["game"].isin(keep)], "DER split with a long name", False),
                                  _side(rest, "DER rest", True), reps=50)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = build_comparison_figure(comparison)
    renderer = FigureCanvasAgg(fig).get_renderer()
    texts = fig.texts  # the title and the footer
    assert len(texts) == 2 and fig.get_suptitle().startswith("DER split with a long name")
    for text in texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y0 >= 0 and box.y1 <= fig.bbox.y1, text.get_text()
