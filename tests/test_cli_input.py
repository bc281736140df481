"""Friendlier input: budgets in any common form, "did you mean", a quiet closed pipe, a useful --help."""

from __future__ import annotations

import os
import re
import sys

import pytest

from atari100k import cli

from atari100k.suggest import did_you_mean, parse_budget
from tests.test_train_helpers import run_cli


@pytest.mark.parametrize("text", ["100000", "100_000", "1e5", "100k", "100K", "0.1M", "100,000"])
def test_budget_forms_parse_to_the_same_number(text: str) -> None:
    assert parse_budget(text) == 100_000


@pytest.mark.parametrize("text", ["1x", "0", "-5", "1.5", "k", "1e-3", ""])
def test_bad_budgets_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_budget(text)


def test_did_you_mean() -> None:
    assert did_you_mean("breakot", ["Pong", "Breakout"]) == "; did you mean 'Breakout'?"
    assert did_you_mean("zzz", ["Pong", "Breakout"]) == ""


@pytest.mark.parametrize("args, line", [
    (["tabel"], "atari100k: error: argument VERB: invalid choice: 'tabel' (choose from 'train', 'bench', 'sweep', "
     "'status', 'cancel', 'prune', 'table', 'plot', 'compare', 'baselines', 'demo'); did you mean 'table'? "
     "(see `atari100k --help`)"),
    (["train", "Breakot", "--seed", "0"], "atari100k train: error: unknown game 'Breakot'; did you mean 'Breakout'? "
     "(canonical names such as 'MsPacman'; `atari100k baselines --games` lists them)"),
    (["train", "Pong", "--seed", "0", "--preset", "atari100"],
     "atari100k train: error: unknown preset 'atari100' for --algo dreamerv2; choose from: paper, atari100k, debug; "
     "did you mean 'atari100k'?"),
    (["train", "Pong", "--seed", "0", "--algo", "dreamer"],
     "atari100k train: error: unknown algorithm 'dreamer'; choose from: dreamerv2, der, iqn; did you mean 'dreamerv2'?"),
    (["train", "Pong", "--seed", "0", "--algo", "der", "--set", "der.nstep=3"],
     "atari100k train: error: unknown config key 'der.nstep' for --algo der; did you mean 'der.n_step'? (der has: "),
    (["table", "--baselines", "DER,Rainbo"],
     "atari100k table: error: unknown baseline 'Rainbo'; did you mean 'Rainbow'?; choose from: DER, OTRainbow"),
    (["train", "Pong", "--seed", "0", "--steps", "1x"],
     "atari100k train: error: argument --steps: '1x' is not a budget in agent steps from 1 to 2,147,483,647; write e.g. "
     "100000, 1e5 or 100k "
     "(see `atari100k train --help`)"),
])
def test_input_mistakes_get_one_line_with_a_suggestion(args: list[str], line: str, tmp_path) -> None:
    done = run_cli([*args, "--out", str(tmp_path / "x")] if args[0] == "train" else args)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(line) and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "x").exists()


def test_a_closed_pipe_exits_quietly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`atari100k baselines --games | head -1`: the reader is gone before the first line is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # writing now fails with EPIPE (Python ignores SIGPIPE)
    with capsys.disabled():
        stdout = open(write_end, "w", buffering=1)  # line-buffered: print flushes, and fails, at once
        monkeypatch.setattr(sys, "stdout", stdout)
        assert cli.main(["baselines", "--games"]) == 0
        monkeypatch.undo()
        stdout.close()  # the fd now points at /dev/null: closing flushes nothing that fails


def test_top_level_help_shows_the_everyday_commands() -> None:
    done = run_cli(["--help"])
    assert done.returncode == 0
    for command in ("atari100k train Pong --seed 0", "atari100k sweep", "atari100k status", "atari100k table",
                    "atari100k compare"):
        assert command in done.stdout


def test_progress_bar_says_the_phase_updates_per_second_and_evaluation(tmp_path):
    result = run_cli(["train", "Pong", "--seed", "0", "--preset", "debug", "--steps", "400", "--out",
                      str(tmp_path / "run"), "--set", "env.max_episode_frames=400", "--set", "eval.episodes=2",
                      "--set", "train.pretrain=20"])
    assert result.returncode == 0, result.stderr
    frames = result.stderr.replace("\r", "\n")
    # Each phase as "phase]" or "phase, N updates/s]": a phase shorter than a second (a fast machine)
    # shows no rate; test_status_line_* in test_train.py checks the rate's text with a fake clock.
    for phase in ("prefill", r"pretrain \(20 updates\)", "train"):
        assert re.search(rf"[\[ ]{phase}(, [\d.]+ updates/s)?\]", frames), phase
    assert "eval at step 400:" in frames and "episode" in frames
    # The bars are on stderr only; stdout holds the summary line.
    assert "prefill" not in result.stdout
