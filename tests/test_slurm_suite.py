"""The sweep suite against the real local Slurm cluster (started by the fixture), end to end
with the agent's debug preset: job arrays (over algorithms x games x seeds), concurrency cap,
requeue from a checkpoint, idempotent re-runs, --retry-failed, crashes in `status`, cancel,
the submission lock."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from suite.status import sweep_status
from tests.conftest_slurm import FAST, REPO, slurm_cluster, wait_until  # noqa: F401
from tests.test_train_helpers import logged_steps

pytestmark = pytest.mark.slurm
SLURM = ["--executor", "slurm", "--profile", "local", "--no-progress"]


def atari100k(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "atari100k", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def job_ids(out: Path) -> dict[str, str]:
    return {str(p.parent.relative_to(out)): json.loads(p.read_text())["job_id"] for p in sorted(out.glob("*/*/seed_*/job.json"))}


def intervals(log_text: str) -> list[tuple[float, float]]:
    """(start, end) of each attempt in job logs, from run_one's `at t=` lines."""
    starts = [float(t) for t in re.findall(r"starting at step \d+ .* at t=([\d.]+)", log_text)]
    ends = [float(t) for t in re.findall(r": (?:done|already_done) at t=([\d.]+)", log_text)]
    return list(zip(sorted(starts), sorted(ends)))


def max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    current = best = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def test_sweep_one_array_capped_then_idempotent_then_retry_failed(slurm_cluster, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--algos", "dreamerv2,der", "--games", "Pong,Breakout", "--seeds", "1", "--preset", "debug",
            "--steps", "300", *FAST,
            "--max-parallel", "2", "--out", str(out), *SLURM]
    proc = atari100k(*args, "--wait")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ONE array of 4 tasks, at most 2 at once.
    scripts = list(out.glob("submitit/*/*_submission.sh"))
    assert len(scripts) == 1 and "#SBATCH --array=0-3%2" in scripts[0].read_text()
    ids = job_ids(out)
    assert len(ids) == 4 and len({i.split("_")[0] for i in ids.values()}) == 1
    assert sorted(ids) == ["der/Breakout/seed_0", "der/Pong/seed_0", "dreamerv2/Breakout/seed_0", "dreamerv2/Pong/seed_0"]
    assert all((out / d / "DONE").exists() for d in ids)
    assert {json.loads((out / d / "run.json").read_text())["spec"]["algo"] for d in ids} == {"dreamerv2", "der"}
    logs = "".join(p.read_text() for p in out.glob("submitit/*/*_log.out"))
    assert max_overlap(intervals(logs)) <= 2
    status = json.loads(atari100k("status", str(out), "--json").stdout)
    assert status["totals"]["done"] == 4 and {r["algo"] for r in status["runs"]} == {"dreamerv2", "der"}

    # Re-running the same command submits nothing.
    again = atari100k(*args)
    assert again.returncode == 0 and "nothing to submit" in again.stdout, again.stdout + again.stderr
    assert job_ids(out) == ids and len(list(out.glob("submitit/*"))) == 1

    # A finished run marked failed: --retry-failed resubmits exactly that run.
    (out / "der/Breakout/seed_0/DONE").unlink()
    (out / "der/Breakout/seed_0/FAILED").write_text(json.dumps({"error": "RuntimeError: boom", "time": "t"}))
    assert "RuntimeError: boom" in atari100k("status", str(out)).stdout
    plain = atari100k(*args)
    assert "nothing to submit" in plain.stdout and "failed (resubmit with --retry-failed)" in plain.stdout
    retry = atari100k(*args, "--retry-failed", "--wait")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    new_ids = job_ids(out)
    changed = [d for d in ids if new_ids[d] != ids[d]]
    assert changed == ["der/Breakout/seed_0"]
    assert (out / "der/Breakout/seed_0/DONE").exists() and not (out / "der/Breakout/seed_0/FAILED").exists()
    assert sweep_status(out).totals["done"] == 4


def test_preempted_run_is_requeued_and_resumes_from_its_checkpoint(slurm_cluster, tmp_path):
    out = tmp_path / "sweep"
    proc = atari100k("sweep", "--games", "Pong", "--seeds", "1", "--preset", "debug", "--steps", "4000", *FAST,
                     "--out", str(out), *SLURM)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = out / "dreamerv2/Pong/seed_0"
    job_id = job_ids(out)["dreamerv2/Pong/seed_0"]

    def progressed() -> bool:
        return (logged_steps(run) or [0])[-1] >= 300

    # 4,000 steps: ~3,700 still to go when signalled, seconds even on a fast machine, so that the run
    # cannot finish before the signal reaches it.
    wait_until(progressed, 120, 0.1, "the run to pass step 300")
    signalled_at = time.time()
    # What submitit does on preemption: SIGUSR2 to the job; it checkpoints and requeues itself.
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    # Between its requeue and its restart (cred_expire, 5 s here) status says requeued.
    wait_until(lambda: sweep_status(out).rows[0].state == "requeued", 60, 0.2, "status to show the run requeued")
    wait_until(lambda: (run / "DONE").exists() or (run / "FAILED").exists(), 180, 0.5, "the requeued run to finish")
    assert (run / "DONE").exists(), (run / "FAILED").read_text()
    resumes = json.loads((run / "run.json").read_text()).get("resumes", [])
    assert resumes and (resumes[-1].get("from_step") or 0) >= 300, resumes
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)), "duplicate or missing metrics rows after resume"
    assert any(r["step"] >= 300 and r["time"] < signalled_at for r in rows), "rows before the signal were lost: restarted from 0"
    log = "".join(p.read_text() for p in out.glob("submitit/*/*_log.out"))
    assert "checkpointed, requeueing" in log and re.search(r"starting at step [1-9]\d* \(checkpoint present\)", log)
    assert sweep_status(out).totals["done"] == 1


