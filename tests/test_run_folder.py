"""Run-folder compatibility when the code gained a config key after the run was started."""

from __future__ import annotations

import json

import pytest

from agent.run_folder import RUN_JSON, RunFolder
from agent.spec import RunSpec
from atari100k.errors import UsageError


def _started_folder(tmp_path, spec: RunSpec, drop: str) -> RunFolder:
    """A run folder whose run.json lacks `drop` (section.key), as if written by older code."""
    folder = RunFolder(tmp_path / "run")
    folder.start(spec, spec.config(), resumed_from_step=None)
    path = folder.file(RUN_JSON)
    data = json.loads(path.read_text())
    section, key = drop.split(".")
    del data["config"][section][key]
    path.write_text(json.dumps(data))
    return folder


def test_a_key_added_later_matches_its_default(tmp_path):
    spec = RunSpec(game="Breakout", seed=0, presets=("debug",), algo="der")
    folder = _started_folder(tmp_path, spec, "der.lr")
    folder.check_compatible(spec, spec.config())  # the default: the same run


def test_a_key_added_later_refuses_another_value(tmp_path):
    spec = RunSpec(game="Breakout", seed=0, presets=("debug",), algo="der")
    folder = _started_folder(tmp_path, spec, "der.lr")
    other = RunSpec(game="Breakout", seed=0, presets=("debug",), overrides=("der.lr=0.001",), algo="der")
    with pytest.raises(UsageError, match="was made with der.lr=<unset>, this command asks 0.001"):
        folder.check_compatible(other, other.config())


def test_a_launch_key_may_differ_on_resume_and_the_resume_records_it(tmp_path):
    # How the same update is launched (a CUDA graph, torch.compile) is not part of the run: a
    # DreamerV2 run started before train.cuda_graphs turned on by default resumes under it.
    spec = RunSpec(game="Breakout", seed=0, presets=("debug",), overrides=("train.cuda_graphs=false",))
    folder = RunFolder(tmp_path / "run")
    folder.start(spec, spec.config(), resumed_from_step=None)
    now = RunSpec(game="Breakout", seed=0, presets=("debug",), overrides=("train.compile=true",))
    folder.check_compatible(now, now.config())
    folder.start(now, now.config(), resumed_from_step=100)
    folder.start(spec, spec.config(), resumed_from_step=200)
    resumes = json.loads(folder.file(RUN_JSON).read_text())["resumes"]
    assert resumes[0]["launch"] == {"train.cuda_graphs": True, "train.compile": True}
    assert "launch" not in resumes[1]  # the run's own settings again


def test_a_launch_key_does_not_excuse_another_change(tmp_path):
    spec = RunSpec(game="Breakout", seed=0, presets=("debug",), overrides=("train.cuda_graphs=false",))
    folder = RunFolder(tmp_path / "run")
    folder.start(spec, spec.config(), resumed_from_step=None)
    other = RunSpec(game="Breakout", seed=0, presets=("debug",), overrides=("train.batch_size=8",))
    with pytest.raises(UsageError, match="was made with train.batch_size=.*, this command asks 8"):
        folder.check_compatible(other, other.config())


# ------------------------------------------------------------------ folders that are not (intact) run folders
def test_a_folder_with_the_agents_files_but_no_run_json_is_refused_and_kept(tmp_path):
    """Someone else's logs (or a half-copied run) in --out: training would have rewritten them."""
    from agent.train import train_run

    out = tmp_path / "other"
    out.mkdir()
    (out / "metrics.jsonl").write_text("theirs\n")
    (out / "notes.txt").write_text("mine\n")
    spec = RunSpec.make("Pong", 0, ["debug"])
    with pytest.raises(UsageError, match="holds metrics.jsonl but no run.json: not a run folder"):
        train_run(spec, out)
    assert (out / "metrics.jsonl").read_text() == "theirs\n" and sorted(p.name for p in out.iterdir()) == [
        "metrics.jsonl", "notes.txt"]
    (out / "metrics.jsonl").unlink()
    RunFolder(out).check_compatible(spec, spec.config())  # other files alone are no run: the folder is usable


@pytest.mark.parametrize("content, message", [
    ("{garb", "run.json cannot be read"),
    ("{}", "is not an atari100k run.json"),
    ("[1, 2]", "is not an atari100k run.json"),
    ('{"spec": {"game": "Pong"}, "config": {}}', "is not an atari100k run.json"),
])
def test_a_damaged_run_json_is_one_line(tmp_path, content, message):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / RUN_JSON).write_text(content)
    spec = RunSpec.make("Pong", 0, ["debug"])
    with pytest.raises(UsageError, match=message):
        RunFolder(tmp_path / "run").check_compatible(spec, spec.config())


def test_a_finished_run_with_a_damaged_done_is_never_retrained(tmp_path):
    from agent.train import train_run

    spec = RunSpec.make("Pong", 0, ["debug"])
    folder = RunFolder(tmp_path / "run")
    folder.start(spec, spec.config(), resumed_from_step=None)
    folder.file("DONE").write_text("{torn")
    with pytest.raises(UsageError, match="the run is finished but its summary cannot be read"):
        train_run(spec, folder.path)
    assert folder.file("DONE").read_text() == "{torn" and not folder.has_checkpoint()


def test_an_out_that_cannot_be_a_folder_is_one_line(tmp_path):
    from agent.train import train_run

    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="cannot create or write this folder"):
        train_run(RunSpec.make("Pong", 0, ["debug"]), tmp_path / "afile" / "run")
