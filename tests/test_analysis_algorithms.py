"""Run folders of several algorithms (run.json `spec.algo`): labels, layouts, protocol notes, baselines."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.baselines import final_baseline_scores, get_baseline, parse_baselines
from analysis.compare import side_from_inputs
from analysis.scores import (ALGORITHM_LABELS, RECIPE_PRESETS, SAME_RECIPE_KEYS, algorithm_label, changes_recipe,
                             load_inputs, recipe_overrides)
from atari100k.cli import main
from atari100k.errors import UsageError

REPS = ["--reps", "30"]
DER_LABEL = "DER (Dopamine, Agarwal et al.)"

# Mean eval return at step 100000 per (algo, game, seed); each run also has a step-50000 row.
SCORES = {
    ("der", "Pong", 0): -19.0, ("der", "Pong", 1): -17.0,
    ("der", "Breakout", 0): 4.0, ("der", "Breakout", 1): 6.0,
    ("dreamerv2", "Pong", 0): -5.0, ("dreamerv2", "Pong", 1): 1.0,
    ("dreamerv2", "Breakout", 0): 12.0, ("dreamerv2", "Breakout", 1): 20.0,
    ("iqn", "Pong", 0): -20.0, ("iqn", "Pong", 1): -18.0,
    ("iqn", "Breakout", 0): 2.0, ("iqn", "Breakout", 1): 3.0,
}
# What agent.config.describe_protocol writes for each learner's atari100k preset (3 eval episodes here).
PROTOCOL = {"budget_steps": 100000, "budget_frames": 400000, "action_repeat": 4, "sticky_action_prob": 0.0,
            "noop_max": 30, "max_pool_frames": True, "action_set": "minimal", "max_episode_frames": 108000,
            "eval_episodes": 3, "score": "mean return of 3 evaluation episodes after 100000 steps"}
OWN = {
    "dreamerv2": {"life_loss_terminal": False, "observation": "64x64 gray", "eval_policy": "mode"},
    "der": {"life_loss_terminal": True, "observation": "84x84 gray", "eval_policy": "eps-greedy eps=0.001, noise off"},
    "iqn": {"life_loss_terminal": True, "observation": "84x84 gray", "eval_policy": "eps-greedy eps=0.001, noise off"},
}


def _run_folder(folder: Path, algo: str, game: str, seed: int, algo_key: bool = True, **protocol) -> Path:
    """A tiny finished run folder: run.json (spec, config, protocol), eval.csv, DONE."""
    folder.mkdir(parents=True)
    spec = {"game": game, "seed": seed, "presets": ["atari100k"], "overrides": [], "steps": None}
    if algo_key:
        spec["algo"] = algo
    image = int(OWN[algo]["observation"].split("x")[0])
    config = {"env": {"image_size": image, "grayscale": True, "sticky_action_prob": 0.0,
                      "life_loss_terminal": OWN[algo]["life_loss_terminal"]},
              "train": {"steps": 100000}, "eval": {"episodes": 3}}
    info = {"spec": spec, "config": config, "protocol": {**PROTOCOL, **OWN[algo], **protocol},
            "budget_steps": 100000, "provenance": {"git_commit": "fixture", "git_dirty": False}}
    (folder / "run.json").write_text(json.dumps(info))
    final = SCORES[(algo, game, seed)]
    rows = ["step,episode,return,length"]
    rows += [f"50000,{k},{final - 3 + d},100" for k, d in enumerate((-1, 0, 1))]
    rows += [f"100000,{k},{final + d},100" for k, d in enumerate((-2, 0, 2))]  # mean = final
    (folder / "eval.csv").write_text("\n".join(rows) + "\n")
    (folder / "DONE").write_text(json.dumps({"step": 100000, "frames": 400000, "eval_episodes": 3}))
    return folder


def _sweep(root: Path, algos=("der",), old_dreamer: bool = True, **protocol) -> Path:
    """`root/<algo>/<Game>/seed_<k>/` for `algos`, plus DreamerV2 in the older `root/<Game>/seed_<k>/`
    layout without `spec.algo` when `old_dreamer`."""
    for game in ("Pong", "Breakout"):
        for seed in (0, 1):
            for algo in algos:
                _run_folder(root / algo / game / f"seed_{seed}", algo, game, seed, **protocol)
            if old_dreamer:
                _run_folder(root / game / f"seed_{seed}", "dreamerv2", game, seed, algo_key=False)
    return root


def _json_table(capsys, *args) -> dict:
    assert main(["table", *REPS, *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_labels_mirror_agent_algorithms_and_analysis_stays_torch_free():
    from agent.algorithms import ALGORITHMS

    assert ALGORITHM_LABELS == {name: a.label for name, a in ALGORITHMS.items()}
    assert all(set(RECIPE_PRESETS) <= set(a.presets) for a in ALGORITHMS.values())  # names the agents know
    assert algorithm_label("der") == "DER (ours)" and algorithm_label(None) == "DreamerV2 (ours)"
    assert algorithm_label("iqn") == "IQN (ours)" and algorithm_label("ppo") == "ppo (ours)"
    assert algorithm_label("der", ["atari100k", "dopamine2021"]) == "DER (ours, dopamine2021)"
    assert algorithm_label("dreamerv2", ["debug"]) == "DreamerV2 (ours)"
    code = ("import sys, analysis.commands, analysis.table, analysis.figures, analysis.scores; "
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.split('.')[0] == 'agent'); "
            "sys.exit(f'imported {bad}' if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_one_folder_two_algorithms_two_layouts_one_label_each(tmp_path):
    sweep = _sweep(tmp_path / "sweep", algos=("der",))
    data = load_inputs([sweep])
    frame = data.frame
    assert set(frame["algorithm"]) == {"DER (ours)", "DreamerV2 (ours)"}
    for label, algo in (("DER (ours)", "der"), ("DreamerV2 (ours)", "dreamerv2")):
        rows = frame[(frame["algorithm"] == label) & (frame["step"] == 100000)]
        assert len(rows) == 4  # 2 games x 2 seeds, from <sweep>/der/... and the older <sweep>/<Game>/...
        for r in rows.itertuples():
            assert r.score == pytest.approx(SCORES[(algo, r.game, r.seed)])
        assert data.protocols[label]["algo"] == algo
    assert data.protocols["DER (ours)"]["observation"] == "84x84 gray"
    assert data.protocols["DreamerV2 (ours)"]["life_loss_terminal"] is False
    assert data.notes == []  # each label's runs agree on their protocol


def test_table_rows_scores_and_published_der_kept_apart(capsys, tmp_path):
    sweep = _sweep(tmp_path / "sweep", algos=("der",))
    data = _json_table(capsys, str(sweep), "--baselines", "DER")
    assert set(data["aggregates"]) == {"DER (ours)", "DreamerV2 (ours)", DER_LABEL}
    assert data["aggregates"]["DER (ours)"]["runs"] == 2 and data["aggregates"][DER_LABEL]["runs"] == 100
    for game in data["games"]:
        g = game["game"]
        for label, algo in (("DER (ours)", "der"), ("DreamerV2 (ours)", "dreamerv2")):
            cell = game["scores"][label]
            assert cell["runs"] == 2
            assert cell["mean"] == pytest.approx((SCORES[(algo, g, 0)] + SCORES[(algo, g, 1)]) / 2)
        published = final_baseline_scores(get_baseline("DER")).query("game == @g")["score"]
        assert game["scores"][DER_LABEL]["mean"] == pytest.approx(published.mean())
        assert game["scores"][DER_LABEL]["runs"] == 100
    protocols = data["protocol"]["algorithms"]
    assert protocols["DER (ours)"]["algo"] == "der" and protocols[DER_LABEL]["kind"] == "final"

    assert main(["table", *REPS, str(sweep), "--baselines", "DER"]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("| Game"))
    # Our algorithms come in the order their run folders sort; the published DER after them,
    # marked † (its scores average 100 evaluation episodes, the fixture's 3).
    assert header.rstrip(" |").split(" | ")[3:] in (["DER (ours)", "DreamerV2 (ours)", DER_LABEL + " †"],
                                                     ["DreamerV2 (ours)", "DER (ours)", DER_LABEL + " †"])
    # Each protocol line says the algorithm's own choices; the note says they are not protocol differences.
    der_line = next(line for line in text.splitlines() if line.startswith("- DER (ours):"))
    dreamer_line = next(line for line in text.splitlines() if line.startswith("- DreamerV2 (ours):"))
    assert "(eps-greedy eps=0.001, noise off)" in der_line and "84x84 gray input" in der_line
    assert "a lost life is a terminal for the agent" in der_line
    assert "(mode)" in dreamer_line and "64x64 gray input" in dreamer_line
    assert "a lost life is not a terminal for the agent" in dreamer_line
    choices = next(line for line in text.splitlines() if "not evaluation-protocol differences" in line)
    assert "observation (" in choices and "DER (ours): 84x84 gray" in choices
    assert "DreamerV2 (ours): 64x64 gray" in choices and "evaluation policy (" in choices
    assert "a lost life is a terminal for the agent (" in choices
    assert "DER (ours): yes" in choices and "DreamerV2 (ours): no" in choices
    assert "share the evaluation protocol" in text and "sticky actions" in text
    assert "differ in the evaluation protocol" not in text

    for fmt in ("csv", "latex"):
        assert main(["table", *REPS, str(sweep), "--baselines", "DER", "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "DER (ours)" in out and "DER (Dopamine, Agarwal et al.)" in out


def test_iqn_ours_beside_dopamine_iqn_and_eval_protocol_difference_said(capsys, tmp_path):
    sweep = _sweep(tmp_path / "sweep", algos=("iqn",), old_dreamer=True, sticky_action_prob=0.25)
    data = _json_table(capsys, str(sweep), "--baselines", "IQN")
    assert set(data["aggregates"]) == {"IQN (ours)", "DreamerV2 (ours)", "IQN (Dopamine, 0-1M frames)"}
    pong = next(g for g in data["games"] if g["game"] == "Pong")["scores"]
    assert pong["IQN (ours)"]["mean"] == pytest.approx(-19.0)
    notes = " ".join(data["protocol"]["notes"])
    said = next(n for n in data["protocol"]["notes"] if "differ in the evaluation protocol" in n)
    assert "sticky actions (" in said and "IQN (ours): 0.25" in said and "DreamerV2 (ours): 0.0" in said
    assert "budget" not in said and "not measured alike" in said  # only what differs is listed
    assert "share the evaluation protocol" not in notes
    assert "IQN (ours): 84x84 gray" in notes and "not evaluation-protocol differences" in notes


def test_name_override_wins_and_names_what_it_merges(capsys, tmp_path):
    der = _sweep(tmp_path / "der_only", algos=("der",), old_dreamer=False)
    dreamer = _sweep(tmp_path / "dreamer_only", algos=(), old_dreamer=True)
    data = load_inputs([der, dreamer], ["Mine-DER", "Mine-DV2"])
    assert set(data.frame["algorithm"]) == {"Mine-DER", "Mine-DV2"} and data.notes == []
    # One --name over two algorithms that ran the same (game, seed): refused, saying where.
    code = main(["table", *REPS, str(der), str(dreamer), "--name", "Both"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "Both" in err and "(der)" in err and "(dreamerv2)" in err
    # One --name over two algorithms on different seeds: allowed, and said (with protocol fields that differ).
    for seed_dir in (dreamer / "Pong" / "seed_0", dreamer / "Pong" / "seed_1",
                     dreamer / "Breakout" / "seed_0", dreamer / "Breakout" / "seed_1"):
        info = json.loads((seed_dir / "run.json").read_text())
        info["spec"]["seed"] += 2
        (seed_dir / "run.json").write_text(json.dumps(info))
    data = load_inputs([der, dreamer], ["Both"])
    assert set(data.frame["algorithm"]) == {"Both"}
    assert any("several algorithms (der, dreamerv2)" in n and "DER (ours)" in n for n in data.notes)
    assert any("protocol field observation" in n for n in data.notes)


def test_published_der_selection_and_no_merge_with_inputs(capsys, tmp_path):
    for spec in ("DER", "der", "OTRainbow,DER"):
        assert [b.key for b in parse_baselines(spec)][-1] == "DER"
    assert get_baseline("DER").label == DER_LABEL and get_baseline(DER_LABEL).key == "DER"
    assert len(final_baseline_scores(get_baseline("DER"))) == 26 * 100
    assert main(["baselines", "--format", "json"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["DER"]["label"] == DER_LABEL and rows["DER"]["runs_per_game"] == "100"
    # A CSV whose algorithm reads as the published DER is never set beside (or merged with) it.
    csv = tmp_path / "der.csv"
    csv.write_text("algorithm,game,seed,score\nDER,Pong,0,-20\n")
    code = main(["table", *REPS, str(csv), "--baselines", "DER"])
    err = capsys.readouterr().err
    assert code == 2 and "reads as the baseline" in err and "--name" in err
    assert main(["table", *REPS, str(csv), "--name", "DER (ours)", "--baselines", "DER", "--format", "json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["aggregates"]) == {"DER (ours)", DER_LABEL}


def test_plot_with_two_algorithms_and_published_der(capsys, tmp_path):
    sweep = _sweep(tmp_path / "sweep", algos=("der",))
    out = tmp_path / "figs"
    assert main(["plot", *REPS, str(sweep), "--baselines", "DER", "--out", str(out)]) == 0
    text = (out / "figures.txt").read_text()
    assert "DER (ours) 2" in text and "DreamerV2 (ours) 2" in text and f"{DER_LABEL} 100" in text
    assert (out / "sample_efficiency.png").stat().st_size > 1000


def test_runs_of_a_recipe_preset_get_their_own_label(tmp_path):
    """DER runs made with `--preset atari100k,dopamine2021` never merge with default DER runs."""
    sweep = _sweep(tmp_path / "sweep", algos=("der",), old_dreamer=False)
    variant = _run_folder(tmp_path / "sweep2021" / "der" / "Pong" / "seed_0", "der", "Pong", 0)
    info = json.loads((variant / "run.json").read_text())
    info["spec"]["presets"] = ["atari100k", "dopamine2021"]
    (variant / "run.json").write_text(json.dumps(info))
    data = load_inputs([sweep, tmp_path / "sweep2021"])
    counts = data.frame[data.frame["step"] == 100000].groupby("algorithm").size().to_dict()
    assert counts == {"DER (ours)": 4, "DER (ours, dopamine2021)": 1}
    assert data.protocols["DER (ours, dopamine2021)"]["algo"] == "der"
    # `compare --algorithm der` on a folder of only variant runs picks the variant.
    assert side_from_inputs([tmp_path / "sweep2021"], algorithm="der").label == "DER (ours, dopamine2021)"
    info["spec"]["presets"] = "dopamine2021"
    (variant / "run.json").write_text(json.dumps(info))
    with pytest.raises(UsageError, match="spec.presets 'dopamine2021' must be a list"):
        load_inputs([variant])


def test_runs_with_a_recipe_override_get_their_own_label_and_others_keep_theirs(tmp_path):
    """`--set der.lr=...` changes what is learned; `--set train.device=cuda` or a protocol key does not.
    The label spells the value as the run resolved it, so one recipe spelled two ways is one label."""
    sweep = _sweep(tmp_path / "sweep", algos=("der",), old_dreamer=False)
    for seed, lr in ((0, "3e-4"), (1, "0.00030")):
        run = sweep / "der" / "Pong" / f"seed_{seed}"
        info = json.loads((run / "run.json").read_text())
        info["spec"]["overrides"] = ["train.device=cuda", f"der.lr={lr}", "train.checkpoint_every=1000000"]
        info["config"] = {"der": {"lr": 0.0003}, "train": {"device": "cuda", "checkpoint_every": 1000000}}
        (run / "run.json").write_text(json.dumps(info))
    data = load_inputs([sweep])
    counts = data.frame[data.frame["step"] == 100000].groupby("algorithm").size().to_dict()
    assert counts == {"DER (ours)": 2, "DER (ours, der.lr=0.0003)": 2}
    info["spec"]["overrides"] = "der.lr=0.0003"
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(UsageError, match="spec.overrides 'der.lr=0.0003' must be a list of KEY=VALUE"):
        load_inputs([run])


def test_which_overrides_change_the_recipe():
    assert not any(map(changes_recipe, ["train.device=cuda", "train.compile=true", "train.cuda_graphs=false",
                                        "env.max_episode_frames=400", "eval.episodes=2", "train.steps=400"]))
    assert all(map(changes_recipe, ["env.num_envs=4", "train.precision=bf16", "der.lr=3e-4", "eval.policy=sample"]))
    config = {"der": {"n_step": 20, "noisy": False, "lr": 1e-05}, "eval": {"num_envs": 4}}
    overrides = ["der.noisy = no", "eval.num_envs=4", "der.n_step=20", "der.lr=1E-5", "model.kl=2"]
    assert recipe_overrides(overrides, config) == ["der.lr=1e-05", "der.n_step=20", "der.noisy=false", "model.kl=2"]
    assert algorithm_label("der", ["atari100k", "epsilon0"], ["der.n_step=20"]) \
        == "DER (ours, epsilon0, der.n_step=20)"


def test_same_recipe_keys_are_config_keys_of_the_agents():
    """analysis/ names them without importing agent/: each must exist in some algorithm's config."""
    from agent.algorithms import ALGORITHMS
    from agent.config import all_keys

    keys = {key for algo in ALGORITHMS for key in all_keys(algo)}
    assert set(SAME_RECIPE_KEYS) <= keys, set(SAME_RECIPE_KEYS) - keys