def test_crashing_job_shows_failed_with_its_error(slurm_cluster, tmp_path):
    out = tmp_path / "sweep"
    bad = out / "dreamerv2/Pong/seed_1"
    bad.mkdir(parents=True)
    (bad / "checkpoint.pt").write_bytes(b"not a checkpoint")  # train_run refuses this folder
    # --snapshot (where the project is a git checkout): the jobs run the code as submitted.
    snapshot = ["--snapshot"] if (REPO / ".git").exists() else []
    proc = atari100k("sweep", "--games", "Pong", "--seeds", "2", "--preset", "debug", "--steps", "300", *FAST,
                     "--out", str(out), "--wait", *SLURM, *snapshot)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    if snapshot:
        log = "".join(p.read_text() for p in out.glob("submitit/*/*_log.out"))
        assert "with code from " + str(out.resolve() / "submitit") in log
    status = json.loads(atari100k("status", str(out), "--json").stdout)
    rows = {r["dir"]: r for r in status["runs"]}
    assert rows["dreamerv2/Pong/seed_0"]["state"] == "done"
    assert rows["dreamerv2/Pong/seed_1"]["state"] == "failed"
    assert "checkpoint.pt but no run.json" in rows["dreamerv2/Pong/seed_1"]["error"]
    failed = json.loads((bad / "FAILED").read_text())
    assert failed["job_id"] == rows["dreamerv2/Pong/seed_1"]["job_id"] and "Traceback" in failed["traceback"]
    assert "checkpoint.pt but no run.json" in atari100k("status", str(out)).stdout


def test_cancel_and_concurrent_sweeps_do_not_double_submit(slurm_cluster, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--games", "Pong,Breakout", "--seeds", "2", "--preset", "debug", "--steps", "20000",
            "--max-parallel", "1", "--out", str(out), *SLURM]
    procs = [subprocess.Popen([sys.executable, "-m", "atari100k", *args], cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sum("nothing to submit" in o for o, _ in outputs) == 1, outputs
    manifest = json.loads((out / "sweep.json").read_text())
    assert sum(s["runs"] for s in manifest["submissions"]) == 4 and len(list(out.glob("submitit/*"))) == 1
    wait_until(lambda: sweep_status(out).totals["running"] == 1, 60, 0.5, "one running run")
    totals = sweep_status(out).totals
    assert totals["running"] == 1 and totals["pending"] == 3
    cancel = atari100k("cancel", str(out))
    assert cancel.returncode == 0 and "cancelled 4 runs" in cancel.stdout
    wait_until(lambda: sweep_status(out).totals["cancelled"] == 4, 60, 0.5, "4 cancelled runs")


def test_run_hitting_its_time_limit_is_requeued_and_finishes(slurm_cluster, tmp_path):
    out = tmp_path / "sweep"
    # A 1-minute limit with SIGUSR2 55 s before it. slurmctld checks signals every ~30 s, so an
    # attempt gets 5-35 s before the signal. The run needs ~65 s of work (30,000 debug steps on a
    # 2-core EPYC with the other core busy): more than the 60 s limit, so even a machine twice as
    # fast cannot finish it in one attempt and miss the requeue (10,000 steps did, at 21 s). A
    # slow machine needs more attempts: up to 20 requeues (the local profile allows 5).
    proc = atari100k("sweep", "--games", "Pong", "--seeds", "1", "--preset", "debug", "--steps", "30000", *FAST,
                     "--time", "1", "--signal-delay", "55", "--max-requeue", "20", "--out", str(out), "--wait",
                     *SLURM, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = out / "dreamerv2/Pong/seed_0"
    log = "".join(p.read_text() for p in out.glob("submitit/*/*_log.*"))
    assert "this job is timed-out" in log and "checkpointed, requeueing" in log
    # Every requeued attempt resumes from the checkpoint its predecessor wrote on SIGUSR2, so no
    # progress is lost. On a busy machine the signal can reach the first attempt before its first
    # step (still importing torch, filling replay): it then checkpoints step 0, and its successor
    # resumes from 0. What must hold is that each resume had a checkpoint, that none goes back,
    # and that the run did carry progress across at least one requeue.
    steps = [r.get("from_step") for r in json.loads((run / "run.json").read_text()).get("resumes", [])]
    assert steps and None not in steps and steps == sorted(steps) and steps[-1] > 0, steps
    assert (run / "DONE").exists() and sweep_status(out).totals["done"] == 1
