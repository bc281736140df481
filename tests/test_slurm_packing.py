"""Packed sweeps (`--runs-per-job 2`) on the real local Slurm cluster, with the agent's debug
preset: 4 runs as 2 array tasks, a crash that stays with its run, a packed task preempted
(SIGUSR2, submitit's path) and requeued by Slurm (`scontrol requeue`) resuming both runs from
their checkpoints, and a re-submission that submits nothing (issue 8)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from suite.status import sweep_status
from tests.conftest_slurm import FAST, slurm_cluster, wait_until  # noqa: F401
from tests.test_slurm_suite import SLURM, atari100k, job_ids
from tests.test_train_helpers import logged_steps

pytestmark = pytest.mark.slurm
PACKED = [*SLURM, "--runs-per-job", "2"]


def test_four_runs_as_two_packed_tasks_then_nothing_to_submit(slurm_cluster, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--games", "Pong,Breakout", "--seeds", "2", "--preset", "debug", "--steps", "300", *FAST,
            "--out", str(out), *PACKED]
    proc = atari100k(*args, "--wait")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted 4 runs in 2 array tasks" in proc.stdout
    scripts = list(out.glob("submitit/*/*_submission.sh"))
    assert len(scripts) == 1 and "#SBATCH --array=0-1" in scripts[0].read_text()
    assert "#SBATCH --cpus-per-task=2" in scripts[0].read_text()
    ids = job_ids(out)
    assert len(ids) == 4 and len(set(ids.values())) == 2  # two runs per task
    assert all((out / d / "DONE").exists() for d in ids)
    records = {d: json.loads((out / d / "job.json").read_text()) for d in ids}
    for d, record in records.items():
        assert d in record["task_runs"] and len(record["task_runs"]) == 2
        assert all(ids[sibling] == ids[d] for sibling in record["task_runs"])
    logs = "".join(p.read_text() for p in out.glob("submitit/*/*_log.out"))
    assert logs.count("2 runs, 1 thread each on cores") == 2
    status = json.loads(atari100k("status", str(out), "--json").stdout)
    assert status["totals"]["done"] == 4 and {r["task_runs"] for r in status["runs"]} == {2}
    assert "(2 runs)" in atari100k("status", str(out)).stdout

    again = atari100k(*args)
    assert again.returncode == 0 and "nothing to submit" in again.stdout, again.stdout + again.stderr
    assert job_ids(out) == ids and len(list(out.glob("submitit/*"))) == 1


def test_a_crash_in_a_packed_task_leaves_its_sibling_done(slurm_cluster, tmp_path):
    out = tmp_path / "sweep"
    bad = out / "dreamerv2/Pong/seed_1"
    bad.mkdir(parents=True)
    (bad / "checkpoint.pt").write_bytes(b"not a checkpoint")  # train_run refuses this folder
    proc = atari100k("sweep", "--games", "Pong", "--seeds", "2", "--preset", "debug", "--steps", "300", *FAST,
                     "--out", str(out), "--wait", *PACKED)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = {r["dir"]: r for r in json.loads(atari100k("status", str(out), "--json").stdout)["runs"]}
    assert rows["dreamerv2/Pong/seed_0"]["state"] == "done"
    assert rows["dreamerv2/Pong/seed_1"]["state"] == "failed"
    assert "checkpoint.pt but no run.json" in rows["dreamerv2/Pong/seed_1"]["error"]
    assert rows["dreamerv2/Pong/seed_0"]["job_id"] == rows["dreamerv2/Pong/seed_1"]["job_id"]
    log = "".join(p.read_text() for p in out.glob("submitit/*/*_log.*"))
    assert "1 of 2 runs failed" in log


def test_a_packed_task_preempted_then_requeued_resumes_both_runs(slurm_cluster, tmp_path):
    out = tmp_path / "sweep"
    proc = atari100k("sweep", "--games", "Pong,Breakout", "--seeds", "1", "--preset", "debug", "--steps", "4000",
                     *FAST, "--out", str(out), *PACKED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [out / "dreamerv2/Pong/seed_0", out / "dreamerv2/Breakout/seed_0"]
    (job_id,) = set(job_ids(out).values())

    def both_past(step: int) -> bool:
        return all((logged_steps(run) or [0])[-1] >= step for run in runs)  # step > 0: no rows is not past

    def resumed_times(run: Path) -> int:
        return len(json.loads((run / "run.json").read_text()).get("resumes", []))

    # 4,000 steps leave thousands after each signal, so that no run finishes before a signal reaches it.
    # Preemption as submitit sees it: SIGUSR2 to the task; both runs checkpoint, the task requeues itself.
    wait_until(lambda: both_past(300), 180, 0.2, "both runs to pass step 300")
    preempted_at = time.time()
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    wait_until(lambda: all(resumed_times(run) >= 1 for run in runs), 120, 0.5, "both runs to resume")
    # A requeue by Slurm itself: SIGTERM to every process of the task, which checkpoint and exit.
    target = max(logged_steps(runs[0])[-1], logged_steps(runs[1])[-1]) + 200
    wait_until(lambda: both_past(target), 180, 0.2, "both runs to train on after the first resume")
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    wait_until(lambda: all((run / "DONE").exists() or (run / "FAILED").exists() for run in runs), 300, 0.5,
               "both runs to finish")
    for run in runs:
        assert (run / "DONE").exists(), (run / "FAILED").read_text() if (run / "FAILED").exists() else run
        resumes = json.loads((run / "run.json").read_text())["resumes"]
        assert len(resumes) >= 2 and all((r.get("from_step") or 0) >= 300 for r in resumes), resumes
        steps = logged_steps(run)
        assert steps == sorted(set(steps)) and steps[-1] == 4000, "duplicate or missing metrics rows"
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert any(r["step"] >= 300 and r["time"] < preempted_at for r in rows), "restarted from 0"
    log = "".join(p.read_text() for p in out.glob("submitit/*/*_log.out"))
    assert "2 runs checkpointed, requeueing" in log
    assert sweep_status(out).totals["done"] == 2
