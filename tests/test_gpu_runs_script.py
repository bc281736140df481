"""benchmarks/gpu/runs.sh, the script a GPU lease's full-budget runs go through, run here on the CPU
with the tiny debug size: a lease is too short to find its bugs there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPEC = "der/Breakout/0"


def gpu_script(name: str, args: list[str], env: dict[str, str], timeout: float) -> str:
    """stdout of `bash benchmarks/gpu/NAME ARGS` with this venv's python as python3, no wheels; asserts rc 0."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "WHEELS": "/nonexistent", **env}
    done = subprocess.run(["bash", f"benchmarks/gpu/{name}", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def runs_sh(tmp_path: Path, seconds: int) -> str:
    env = {"RUNS": str(tmp_path / "runs"), "SRC": str(tmp_path / "src"), "PRESETS": "atari100k,debug",
           "RESERVE": "0", "SET": "train.steps=50 train.log_every=25 eval.episodes=1 eval.num_envs=1"}
    return gpu_script("runs.sh", [str(tmp_path / "out"), str(seconds), SPEC], env, seconds + 120)


def test_a_detached_run_finishes_its_logs_come_back_and_it_is_never_started_twice(tmp_path):
    first = runs_sh(tmp_path, 400)
    assert f"-- {SPEC}: started" in first and f"-- {SPEC}: done at step 50" in first, first
    kept = tmp_path / "out" / "der" / "Breakout" / "seed_0"
    assert json.loads((kept / "DONE").read_text())["step"] == 50
    assert json.loads((kept / "run.json").read_text())["spec"]["algo"] == "der"
    assert sorted(p.name for p in kept.iterdir()) == sorted(
        ["DONE", "run.json", "metrics.jsonl", "episodes.csv", "eval.csv", "train.log"])  # no checkpoint, no replay
    assert (tmp_path / "runs" / "der" / "Breakout" / "seed_0" / "checkpoint.pt").exists()  # it stays behind
    # The same call again: the finished run is reported, not started again.
    again = runs_sh(tmp_path, 30)
    assert "started" not in again and f"-- {SPEC}: done at step 50" in again, again


def test_session_sh_with_every_step_off_and_no_games_returns(tmp_path):
    """`lease.sh` calls session.sh with no IQN games: it must return (a bare `wait` once hung on its log's tee)."""
    out = gpu_script("session.sh", [str(tmp_path / "out"), "60", ""], {"CHECK": "0", "BENCH": "0", "DREAMER": "0"}, 120)
    assert "== IQN on  for at most" in out and "== done in" in out
    assert (tmp_path / "out" / "results.tar.gz").exists() and not (tmp_path / "out" / "results").exists()
