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
