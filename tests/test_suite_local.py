"""The local executor end to end with the agent's debug preset: a bounded pool (never more
than --max-parallel at once), a progress bar, exit code and status table, --retry-failed, and
a sweep over two algorithms (real ALE, real training)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from suite.manifest import read_manifest
from suite.status import sweep_status
from tests.conftest_slurm import FAST, REPO
from tests.test_slurm_suite import intervals, max_overlap


def test_local_sweep_one_at_a_time_reports_failures_and_retries(tmp_path):
    out = tmp_path / "sweep"
    broken = out / "dreamerv2/Breakout/seed_0"
    broken.mkdir(parents=True)
    (broken / "checkpoint.pt").write_bytes(b"junk")  # this run crashes in train_run
    args = [sys.executable, "-m", "atari100k", "sweep", "--games", "Pong,Breakout", "--seeds", "2",
            "--preset", "debug", "--steps", "300", *FAST, "--executor", "local", "--max-parallel", "1",
            "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")  # a shared test machine: one thread per run
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "step" in proc.stderr and "done" in proc.stderr  # the progress bar
    assert "4 runs: 3 done, 1 failed" in proc.stdout and "checkpoint.pt but no run.json" in proc.stdout
    logs = "".join(p.read_text() for p in out.glob("local/*/*.log"))
    spans = intervals(logs)
    assert len(spans) == 3 and max_overlap(spans) == 1, spans

    (broken / "checkpoint.pt").unlink()
    retry = subprocess.run(args + ["--retry-failed", "--no-progress"], capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert "submit 1: dreamerv2: Breakout seeds 0" in retry.stdout and "4 runs: 4 done" in retry.stdout
    jobs = {str(p.parent.relative_to(out)): json.loads(p.read_text())["job_id"] for p in out.glob("*/*/seed_*/job.json")}
    assert len(set(jobs.values())) == 4
    assert sweep_status(out, use_slurm=False).totals["done"] == 4


def _sweep_args(out, algos: str, seeds: str) -> list[str]:
    return [sys.executable, "-m", "atari100k", "sweep", "--algos", algos, "--games", "Pong", "--seeds", seeds,
            "--preset", "debug", "--steps", "300", *FAST, "--executor", "local", "--max-parallel", "2",
            "--no-progress", "--out", str(out)]


def test_local_sweep_of_two_algorithms_trains_each_into_its_folder(tmp_path):
    out = tmp_path / "sweep"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(_sweep_args(out, "der,dreamerv2", "1"), capture_output=True, text=True, timeout=300,
                          cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 runs: 2 done" in proc.stdout
    for algo in ("der", "dreamerv2"):
        run = out / algo / "Pong" / "seed_0"
        assert (run / "DONE").exists() and json.loads((run / "run.json").read_text())["spec"]["algo"] == algo
    assert read_manifest(out)["algos"] == ["der", "dreamerv2"]
    status = subprocess.run([sys.executable, "-m", "atari100k", "status", str(out), "--json", "--no-slurm"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    rows = {(r["algo"], r["dir"], r["state"]) for r in json.loads(status.stdout)["runs"]}
    assert rows == {("der", "der/Pong/seed_0", "done"), ("dreamerv2", "dreamerv2/Pong/seed_0", "done")}

    # One more algorithm and seed: only the missing runs are planned, never the finished ones.
    more = subprocess.run(_sweep_args(out, "der,dreamerv2,iqn", "2") + ["--dry-run"], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert more.returncode == 0, more.stdout + more.stderr
    assert "submit 4: der: Pong seeds 1; dreamerv2: Pong seeds 1; iqn: Pong seeds 0-1" in more.stdout
    assert "skip 2 done: der: Pong seeds 0; dreamerv2: Pong seeds 0" in more.stdout
