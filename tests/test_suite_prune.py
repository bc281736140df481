"""`atari100k prune`: the checkpoints of finished runs go, everything else stays."""

from __future__ import annotations

import json
from pathlib import Path

from atari100k.cli import main
from atari100k.locking import exclusive_lock


def _run(folder: Path, done: bool, checkpoint_bytes: int = 1000, tmp: bool = False) -> Path:
    """A run folder as the agent leaves it: run.json, a log, a checkpoint (and DONE when finished)."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"spec": {"game": "Pong", "seed": 0}, "config": {"env": {}}}))
    (folder / "metrics.jsonl").write_text('{"step": 100}\n')
    (folder / "checkpoint.pt").write_bytes(b"x" * checkpoint_bytes)
    (folder / "tensorboard").mkdir()
    (folder / "tensorboard" / "run.json").write_text("{}")  # not a run folder of its own
    if tmp:
        (folder / ".checkpoint.pt.k2j3.tmp").write_bytes(b"y" * 500)  # a write killed midway
    if done:
        (folder / "DONE").write_text(json.dumps({"step": 100}))
    return folder


def _sweep(root: Path) -> dict[str, Path]:
    return {
        "finished": _run(root / "dreamerv2" / "Pong" / "seed_0", done=True, tmp=True),
        "unfinished": _run(root / "dreamerv2" / "Pong" / "seed_1", done=False, tmp=True),
        "other": _run(root / "der" / "Breakout" / "seed_0", done=True, checkpoint_bytes=3000),
    }


def test_prune_deletes_only_finished_runs_checkpoints(tmp_path, capsys):
    runs = _sweep(tmp_path / "sweep")
    assert main(["prune", str(tmp_path / "sweep")]) == 0
    out = capsys.readouterr().out
    assert "the checkpoints of 2 finished runs of 3" in out and "1 unfinished" in out
    for name in ("finished", "other"):
        assert sorted(p.name for p in runs[name].iterdir()) == ["DONE", "metrics.jsonl", "run.json", "tensorboard"]
    unfinished = sorted(p.name for p in runs["unfinished"].iterdir())
    assert ".checkpoint.pt.k2j3.tmp" in unfinished and "checkpoint.pt" in unfinished
    assert (runs["finished"] / "tensorboard" / "run.json").exists()


def test_a_dry_run_deletes_nothing_and_counts_the_bytes(tmp_path, capsys):
    runs = _sweep(tmp_path / "sweep")
    assert main(["prune", "--dry-run", str(runs["finished"]), str(runs["other"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would free 0.00 GB: the checkpoints of 2 finished runs of 2")
    assert (runs["finished"] / "checkpoint.pt").exists() and (runs["other"] / "checkpoint.pt").exists()

    from suite.prune import prune
    assert prune([tmp_path / "sweep"], dry_run=True).freed_bytes == 1000 + 500 + 3000


def test_a_finished_run_whose_trainer_holds_the_folder_is_left_alone(tmp_path, capsys):
    runs = _sweep(tmp_path / "sweep")
    with exclusive_lock(runs["finished"] / ".train.lock", 0.0, str):
        assert main(["prune", str(tmp_path / "sweep")]) == 0
    assert "1 still held by their trainer" in capsys.readouterr().out
    assert (runs["finished"] / "checkpoint.pt").exists()
    assert not (runs["other"] / "checkpoint.pt").exists()


def test_bad_folders_are_one_line_and_exit_2(tmp_path, capsys):
    _sweep(tmp_path / "sweep")
    (tmp_path / "empty").mkdir()
    for argv, says in ((["prune", str(tmp_path / "nope")], "is not a folder"),
                       (["prune", str(tmp_path / "empty")], "no run folders")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1
    # a bad folder among good ones deletes nothing: every folder is checked first
    for bad in ("nope", "empty"):
        assert main(["prune", str(tmp_path / "sweep"), str(tmp_path / bad)]) == 2
        assert (tmp_path / "sweep" / "der" / "Breakout" / "seed_0" / "checkpoint.pt").exists()


def test_another_tools_run_json_is_not_a_run_folder(tmp_path, capsys):
    runs = _sweep(tmp_path / "sweep")
    foreign = tmp_path / "sweep" / "other-tool"
    foreign.mkdir()
    (foreign / "run.json").write_text('{"name": "not ours"}')
    (foreign / "DONE").write_text("")
    (foreign / "checkpoint.pt").write_bytes(b"z")
    assert main(["prune", str(tmp_path / "sweep")]) == 0
    assert (foreign / "checkpoint.pt").exists() and not (runs["other"] / "checkpoint.pt").exists()
    assert main(["prune", str(foreign)]) == 2
    assert "no run folders" in capsys.readouterr().err


def test_a_file_that_cannot_be_deleted_is_one_line_and_exit_2_and_the_rest_still_go(tmp_path, capsys, monkeypatch):
    runs = _sweep(tmp_path / "sweep")
    unlink = Path.unlink

    def refuse_one(path: Path, missing_ok: bool = False) -> None:
        if path.parent == runs["finished"].resolve() and path.name == "checkpoint.pt":
            raise PermissionError(13, "Permission denied", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse_one)
    assert main(["prune", str(tmp_path / "sweep")]) == 2
    err = capsys.readouterr().err
    assert "cannot delete in" in err and "Permission denied" in err and len(err.strip().splitlines()) == 1
    assert (runs["finished"] / "checkpoint.pt").exists() and not (runs["other"] / "checkpoint.pt").exists()
