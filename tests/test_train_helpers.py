"""Helpers shared by the training tests (no tests here): run folders read back, hashed, compared."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

WALL_CLOCK = ("time", "elapsed_s", "sps")
PYTHON = sys.executable


def metrics_rows(run_dir: Path) -> list[dict]:
    """metrics.jsonl rows without the wall-clock fields."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in WALL_CLOCK} for line in lines]


def logged_steps(run_dir: Path) -> list[int]:
    """Steps of metrics.jsonl's complete rows ([] before the file exists), safe while a run appends."""
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return [json.loads(line)["step"] for line in lines]


def folder_digest(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (sha256, mtime_ns) of every file under `path` (empty if it does not exist)."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(path.rglob("*")) if p.is_file()
    }


def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: one torch thread (the test machine is shared)."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def run_cli(args: list[str], cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """`atari100k ARGS` in a subprocess (python -m atari100k), text output captured."""
    return subprocess.run(
        [PYTHON, "-m", "atari100k", *args], capture_output=True, text=True, env=cli_env(),
        cwd=cwd, timeout=timeout,
    )


def csv_steps(path: Path) -> list[int]:
    """The `step` column of episodes.csv / eval.csv."""
    return [int(line.split(",")[0]) for line in path.read_text().splitlines()[1:]]


def test_a_copy_of_the_code_without_git_takes_its_commit_from_the_environment(tmp_path):
    from agent.provenance import COMMIT_ENV, git_state

    copy, commit = tmp_path / "copy", "0123456789abcdef0123456789abcdef01234567"
    copy.mkdir()
    assert git_state(copy, {}) == (None, None)
    assert git_state(copy, {COMMIT_ENV: commit.upper()}) == (commit, None)  # dirty: nothing can tell
    assert git_state(copy, {COMMIT_ENV: "f06427f"}) == (None, None)  # not a full commit: not taken
    # A real checkout (this one) says its own commit whatever the environment says.
    own, dirty = git_state(None, {COMMIT_ENV: commit})
    assert own != commit and len(own) == 40 and isinstance(dirty, bool)
