"""Loading, the table and plot verbs end to end through atari100k.cli.main, and bad input."""

import csv
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis.scores import final_scores, load_inputs
from atari100k.cli import main

SWEEP = Path(__file__).parent / "fixtures" / "analysis" / "sweep_demo"
REPS = ["--reps", "30"]


def _sweep_as_csv(path: Path, game_names=None) -> Path:
    """The fixture sweep written as a long CSV of mean eval returns, by hand."""
    rows = []
    for run in sorted(SWEEP.glob("*/seed_*")):
        evals = pd.read_csv(run / "eval.csv")
        for step, group in evals.groupby("step"):
            game = (game_names or {}).get(run.parent.name, run.parent.name)
            rows.append({"algorithm": "DreamerV2 (ours)", "game": game, "seed": int(run.name.split("_")[1]),
                         "step": step, "score": group["return"].mean()})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _frame(paths):
    f = load_inputs(paths).frame
    return f.sort_values(["game", "seed", "step"]).reset_index(drop=True)


def test_run_folders_and_csv_give_the_same_frame_and_aliases_resolve(tmp_path):
    aliases = {"Pong": "ALE/Pong-v5", "Breakout": "BreakoutNoFrameskip-v4"}
    from_csv = _frame([_sweep_as_csv(tmp_path / "s.csv", aliases)])
    from_runs = _frame([SWEEP])
    pd.testing.assert_frame_equal(from_runs, from_csv, check_dtype=False)
    assert set(from_runs["game"]) == {"Pong", "Breakout"}
    assert len(from_runs) == 8  # 2 games x 2 seeds x 2 eval steps
    # Pong seed 0 at step 100000: returns -14, -13, -10 -> mean -37/3.
    row = from_runs.query("game == 'Pong' and seed == 0 and step == 100000")
    assert row["score"].item() == pytest.approx(-37 / 3)
    data = load_inputs([SWEEP / "Pong" / "seed_0"])
    assert data.protocols["DreamerV2 (ours)"]["eval_episodes_found"] == 3


