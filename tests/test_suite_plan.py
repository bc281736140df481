"""Sweep planning, selection, profiles, status on synthetic run folders, and bad input (no Slurm needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atari100k.cli import main
from atari100k.errors import UsageError
from atari100k.fileio import atomic_write_json
from atari100k.games import ATARI100K_GAMES
from suite.plan import PlannedRun, SweepRequest, parse_seeds, plan_runs
from suite.profile import SlurmProfile, load_profile, with_flags
from suite.slurm_executor import chunks
from suite.state import RunStatus
from suite.status import format_table, sweep_status
from suite.sweep import make_request, select_runs


# ------------------------------------------------------------------ planning
def test_seeds_count_list_range():
    assert parse_seeds("5") == (0, 1, 2, 3, 4)
    assert parse_seeds(3) == (0, 1, 2)
    assert parse_seeds("0,3,7") == (0, 3, 7)
    assert parse_seeds("3,") == (3,)
    assert parse_seeds("10-12,20") == (10, 11, 12, 20)
    for bad in ("0", "", "a", "1,1", "5-3"):
        with pytest.raises(UsageError):
            parse_seeds(bad)


def test_plan_is_deterministic_game_major(tmp_path):
    request = SweepRequest.make("all", 3, ["debug"], ["train.batch_size=8"], 300, out=tmp_path / "s")
    runs = plan_runs(request)
    assert len(runs) == 26 * 3
    assert [r.rel_dir for r in runs[:4]] == ["Alien/seed_0", "Alien/seed_1", "Alien/seed_2", "Amidar/seed_0"]
    assert {r.spec.game for r in runs} == set(ATARI100K_GAMES)
    assert runs[0].spec.overrides == ("train.batch_size=8",) and runs[0].spec.steps == 300
    assert [r.rel_dir for r in plan_runs(request)] == [r.rel_dir for r in runs]
    assert request.budget_steps() == 300
    assert SweepRequest.make("ms_pacman,dev", 1, ["debug"]).games[:2] == ("MsPacman", "Pong")
    assert SweepRequest.make("Pong", 1, ["atari100k", "debug"]).name == "atari100k-debug"


def test_rerun_fills_from_manifest_and_refuses_other_settings(tmp_path):
    out = tmp_path / "s"
    request, planned = make_request("Pong", "2", ["debug"], [], 300, out=out)
    from suite.manifest import write_manifest

    write_manifest(request, planned, None)
    again, runs = make_request(None, None, None, (), None, out=out)
    assert again.presets == ("debug",) and again.steps == 300 and [r.rel_dir for r in runs] == ["Pong/seed_0", "Pong/seed_1"]
    with pytest.raises(UsageError, match="other settings"):
        from suite.manifest import check_compatible, read_manifest

        check_compatible(read_manifest(out), make_request("Pong", "2", ["debug"], [], 400, out=out)[0])
    with pytest.raises(UsageError, match="needs --games"):
        make_request(None, None, ["debug"], (), None, out=tmp_path / "new")


def _row(run: PlannedRun, state: str) -> RunStatus:
    return RunStatus(run.spec.game, run.spec.seed, run.rel_dir, state, 0, 300, None, None, "1_0", "slurm", None, None)


def test_selection_never_resubmits_done_or_queued(tmp_path):
    runs = plan_runs(SweepRequest.make("Pong", 7, ["debug"], out=tmp_path))
    states = dict(zip([r.key for r in runs], ["done", "running", "pending", "requeued", "failed", "cancelled", "missing"]))
    rows = {r.key: _row(r, states[r.key]) for r in runs}
    plain = select_runs(runs, rows, retry_failed=False)
    assert [rows[r.key].state for r in plain.submit] == ["cancelled", "missing"]
    retry = select_runs(runs, rows, retry_failed=True)
    assert [rows[r.key].state for r in retry.submit] == ["failed"]


def test_arrays_are_chunked_under_max_array_size(tmp_path):
    runs = plan_runs(SweepRequest.make("all", 100, ["debug"], out=tmp_path))
    sizes = [len(c) for c in chunks(runs, 1001)]
    assert sizes == [1001, 1001, 598] and sum(sizes) == 2600


def test_profiles(tmp_path):
    for name in ("local", "gpu-example"):
        load_profile(name)
    gpu = load_profile("gpu-example")
    params = with_flags(gpu, account="lab", sbatch=("constraint=a100",), time="1-00:00:00").submitit_parameters()
    assert params["gpus_per_node"] == 1 and params["slurm_partition"] == "gpu" and params["timeout_min"] == 1440
    assert params["slurm_additional_parameters"] == {"constraint": "a100", "account": "lab"}
    assert SlurmProfile(mem="8000M").mem_gb() == pytest.approx(8000 / 1024)
    for bad in ({"time": "soon"}, {"mem": "lots"}, {"sbatch": ("noequals",)}):
        with pytest.raises(UsageError):
            with_flags(SlurmProfile(), **bad)
    path = tmp_path / "p.toml"
    path.write_text('partitoin = "gpu"\n')
    with pytest.raises(UsageError, match="unknown fields"):
        load_profile(str(path))


# ------------------------------------------------------------------ bad input: exit 2, nothing written
@pytest.mark.parametrize("args, message", [
    (["--games", "Pong,NotAGame", "--seeds", "2"], "unknown game"),
    (["--games", "Pong", "--seeds", "0"], "at least one seed"),
    (["--games", "Pong", "--seeds", "2", "--executor", "condor"], "invalid choice"),
    (["--games", "Pong", "--seeds", "2", "--set", "train.nope=1"], "unknown config key"),
    (["--games", "Pong", "--seeds", "2", "--executor", "slurm", "--time", "soon"], "--time"),
])
def test_bad_input_exit_2_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "sweep"
    with pytest.raises(SystemExit) as exit_info:
        code = main(["sweep", "--preset", "debug", "--out", str(out), *args])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()


def test_unreachable_slurm_exit_2_nothing_submitted(tmp_path, monkeypatch, capsys):
    bogus = tmp_path / "slurm.conf"
    bogus.write_text("ClusterName=nowhere\nSlurmctldHost=nowhere(192.0.2.1)\n")
    monkeypatch.setenv("SLURM_CONF", str(bogus))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sbatch", "squeue", "sacct", "scontrol"):  # a login node whose controller is down
        (bindir / tool).write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n")
        (bindir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    out = tmp_path / "sweep"
    code = main(["sweep", "--games", "Pong", "--seeds", "2", "--preset", "debug", "--executor", "slurm", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Slurm is not reachable" in err
    assert not out.exists()


# ------------------------------------------------------------------ status on synthetic run folders
def _synthetic_sweep(root: Path) -> Path:
    out = root / "sweep"
    request, planned = make_request("Pong,Breakout", "3", ["debug"], [], 300, out=out)
    from suite.manifest import write_manifest

    write_manifest(request, planned, None)
    now = time.time()

    def folder(game, seed, step=None, done=False, failed=None, job=None):
        d = out / game / f"seed_{seed}"
        d.mkdir(parents=True)
        atomic_write_json(d / "run.json", {"budget_steps": 300})
        if step is not None:
            (d / "metrics.jsonl").write_text(json.dumps({"step": step // 2, "sps": 9.0, "elapsed_s": 5.0}) + "\n"
                                             + json.dumps({"step": step, "sps": 10.0, "elapsed_s": step / 10, "time": now}) + "\n")
        if done:
            atomic_write_json(d / "DONE", {"step": 300, "elapsed_s": 30.0})
        if job:
            atomic_write_json(d / "job.json", job)
        if failed:
            time.sleep(0.01)
            atomic_write_json(d / "FAILED", {"error": failed, "traceback": "...", "time": "t", "job_id": "7_3"})

    slurm_job = {"executor": "slurm", "job_id": "999999_1", "submitted_at": "t"}
    folder("Pong", 0, 300, done=True, job=slurm_job)
    folder("Pong", 1, 100, job=slurm_job)  # Slurm job unknown, fresh metrics
    folder("Pong", 2, 200, failed="RuntimeError: CUDA out of memory", job=slurm_job)
    local = {"executor": "local", "job_id": "local-1-0", "host": os.uname().nodename, "pid": os.getpid(),
             "worker_pid": os.getpid(), "worker_started_at": "t"}
    folder("Breakout", 0, 150, job=local)
    folder("Breakout", 1, 50, job=dict(local, pid=2**22 + 12345, worker_pid=None))  # dead pool
    return out  # Breakout/seed_2: never submitted


def test_status_from_folders_alone(tmp_path):
    out = _synthetic_sweep(tmp_path)
    status = sweep_status(out, use_slurm=False)
    states = {row.dir: row.state for row in status.rows}
    assert states == {"Pong/seed_0": "done", "Pong/seed_1": "running", "Pong/seed_2": "failed",
                      "Breakout/seed_0": "running", "Breakout/seed_1": "cancelled", "Breakout/seed_2": "missing"}
    failed = next(r for r in status.rows if r.state == "failed")
    assert failed.error == "RuntimeError: CUDA out of memory"
    running = next(r for r in status.rows if r.dir == "Pong/seed_1")
    assert running.step == 100 and running.budget == 300 and running.eta_s == pytest.approx(20.0)
    assert status.totals["done"] == 1 and status.eta_s is not None
    table = format_table(status)
    assert "CUDA out of memory" in table and "6 runs: 2 running, 1 done, 1 failed, 1 cancelled, 1 missing" in table
    assert "Slurm not consulted" in table


def test_status_cli_json_without_torch(tmp_path):
    out = _synthetic_sweep(tmp_path)
    code = ("import sys, json, io, contextlib; from atari100k.cli import main; buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf): rc = main(['status', sys.argv[1], '--json', '--no-slurm'])\n"
            "assert 'torch' not in sys.modules, 'status imported torch'\n"
            "print(json.dumps({'rc': rc, 'status': json.loads(buf.getvalue())}))")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["rc"] == 0 and result["status"]["totals"]["failed"] == 1 and len(result["status"]["runs"]) == 6


def test_status_of_unknown_sweep_is_usage_error(tmp_path, capsys):
    assert main(["status", str(tmp_path / "nothing")]) == 2
    assert "no sweep" in capsys.readouterr().err
