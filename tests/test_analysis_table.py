"""`atari100k table`: protocol as data (sidecar, --protocol, run folders, baselines), header marks and
notes for a differing protocol, bold only among same-protocol columns, --runs / --games / --confidence,
number formatting, LaTeX escaping, per-run exports that rebuild the table, output errors."""

import csv
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.baselines import final_baseline_scores, get_baseline
from atari100k.outpaths import check_output_folder
from analysis.protocol import MARK, TABLE_FIELDS, check_fields, parse_protocol_items
from analysis.table_render import num, tex
from atari100k.cli import build_parser, main
from atari100k.errors import UsageError

build_parser()  # see tests/test_analysis_compare.py: build the parser (and its logging setup) outside a test

REPS = ["--reps", "30"]
DER = "DER (Dopamine, Agarwal et al.)"
GAMES = ["--games", "Pong,Breakout,Boxing"]
# The suite's protocol as a CSV sidecar declares it (run folders record the same in run.json).
SUITE = {"budget_steps": 100000, "action_repeat": 4, "sticky_action_prob": 0.0, "noop_max": 30,
         "max_pool_frames": True, "action_set": "minimal", "max_episode_frames": 108000, "evaluation": "final",
         "eval_episodes": 100, "life_loss_ends_episode": False}


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main(["table", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _json(capsys, *args) -> dict:
    code, out, err = _run(capsys, *REPS, *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def _der_csv(path: Path, name: str = "mine", games=("Pong", "Breakout", "Boxing"), runs: int = 5) -> Path:
    """Five of DER's published runs per game, under another name, as a long CSV (no step column)."""
    der = final_baseline_scores(get_baseline("DER"))
    rows = der[der["game"].isin(games) & (der["seed"] < runs)].assign(algorithm=name)
    rows[["algorithm", "game", "seed", "score"]].to_csv(path, index=False)
    return path


def _run_folders(root: Path, sticky: float) -> Path:
    """Finished run folders (DER (ours), 3 games x 2 seeds, 100 eval episodes) with the given sticky actions."""
    protocol = {"budget_steps": 100000, "budget_frames": 400000, "action_repeat": 4, "sticky_action_prob": sticky,
                "noop_max": 30, "max_pool_frames": True, "action_set": "minimal", "max_episode_frames": 108000,
                "eval_episodes": 100, "life_loss_terminal": True, "observation": "84x84 gray",
                "eval_policy": "eps-greedy eps=0.001, noise off"}
    for game, finals in {"Pong": (-20.0, -19.0), "Breakout": (3.0, 30.0), "Boxing": (1.0, 2.0)}.items():
        for seed, final in enumerate(finals):
            folder = root / "der" / game / f"seed_{seed}"
            folder.mkdir(parents=True)
            spec = {"game": game, "seed": seed, "algo": "der", "presets": ["atari100k"], "overrides": []}
            (folder / "run.json").write_text(json.dumps({"spec": spec, "protocol": protocol}))
            rows = ["step,episode,return,length"] + [f"100000,{k},{final},100" for k in range(100)]
            (folder / "eval.csv").write_text("\n".join(rows) + "\n")
            (folder / "DONE").write_text("{}")
    return root


def _bold(line: str) -> list[int]:
    """Indices (0 = first algorithm) of the bold cells of a markdown table row."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")][3:]
    return [i for i, c in enumerate(cells) if c.startswith("**")]


def _rows(text: str) -> dict[str, str]:
    return {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}


# ---------------------------------------------------------------- protocol as data

def test_protocol_fields_parse_and_refuse():
    fields = parse_protocol_items(["sticky_action_prob=0.25", "budget_steps=100,000", "evaluation=training",
                                   "max_pool_frames=yes", "noop_max=30", "action_set=Minimal"])
    assert fields == {"sticky_action_prob": 0.25, "budget_steps": 100000,
                      "evaluation": "training-episode returns", "max_pool_frames": True,
                      "noop_starts": "up to 30 no-op starts", "action_set": "minimal"}
    for bad, said in ((["sticky=0.25"], "unknown protocol field 'sticky'"),
                      (["sticky_action_prob=1.5"], "in [0, 1)"), (["budget_steps=1e9.5"], "integer"),
                      (["max_pool_frames=maybe"], "true or false"), (["action_set=odd"], "minimal or full"),
                      (["nonsense"], "KEY=VALUE")):
        with pytest.raises(UsageError, match=re.escape(said)):
            parse_protocol_items(bad)
    assert check_fields({"eval_episodes": "none (training episodes)"}, "x") == {
        "eval_episodes": "none (training episodes)"}
    assert [key for key, _ in TABLE_FIELDS][-2:] == ["life_loss_ends_episode", "frame_range"]


def test_csv_with_sticky_actions_against_der_is_marked_noted_and_never_bold(capsys, tmp_path):
    path = _der_csv(tmp_path / "mine.csv")
    sticky = [f"--protocol={k}={v}" for k, v in {**SUITE, "sticky_action_prob": 0.25}.items()]
    code, text, err = _run(capsys, *REPS, *GAMES, str(path), "--baselines", "DER,OTRainbow", *sticky)
    assert code == 0, err
    header = text.splitlines()[2]
    assert header.endswith(f"| mine | {DER} {MARK} | OTRainbow {MARK} |")
    rows = _rows(text)
    for line in [rows[g] for g in ("Pong", "Breakout", "Boxing")] + [v for k, v in rows.items() if k.startswith("*")]:
        assert _bold(line) == [], line  # the first column alone shares its own protocol: nothing to bold
    notes = [line for line in text.splitlines() if line.startswith("- Note:")]
    assert any(f"{DER} {MARK}: sticky actions is 0, the first column (mine) has 0.25" in n for n in notes)
    assert any(f"OTRainbow {MARK}: sticky actions is 0" in n for n in notes)
    assert len([n for n in notes if "the first column (mine)" in n]) == 2  # one note per difference
    mine = next(line for line in text.splitlines() if line.startswith("- mine:"))
    assert "sticky actions: 0.25;" in mine and "a lost life ends the scored episode: no;" in mine
    assert "frames the score covers: after 400,000 frames" in mine and "--protocol" in mine

    # The same protocol from a sidecar <file>.protocol.json; --protocol overrides it field by field.
    Path(f"{path}.protocol.json").write_text(json.dumps({**SUITE, "sticky_action_prob": 0.25}))
    data = _json(capsys, *GAMES, str(path), "--baselines", "DER")
    assert [c["protocol_differs"] for c in data["columns"]] == [False, True]
    assert data["protocol"]["differences"][DER][0]["field"] == "sticky_action_prob"
    assert data["protocol"]["fields"]["mine"]["sticky_action_prob"] == 0.25
    assert all(g["bold"] == [] for g in data["games"])
    data = _json(capsys, *GAMES, str(path), "--baselines", "DER", "--protocol", "sticky_action_prob=0")
    assert [c["protocol_differs"] for c in data["columns"]] == [False, False]
    assert all(len(g["bold"]) == 1 for g in data["games"])


def test_run_folders_with_sticky_actions_against_der(capsys, tmp_path):
    sweep = _run_folders(tmp_path / "sticky", sticky=0.25)
    code, text, err = _run(capsys, *REPS, str(sweep), "--baselines", "DER")
    assert code == 0, err
    assert text.splitlines()[2].endswith(f"| DER (ours) | {DER} {MARK} |")
    assert all(_bold(line) == [] for line in _rows(text).values() if not line.startswith("| Game"))
    assert f"{DER} {MARK}: sticky actions is 0, the first column (DER (ours)) has 0.25" in text
    # Without sticky actions, run folders and DER share every recorded field: the better one is bold.
    same = _run_folders(tmp_path / "plain", sticky=0.0)
    data = _json(capsys, str(same), "--baselines", "DER")
    assert data["protocol"]["differences"] == {} and MARK not in json.dumps(data["columns"])
    breakout = next(g for g in data["games"] if g["game"] == "Breakout")
    assert breakout["bold"] == ["DER (ours)"]  # 16.5 against DER's 9.2
    assert data["protocol"]["fields"]["DER (ours)"]["noop_starts"] == "up to 30 no-op starts"


def test_bold_only_among_same_protocol_columns_aggregates_included(capsys):
    # DER first; SPR and OTRainbow agree with it where recorded; Dopamine IQN (training returns, sticky
    # actions, 1M frames) differs and is never bold.
    args = [*REPS, "--baselines", "DER,SPR,OTRainbow,IQN"]
    data = _json(capsys, *args)
    assert [c["protocol_differs"] for c in data["columns"]] == [False, False, False, True]
    code, text, _ = _run(capsys, *args)
    rows = _rows(text)
    order = ["DER (Dopamine, Agarwal et al.)", "SPR", "OTRainbow"]
    for game in data["games"]:
        means = {a: round(game["scores"][a]["mean"], 1) for a in order}
        best = [i for i, a in enumerate(order) if means[a] == max(means.values())]
        assert _bold(rows[game["game"]]) == best, game["game"]
    aggregates = data["aggregates"]
    assert aggregates["SPR"]["iqm"]["value"] > aggregates[DER]["iqm"]["value"]
    assert _bold(rows["*IQM HNS*"]) == [1] and _bold(rows["*Mean HNS*"]) == [1]
    assert _bold(rows["*Optimality gap*"]) == [1]  # lower is better
    iqn = data["columns"][3]["algorithm"]
    assert iqn == "IQN (Dopamine, 0-1M frames)" and f"{iqn} {MARK}" in text.splitlines()[2]
    assert "training returns, ε-greedy decay over iteration 0" in text



DREAMERV2 = "DreamerV2 (Hafner et al., 0-1M frames)"


def test_dreamerv2_published_curve_row_states_its_frames_and_protocol(capsys):
    # DreamerV2's own Atari curves (danijar/dreamerv2@07d906e scores/atari-dreamerv2.json) at a 100k-step
    # budget: the first 1M-frame bin, named with its frames, its protocol marked as different (sticky actions
    # 0.25, full action set, 1M frames), like the Dopamine curves.
    args = [*REPS, "--baselines", "DER,DreamerV2", "--games", "Pong,Breakout"]
    code, text, err = _run(capsys, *args)
    assert code == 0, err
    assert text.splitlines()[2] == f"| Game | Random | Human | {DER} | {DREAMERV2} {MARK} |"
    rows = _rows(text)
    # Bin 0 of seeds 3-10, read by hand from the shipped file (the released JSON's first `ys` of each run):
    # Pong -18.7 -17.7 -18.1 -19.3 -19.3 -18.4 -15.7 -19.0 (mean -18.275, sample std 1.18),
    # Breakout 0.7 1.2 3.2 1.3 1.6 1.1 1.1 1.5 (mean 1.4625, sample std 0.75).
    assert rows["Pong"].endswith("| -18.3 ± 1.2 |") and rows["Breakout"].endswith("| 1.5 ± 0.8 |")
    assert all(_bold(line) == [] for line in rows.values() if not line.startswith("| Game"))
    ref = f"the first column ({DER})"
    for said in (f"{DREAMERV2} {MARK}: sticky actions is 0.25, {ref} has 0",
                 f"{DREAMERV2} {MARK}: action set is full, {ref} has minimal",
                 f"{DREAMERV2} {MARK}: budget (agent steps trained before the scored evaluation) is 250,000",
                 f"{DREAMERV2} {MARK}: frames the score covers is episodes logged at frames (0, 1,000,000] "
                 f"(training or evaluation episodes: not recorded), {ref} has after 400,000 frames",
                 "there is no released DreamerV2 score at 100k steps (400k frames)",
                 f"{DREAMERV2}: a run's score, evaluation episodes per score"):  # not recorded: never guessed
        assert said in text, said
    line = next(line for line in text.splitlines() if line.startswith(f"- {DREAMERV2} {MARK}:"))
    assert "a run's score: not recorded;" in line and "no-op starts: up to 30 no-op starts;" in line
    assert "8 runs/game" in line and "danijar/dreamerv2@07d906e scores/atari-dreamerv2.json" in line

    data = _json(capsys, *args)
    fields = data["protocol"]["fields"][DREAMERV2]
    assert (fields["sticky_action_prob"], fields["action_set"], fields["max_episode_frames"]) == (0.25, "full", 108000)
    assert fields["evaluation"] is None and fields["eval_episodes"] is None  # not recorded
    assert fields["life_loss_ends_episode"] is False
    assert {d["field"] for d in data["protocol"]["differences"][DREAMERV2]} == {
        "budget_steps", "sticky_action_prob", "action_set", "frame_range"}
    assert data["protocol"]["algorithms"][DREAMERV2]["kind"] == "curve"
    pong = next(g for g in data["games"] if g["game"] == "Pong")["scores"][DREAMERV2]
    assert pong["runs"] == 8 and pong["mean"] == pytest.approx(-18.275)
    assert data["aggregates"][DREAMERV2]["runs"] == 8


def test_dreamerv2_curve_at_a_larger_budget_and_runs_that_stop_early(capsys, tmp_path):
    # A CSV scored at 1M agent steps (4M frames): the bin covering frames 3-4M. Breakout's seeds 3, 8 and 10
    # stop after 2M frames: 5 runs there, and the aggregates take the first 5 runs of every game.
    path = tmp_path / "long.csv"
    path.write_text("algorithm,game,seed,step,score\n" + "".join(
        f"mine,{game},{seed},1000000,{score}\n" for game, score in (("Pong", 0.0), ("Breakout", 50.0))
        for seed in range(2)))
    data = _json(capsys, str(path), "--baselines", "DreamerV2", "--protocol", "action_repeat=4")
    label = "DreamerV2 (Hafner et al., 3-4M frames)"
    assert [c["algorithm"] for c in data["columns"]] == ["mine", label]
    scores = {g["game"]: g["scores"][label]["runs"] for g in data["games"]}
    assert scores == {"Breakout": 5, "Pong": 8} and data["aggregates"][label]["runs"] == 5
    frames = data["protocol"]["fields"][label]["frame_range"]
    assert frames.startswith("episodes logged at frames (3,000,000, 4,000,000]")
    assert any(f"{label}: 5-8 runs per game; aggregates use the first 5" in n for n in data["protocol"]["notes"])


def test_dreamerv2_curve_is_refused_by_compare_and_never_merged_with_an_input(capsys, tmp_path):
    path = _der_csv(tmp_path / "mine.csv")
    assert main(["compare", str(path), "--against", "DreamerV2"]) == 2
    err = capsys.readouterr().err
    assert "DreamerV2 is a Hafner et al. learning curve" in err and "not a published Atari 100k result" in err
    # An input named like the baseline would read as it: refused, as for any baseline.
    code, out, err = _run(capsys, *REPS, *GAMES, str(path), "--name", "DreamerV2", "--baselines", "DreamerV2")
    assert code == 2 and out == "" and "rename the input with --name" in err


# ---------------------------------------------------------------- runs, games, confidence

def test_runs_10_gives_spr_paper_median(capsys):
    # Schwarzer et al. 2021 (SPR), Table 1: median HNS 0.415 over its 10 seeds (the first 10 shipped runs).
    data = _json(capsys, "--baselines", "SPR", "--runs", "10", "--reps", "5")
    spr = data["aggregates"]["SPR"]
    assert spr["runs"] == 10 and spr["games"] == 26 and round(spr["median"]["value"], 3) == 0.415
    assert len(data["per_run"]) == 260 and {r["seed"] for r in data["per_run"]} == set(range(10))
    assert any("--runs 10: the first 10 runs per game" in n for n in data["protocol"]["notes"])
    every = _json(capsys, "--baselines", "SPR", "--reps", "5")["aggregates"]["SPR"]
    assert every["runs"] == 100 and round(every["median"]["value"], 3) == 0.396
    # Fewer runs than asked: all are used, and said.
    data = _json(capsys, "--baselines", "IRIS", "--runs", "10", "--games", "Pong")
    assert data["aggregates"]["IRIS"]["runs"] == 5
    assert any("IRIS: fewer than 10 runs on 1 game (" in n for n in data["protocol"]["notes"])


def test_games_subset_and_confidence_level(capsys):
    data = _json(capsys, "--baselines", "DER", "--games", "ALE/Pong-v5,breakout")
    assert [g["game"] for g in data["games"]] == ["Breakout", "Pong"]
    assert data["aggregates"][DER]["games"] == 2 and data["protocol"]["options"]["games"] == ["Pong", "Breakout"]
    wide = data["aggregates"][DER]["iqm"]["ci"]
    narrow = _json(capsys, "--baselines", "DER", "--games", "Pong,Breakout", "--confidence", "0.5")
    assert narrow["protocol"]["bootstrap"]["confidence"] == 0.5
    lo, hi = narrow["aggregates"][DER]["iqm"]["ci"]
    assert wide[0] < lo < hi < wide[1]
    code, text, _ = _run(capsys, *REPS, "--baselines", "DER", "--games", "Pong", "--confidence", "0.9", "--ci")
    assert code == 0 and "with 90% CIs" in text and "mean [90% bootstrap CI of the mean]" in text
    for args, said in ((["--games", "NotAGame"], "unknown game"), (["--confidence", "1.5"], "--confidence"),
                       (["--runs", "0"], "--runs must be >= 1")):
        code, out, err = _run(capsys, "--baselines", "DER", *args)
        assert code == 2 and out == "" and said in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- formatting

def test_numbers_have_thousands_separators_from_1000(capsys):
    assert [num(x) for x in (999.94, 1000.0, 1234.56, -1500.0, 12345.0)] == [
        "999.9", "1,000.0", "1,234.6", "-1,500.0", "12,345.0"]
    code, text, _ = _run(capsys, *REPS, "--baselines", "DER", "--games", "Alien,Krull")
    rows = _rows(text)
    assert rows["Alien"].startswith("| Alien | 227.8 | 7,127.7 | ")
    krull = final_baseline_scores(get_baseline("DER")).query("game == 'Krull'")["score"]
    assert 1_000 < krull.mean() < 10_000  # the old formatting put separators only from 10,000
    assert rows["Krull"] == f"| Krull | 1,598.0 | 2,665.5 | {krull.mean():,.1f} ± {krull.std():.1f} |"


def test_latex_escapes_text():
    assert tex("<Game>") == r"\textless{}Game\textgreater{}"
    assert tex("a_b & 50% #1 $x {y} ~ ^ \\") == (r"a\_b \& 50\% \#1 \$x \{y\} \textasciitilde{} "
                                                r"\textasciicircum{} \textbackslash{}")
    assert tex("IQM >= 1, 3 +- 1, ε 0.001 †") == r"IQM $\geq$ 1, 3 $\pm$ 1, $\varepsilon$ 0.001 \textsuperscript{\dag}"


def test_latex_table_has_no_raw_specials(capsys, tmp_path):
    path = _der_csv(tmp_path / "m.csv", name="my_algo <v2> & 100% #1")
    out = tmp_path / "t.tex"
    code, _, err = _run(capsys, *REPS, *GAMES, str(path), "--baselines", "DER,IQN", "--protocol",
                        "sticky_action_prob=0.25", "--format", "latex", "--out", str(out))
    assert code == 0, err
    tex_text = out.read_text()
    body = tex_text.split(r"\toprule")[1]
    assert "<" not in body and ">" not in body and "ε" not in body and MARK not in body
    assert r"my\_algo \textless{}v2\textgreater{} \& 100\% \#1" in body
    assert r"\textless{}Game\textgreater{}.json" in body  # the sources' <Game> placeholder
    assert r"\textsuperscript{\dag}" in body and r"$\varepsilon$-greedy decay" in body
    rows = [line for line in body.split(r"\bottomrule")[0].splitlines() if line.strip().endswith(r"\\")]
    assert len({len(re.findall(r"(?<!\\)&", line)) for line in rows}) == 1  # every row has the same columns
    for line in body.splitlines():  # no unescaped _ % # anywhere
        assert not re.search(r"(?<!\\)[_%#]", line.replace(r"\\", "")), line


# ---------------------------------------------------------------- exports rebuild the table

def test_csv_export_rebuilds_the_table(capsys, tmp_path):
    mine = _der_csv(tmp_path / "mine.csv")
    Path(f"{mine}.protocol.json").write_text(json.dumps({**SUITE, "sticky_action_prob": 0.25}))
    args = [*REPS, *GAMES, "--runs", "10"]
    export = tmp_path / "table.csv"
    code, _, err = _run(capsys, *args, str(mine), "--baselines", "DER,IQN", "--format", "csv", "--out", str(export))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(export.read_text())))
    runs = [r for r in rows if r["kind"] == "run"]
    assert len(runs) == 3 * (5 + 10 + 5)  # per game: mine 5 runs, DER its first 10, Dopamine IQN 5 seeds
    first = _json(capsys, *args, str(mine), "--baselines", "DER,IQN")
    again = _json(capsys, *args, str(export))  # the export is an input: its runs and its protocol
    assert again["aggregates"] == first["aggregates"]
    assert [g["scores"] for g in again["games"]] == [g["scores"] for g in first["games"]]
    assert again["columns"] == first["columns"] and again["per_run"] == first["per_run"]
    assert again["protocol"]["differences"] == first["protocol"]["differences"]


def test_json_per_run_scores_rebuild_the_table(capsys, tmp_path):
    sweep = _run_folders(tmp_path / "sweep", sticky=0.0)
    first = _json(capsys, str(sweep), "--baselines", "DER", "--runs", "20")
    inputs = []
    for column in first["columns"]:
        name = column["algorithm"]
        path = tmp_path / f"{len(inputs)}.csv"
        pd.DataFrame([r for r in first["per_run"] if r["algorithm"] == name]).drop(columns="hns").to_csv(
            path, index=False)
        fields = {k: v for k, v in first["protocol"]["fields"][name].items() if v is not None}
        Path(f"{path}.protocol.json").write_text(json.dumps(fields))
        inputs.append(str(path))
    again = _json(capsys, *inputs)
    assert again["aggregates"] == first["aggregates"]
    assert [g["scores"] for g in again["games"]] == [g["scores"] for g in first["games"]]
    assert [g["bold"] for g in again["games"]] == [g["bold"] for g in first["games"]]


# ---------------------------------------------------------------- output errors

def test_bad_out_refused_before_any_work(capsys, tmp_path, monkeypatch):
    missing = str(tmp_path / "no_such_input")  # never read: the --out check comes first
    a_file = tmp_path / "a.txt"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    import atari100k.outpaths

    real_access = atari100k.outpaths.os.access
    monkeypatch.setattr(atari100k.outpaths.os, "access",
                        lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    cases = [(str(tmp_path), "is a folder"), (str(tmp_path) + "/new/", "is a folder"),
             (str(a_file / "t.md"), "is a file, not a folder"), (str(locked / "t.md"), "not writable")]
    for out, said in cases:
        code, stdout, err = _run(capsys, missing, "--out", out)
        assert code == 2 and stdout == "" and len(err.strip().splitlines()) == 1, err
        assert said in err and "--out" in err and "no_such_input" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "locked"] and not any(locked.iterdir())
    assert a_file.read_text() == "x"
    # A folder expected, a file given (for verbs that write folders).
    with pytest.raises(UsageError, match="is a file; give a folder"):
        check_output_folder(a_file, "--out")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_output_folder(a_file / "figs", "--out")
    with pytest.raises(UsageError, match="empty path"):  # Path("") would be the working folder
        check_output_folder("", "--out")


def test_an_out_that_is_a_device_or_pipe_is_refused_and_left_as_it_is(capsys, tmp_path):
    """`--out /dev/null` (or /dev/stdout, a FIFO) passed the folder checks, and the atomic rename then
    replaced the device with a text file, for everyone on the machine."""
    import os
    import stat

    from atari100k.fileio import atomic_write_text

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link.md"
    link.symlink_to(fifo)
    for out in (fifo, link):
        code, stdout, err = _run(capsys, str(tmp_path / "no_such_input"), "--out", str(out))
        assert code == 2 and "is not a regular file" in err and len(err.strip().splitlines()) == 1, err
        with pytest.raises(OSError, match="not a regular file"):
            atomic_write_text(out, "table")  # the last guard, for writers that skip the check
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink()
    # A symlink to a regular file is written through: its target changes, the link stays a link.
    target = tmp_path / "real.md"
    target.write_text("old")
    (tmp_path / "to_real.md").symlink_to(target)
    atomic_write_text(tmp_path / "to_real.md", "new")
    assert target.read_text() == "new" and (tmp_path / "to_real.md").is_symlink()
    # A link into a place that cannot be written: the write fails there, and is still one line.
    (tmp_path / "to_proc.md").symlink_to("/proc/atari100k-no-such-file.md")
    sweep = _run_folders(tmp_path / "sweep", sticky=0.0)
    code, stdout, err = _run(capsys, str(sweep), "--out", str(tmp_path / "to_proc.md"))
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1, err


def test_one_run_has_no_ci_and_fewer_games_are_never_bold(capsys, tmp_path):
    import shutil

    sweep = _run_folders(tmp_path / "sweep", sticky=0.0)
    for folder in sweep.glob("der/*/seed_0"):  # seed 0 (the lower scores) becomes IQN (ours), on every game
        run = json.loads((folder / "run.json").read_text())
        run["spec"].update(algo="iqn")
        target = sweep / "iqn" / folder.parent.name / "seed_0"
        shutil.move(folder, target)
        (target / "run.json").write_text(json.dumps(run))
    shutil.rmtree(sweep / "der" / "Boxing")  # DER (ours): one run per game, on Pong and Breakout only
    data = _json(capsys, str(sweep), "--baselines", "DER", "--allow-partial", "--ci")
    ours = data["aggregates"]["DER (ours)"]
    assert ours["runs"] == 1 and ours["games"] == 2 and all(ours[m]["ci"] is None for m in ("iqm", "mean"))
    assert data["aggregates"][DER]["iqm"]["ci"] is not None
    assert all("ci" not in g["scores"]["DER (ours)"] for g in data["games"] if "DER (ours)" in g["scores"])
    assert any("DER (ours): one run per game" in n and "no CI" in n for n in data["protocol"]["notes"])
    code, out, err = _run(capsys, *REPS, str(sweep), "--baselines", "DER", "--allow-partial")
    assert code == 0, err
    iqm = next(line for line in out.splitlines() if line.startswith("| *IQM HNS*"))
    cells = [c.strip() for c in iqm.strip().strip("|").split("|")][3:]  # DER (ours), IQN (ours), DER
    assert cells[0].endswith("(no CI: 1 run; 2 of 3 games)") and "[" not in cells[0]
    assert cells[1].strip("*").endswith("(no CI: 1 run)")
    assert "; 1 run/game (1 in aggregates)" in out and "1 runs" not in out
    # DER (ours) has the best IQM (its 2 games are the easy ones), yet only whole-table columns compete.
    values = [float(c.strip("*").split()[0]) for c in cells]
    assert values[0] == max(values) and 0 not in _bold(iqm)
    assert _bold(iqm) == [values.index(max(values[1:]))]


def test_outputs_never_overwrite_what_is_read(capsys, tmp_path):
    """table/compare/plot refuse an output that is an input, its sidecar or inside a run folder."""
    csv = _der_csv(tmp_path / "m.csv")
    sweep = _run_folders(tmp_path / "sweep", sticky=0.0)
    run = sweep / "der" / "Pong" / "seed_0"
    before = {p: p.read_bytes() for p in [csv, *run.iterdir()]}
    cases = [(["table", str(csv), "--out", str(csv)], "is one of the inputs"),
             (["table", str(csv), "--out", f"{csv}.protocol.json"], "is one of the inputs"),
             (["table", str(sweep), "--out", str(run / "eval.csv")], "lies inside the run folder"),
             (["compare", str(sweep), "--against", "DER", "--out", str(run / "table.md")], "lies inside the run folder"),
             (["compare", str(sweep), "--against", str(csv), "--out", str(csv)], "is one of the inputs"),
             (["compare", str(sweep), "--against", "DER", "--figure", str(run / "f.png")], "lies inside the run folder"),
             (["plot", str(sweep), "--out", str(run / "figures")], "lies inside the run folder"),
             (["plot", str(sweep), "--out", str(csv)], "is a file; give a folder")]
    for args, said in cases:
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2 and said in err and len(err.strip().splitlines()) == 1, (args, err)
    assert {p: p.read_bytes() for p in [csv, *run.iterdir()]} == before  # nothing touched, nothing added
    # Writing into the sweep folder itself (beside its run folders) is fine.
    assert main(["table", *REPS, str(sweep), "--out", str(sweep / "table.md")]) == 0
    assert "DER (ours)" in (sweep / "table.md").read_text()


def test_a_write_that_fails_is_one_line(capsys, tmp_path, monkeypatch):
    import atari100k.fileio

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atari100k.fileio, "atomic_write_text", refuse)
    csv = _der_csv(tmp_path / "m.csv")
    code, out, err = _run(capsys, *REPS, str(csv), "--out", str(tmp_path / "t.md"))
    assert code == 2 and err.strip() == (f"atari100k table: error: --out {tmp_path / 't.md'}: cannot write: "
                                         f"No space left on device")


def test_protocol_flag_errors(capsys, tmp_path):
    path = _der_csv(tmp_path / "m.csv")
    sweep = _run_folders(tmp_path / "sweep", sticky=0.0)
    Path(f"{tmp_path / 'bad.csv'}.protocol.json").write_text("[1, 2]")
    (tmp_path / "bad.csv").write_text(path.read_text())
    for args, said in (([str(path), "--protocol", "stiky=0"], "unknown protocol field 'stiky'"),
                       ([str(sweep), "--protocol", "sticky_action_prob=0.25"], "run folders record their protocol"),
                       ([str(tmp_path / "bad.csv")], "must be a JSON object")):
        code, out, err = _run(capsys, *args)
        assert code == 2 and out == "" and said in err and len(err.strip().splitlines()) == 1, err


def test_bbf_table_says_why_its_median_differs_from_the_paper(capsys):
    data = _json(capsys, "--baselines", "BBF", "--reps", "5")
    bbf = data["aggregates"]["BBF"]
    assert bbf["runs"] == 52 and round(bbf["median"]["value"], 3) == 0.879 and round(bbf["mean"]["value"], 3) == 2.236
    note = next(n for n in data["protocol"]["notes"] if n.startswith("BBF: the released per-run scores"))
    assert "0.917 / 2.245" in note and "BankHeist" in note and "SOURCES.md" in note


def test_the_heading_says_atari_100k_only_for_runs_of_that_budget(capsys, tmp_path):
    import shutil

    sweep = Path(__file__).parent / "fixtures" / "analysis" / "sweep_demo"  # 100k-step runs
    assert main(["table", str(sweep), *REPS]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("**Atari 100k scores over 2 games:")
    # The same runs as if trained for 600 steps (the debug preset's budget).
    short = tmp_path / "short"
    shutil.copytree(sweep, short)
    for run_json in short.rglob("run.json"):
        info = json.loads(run_json.read_text())
        info["budget_steps"] = info["protocol"]["budget_steps"] = 600
        run_json.write_text(json.dumps(info))
        eval_csv = run_json.parent / "eval.csv"
        eval_csv.write_text(eval_csv.read_text().replace("100000,", "600,").replace("50000,", "300,"))
        (run_json.parent / "DONE").write_text(json.dumps({"step": 600, "frames": 2400, "eval_episodes": 3}))
    assert main(["table", str(short), "--baselines", "DER", *REPS]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("**Scores after 600 agent steps (not the Atari 100k budget of 100,000) over 2 games:")
    assert main(["table", "--baselines", "DER,SPR", "--games", "Pong", *REPS]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("**Atari 100k scores over 1 game:")


def test_output_guards_by_hand(tmp_path, monkeypatch):
    from analysis.output import check_not_an_input, writing

    monkeypatch.chdir(tmp_path)
    check_not_an_input("DER", ["results", "DER"], "--out")  # a baseline name (no such path) is no input
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(UsageError, match="cannot resolve"):
        check_not_an_input(loop / "t.md", [], "--out")
    out = tmp_path / "figs" / "t.md"
    for about_the_output in (out, out.parent, tmp_path / "figs" / ".t.md.tmp123", None):
        with pytest.raises(UsageError, match="--out .*: cannot write: Disk full"):
            with writing(out, "--out"):
                raise OSError(28, "Disk full", None if about_the_output is None else str(about_the_output))
    with pytest.raises(OSError):  # another file (an input, a font cache): not the output's fault
        with writing(out, "--out"):
            raise OSError(2, "No such file", str(tmp_path / "inputs" / "eval.csv"))