def test_ms_pacman_aliases(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("algorithm,game,seed,score\nx,ms_pacman,0,1\nx,MsPacmanNoFrameskip-v4,1,2\nx,ALE/MsPacman-v5,2,3\n")
    frame = load_inputs([path]).frame
    assert set(frame["game"]) == {"MsPacman"} and frame["step"].isna().all()


def test_unfinished_run_left_out_unless_allow_partial(tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(SWEEP, sweep)
    (sweep / "Pong" / "seed_1" / "DONE").unlink()
    with open(sweep / "Pong" / "seed_1" / "eval.csv", "a") as handle:
        handle.write("100000,3,-1")  # a partial line left by a crash: ignored
    data = load_inputs([sweep])
    notes = []
    final = final_scores(data.frame, notes=notes)
    assert len(final) == 3 and "left out" in notes[0] and "Pong/seed_1" in notes[0]
    assert len(final_scores(data.frame, allow_partial=True)) == 4


def _table(capsys, *args):
    code = main(["table", *REPS, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_table_formats_parse(capsys, tmp_path):
    code, text, _ = _table(capsys, str(SWEEP), "--baselines", "DER,OTRainbow", "--format", "json")
    assert code == 0
    data = json.loads(text)
    ours = data["aggregates"]["DreamerV2 (ours)"]
    assert ours["runs"] == 2 and ours["games"] == 2
    lo, hi = ours["iqm"]["ci"]
    assert lo <= ours["iqm"]["value"] <= hi
    # Mean HNS by hand from the fixture's step-100000 eval returns.
    expected = {}
    for run in sorted(SWEEP.glob("*/seed_*")):
        e = pd.read_csv(run / "eval.csv").query("step == 100000")["return"].mean()
        lo_hi = {"Pong": (-20.7, 14.6), "Breakout": (1.7, 30.5)}[run.parent.name]
        expected[str(run)] = (e - lo_hi[0]) / (lo_hi[1] - lo_hi[0])
    assert ours["mean"]["value"] == pytest.approx(sum(expected.values()) / 4)
    assert [g["game"] for g in data["games"]] == ["Breakout", "Pong"]
    assert data["protocol"]["bootstrap"]["reps"] == 30

    code, text, _ = _table(capsys, str(SWEEP), "--baselines", "DER", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    kinds = {r["kind"] for r in rows}
    assert code == 0 and kinds == {"game", "aggregate_hns", "run", "protocol", "column", "setting", "note"}
    assert any(r["name"] == "iqm" and r["algorithm"] == "DER (Dopamine, Agarwal et al.)" for r in rows)
    assert sum(r["kind"] == "run" and r["algorithm"] == "DreamerV2 (ours)" for r in rows) == 4

    code, text, _ = _table(capsys, str(SWEEP), "--baselines", "DER", "--format", "markdown")
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert code == 0 and len({line.count("|") for line in lines}) == 1
    # The fixture averages 3 evaluation episodes, DER 100: DER's protocol differs, so nothing is bold.
    assert "over 2 games" in text and "**" not in "".join(lines[2:])
    assert lines[0].endswith("| DER (Dopamine, Agarwal et al.) † |")
    assert "sticky actions: 0;" in text and "30 reps" in text
    assert "evaluation episodes per score is 100, the first column (DreamerV2 (ours)) has 3" in text

    out = tmp_path / "t.tex"
    assert main(["table", *REPS, str(SWEEP), "--baselines", "IQN", "--format", "latex", "--out", str(out)]) == 0
    tex = out.read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    body = tex.split(r"\toprule")[1].split(r"\bottomrule")[0]
    assert len({line.count("&") for line in body.splitlines() if line.strip().endswith(r"\\")}) == 1
    assert "no published IQN" in tex


def test_missing_seed_refused_and_listed(capsys, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("algorithm,game,seed,score\nx,Pong,0,1\nx,Pong,1,2\nx,Breakout,0,3\n")
    code, out, err = _table(capsys, str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "(Breakout, seed 1)" in err
    code, out, _ = _table(capsys, str(path), "--allow-partial")
    assert code == 0 and "missing" in out


@pytest.mark.parametrize("content, args, needle", [
    ("algorithm,game,seed,score\nx,Pong,-1,3\n", [], "seed must be >= 0"),
    ("algorithm,game,seed,score\nx,Pong,0,abc\n", [], "score must be"),
    ("algorithm,game,seed\nx,Pong,0\n", [], "missing column"),
    ("algorithm,game,seed,score\nx,NotAGame,0,1\n", [], "unknown game 'NotAGame'"),
    ("", [], "not a readable CSV"),
    (None, [], "no inputs"),
    (None, ["--baselines", "Nope"], "unknown baseline"),
])
def test_bad_input_one_line_exit_2(capsys, tmp_path, content, args, needle):
    inputs = []
    if content is not None:
        (tmp_path / "bad.csv").write_text(content)
        inputs = [str(tmp_path / "bad.csv")]
    out = tmp_path / "out.md"
    code = main(["table", *inputs, *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_plot_writes_every_figure(capsys, tmp_path):
    out = tmp_path / "figs"
    assert main(["plot", *REPS, str(SWEEP), "--baselines", "DER,OTRainbow", "--out", str(out)]) == 0
    names = {"aggregates", "performance_profiles", "probability_of_improvement", "sample_efficiency",
             "learning_curves"}
    for name in names:
        for ext in ("png", "pdf"):
            assert (out / f"{name}.{ext}").stat().st_size > 1000
    assert "Protocol" in (out / "figures.txt").read_text()


def test_baselines_verb(capsys):
    assert main(["baselines", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"DER", "OTRainbow", "IQN", "Rainbow", "BBF", "DreamerV3"} <= {r["key"] for r in rows}
    assert main(["table", *REPS, "--baselines", "IRIS", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert round(data["aggregates"]["IRIS"]["mean"]["value"], 3) == 1.046
