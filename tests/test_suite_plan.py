"""Sweep planning (algorithms x games x seeds), selection, re-runs, profiles, status on synthetic run
folders, manifests from before algorithms were an axis, and bad input (no Slurm needed)."""

from __future__ import annotations

import dataclasses
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
from suite.manifest import read_manifest, write_manifest
from suite.plan import PlannedRun, SweepRequest, parse_algos, parse_seeds, plan_runs
from suite.profile import SlurmProfile, load_profile, with_flags
from suite.slurm_executor import chunks
from suite.state import RunStatus
from suite.status import format_table, overall_eta, sweep_status
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
    assert [r.rel_dir for r in runs[:4]] == ["dreamerv2/Alien/seed_0", "dreamerv2/Alien/seed_1",
                                             "dreamerv2/Alien/seed_2", "dreamerv2/Amidar/seed_0"]
    assert {r.spec.game for r in runs} == set(ATARI100K_GAMES) and {r.spec.algo for r in runs} == {"dreamerv2"}
    assert runs[0].spec.overrides == ("train.batch_size=8",) and runs[0].spec.steps == 300
    assert [r.rel_dir for r in plan_runs(request)] == [r.rel_dir for r in runs]
    assert request.budget_steps("dreamerv2") == 300 and {r.budget_steps for r in runs} == {300}
    assert SweepRequest.make("ms_pacman,dev", 1, ["debug"]).games[:2] == ("MsPacman", "Pong")
    assert SweepRequest.make("Pong", 1, ["atari100k", "debug"]).name == "atari100k-debug"


def test_plan_algorithms_x_games_x_seeds(tmp_path):
    request = SweepRequest.make("Pong,Breakout", 2, ["debug"], ["eval.episodes=1"], algos="der,dreamerv2")
    runs = plan_runs(request)
    assert request.name == "der-dreamerv2-debug" and request.out.name == "der-dreamerv2-debug"
    assert [r.rel_dir for r in runs] == [f"{a}/{g}/seed_{s}" for a in ("der", "dreamerv2")
                                         for g in ("Pong", "Breakout") for s in (0, 1)]
    assert [r.spec.algo for r in runs] == ["der"] * 4 + ["dreamerv2"] * 4
    assert all(r.spec.config().eval.episodes == 1 for r in runs)  # overrides apply to every algorithm
    assert {r.budget_steps for r in runs} == {request.budget_steps("der")} == {600}
    assert parse_algos(None) == ("dreamerv2",) and parse_algos(" iqn , der") == ("iqn", "der")
    for bad, message in (("der,nope", "unknown algorithm 'nope'; choose from: dreamerv2, der, iqn"),
                         ("der,der", "listed twice"), (",", "no algorithm")):
        with pytest.raises(UsageError, match=message):
            parse_algos(bad)
    # Presets and keys are each algorithm's own; errors name the algorithm.
    with pytest.raises(UsageError, match="unknown preset 'paper' for --algo der"):
        SweepRequest.make("Pong", 1, ["paper"], algos="dreamerv2,der")
    with pytest.raises(UsageError, match="for --algo der"):
        SweepRequest.make("Pong", 1, ["debug"], ["model.deter=8"], algos="dreamerv2,der")
    with pytest.raises(UsageError, match="^--algo iqn: bad value for eval.episodes"):
        SweepRequest.make("Pong", 1, ["debug"], ["eval.episodes=x"], algos="iqn")


def test_rerun_fills_from_manifest_and_refuses_other_settings(tmp_path):
    out = tmp_path / "s"
    request, planned = make_request("Pong", "2", ["debug"], [], 300, out=out)
    write_manifest(request, planned, None)
    again, runs = make_request(None, None, None, (), None, out=out)
    assert again.presets == ("debug",) and again.steps == 300 and again.algos == ("dreamerv2",)
    assert [r.rel_dir for r in runs] == ["dreamerv2/Pong/seed_0", "dreamerv2/Pong/seed_1"]
    with pytest.raises(UsageError, match="other settings"):
        from suite.manifest import check_compatible, read_manifest

        check_compatible(read_manifest(out), make_request("Pong", "2", ["debug"], [], 400, out=out)[0])
    with pytest.raises(UsageError, match="needs --games"):
        make_request(None, None, ["debug"], (), None, out=tmp_path / "new")


def _row(run: PlannedRun, state: str) -> RunStatus:
    return RunStatus(run.spec.algo, run.spec.game, run.spec.seed, run.rel_dir, state, 0, 300, None, None, "1_0",
                     "slurm", 1, None, None)


def _mark_done(out: Path, rel_dir: str) -> None:
    atomic_write_json(out / rel_dir / "DONE", {"step": 300})


def test_rerun_adds_algorithms_games_seeds_and_submits_only_what_is_missing(tmp_path):
    out = tmp_path / "s"
    request, planned = make_request("Pong", "1", ["debug"], [], 300, out=out)
    write_manifest(request, planned, None)
    _mark_done(out, "dreamerv2/Pong/seed_0")
    # More algorithms, games and seeds: only the new runs are submitted, never the finished one.
    request, planned = make_request("Pong,Breakout", "2", None, (), None, out=out, algos="der,dreamerv2")
    assert request.algos == ("der", "dreamerv2") and request.presets == ("debug",) and len(planned) == 8
    selection = select_runs(planned, {r.key: _row(r, "missing") for r in planned} | {
        "dreamerv2/Pong/seed_0": _row(planned[4], "done")}, retry_failed=False)
    assert [r.key for r in selection.submit] == [r.key for r in planned if r.key != "dreamerv2/Pong/seed_0"]
    write_manifest(request, planned, None)
    manifest = read_manifest(out)
    assert manifest["algos"] == ["dreamerv2", "der"] and manifest["budgets"] == {"dreamerv2": 300, "der": 300}
    assert manifest["asked"][-1]["algos"] == ["der", "dreamerv2"] and len(manifest["runs"]) == 8
    assert {r["algo"] for r in manifest["runs"]} == {"der", "dreamerv2"}
    # A bare re-run plans exactly the manifest's runs; --algos alone: its (game, seed) pairs.
    assert sorted(r.key for r in make_request(out=out)[1]) == sorted(r["dir"] for r in manifest["runs"])
    iqn = make_request(out=out, algos="iqn")[1]
    assert [r.key for r in iqn] == ["iqn/Pong/seed_0", "iqn/Pong/seed_1", "iqn/Breakout/seed_0", "iqn/Breakout/seed_1"]


def test_dry_run_counts_algorithms_x_games_x_seeds(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["sweep", "--games", "Pong,Breakout", "--seeds", "3", "--preset", "debug", "--steps", "300",
            "--executor", "local", "--out", str(out), "--dry-run"]
    assert main([*args, "--algos", "der,dreamerv2,iqn"]) == 0
    text = capsys.readouterr().out
    assert "18 runs, algos der,dreamerv2,iqn, budget 300 steps each" in text
    assert "submit 18: der: Pong seeds 0-2, Breakout seeds 0-2; dreamerv2: Pong seeds 0-2" in text
    assert "nothing submitted" in text and not out.exists()
    assert main(["sweep", "--games", "Pong", "--seeds", "1", "--preset", "debug", "--steps", "300",
                 "--executor", "local", "--out", str(out), "--dry-run"]) == 0
    assert "1 run, algos dreamerv2, budget 300 steps each" in capsys.readouterr().out
    # An existing sweep: what is done is skipped, what is missing is submitted.
    request, planned = make_request("Pong", "1", ["debug"], [], 300, out=out, algos="der")
    write_manifest(request, planned, None)
    _mark_done(out, "der/Pong/seed_0")
    assert main([*args, "--algos", "der,dreamerv2"]) == 0
    text = capsys.readouterr().out
    assert "12 runs" in text and "submit 11:" in text and "skip 1 done: der: Pong seeds 0" in text
    assert len(read_manifest(out)["runs"]) == 1  # a dry run writes nothing


def test_manifest_from_before_algorithms_keeps_its_run_folders(tmp_path):
    """sweep.json without `algos` (runs at <Game>/seed_<k>): DreamerV2's, read and resumed in place."""
    out = tmp_path / "old"
    atomic_write_json(out / "sweep.json", {
        "name": "old", "created_at": "t", "updated_at": "t",
        "settings": {"presets": ["debug"], "overrides": [], "steps": 300}, "budget_steps": 300, "code": {},
        "asked": [{"time": "t", "games": ["Pong"], "seeds": [0, 1]}],
        "runs": [{"game": "Pong", "seed": s, "dir": f"Pong/seed_{s}"} for s in (0, 1)], "submissions": []})
    _mark_done(out, "Pong/seed_0")
    status = sweep_status(out, use_slurm=False)
    assert [(r.algo, r.dir, r.state, r.budget) for r in status.rows] == [
        ("dreamerv2", "Pong/seed_0", "done", 300), ("dreamerv2", "Pong/seed_1", "missing", 300)]
    request, planned = make_request("Pong", "3", None, (), None, out=out, algos="dreamerv2,der")
    assert [r.rel_dir for r in planned] == ["Pong/seed_0", "Pong/seed_1", "dreamerv2/Pong/seed_2",
                                            "der/Pong/seed_0", "der/Pong/seed_1", "der/Pong/seed_2"]
    write_manifest(request, planned, None)
    manifest = read_manifest(out)
    assert manifest["algos"] == ["dreamerv2", "der"] and manifest["runs"][0] == {
        "algo": "dreamerv2", "game": "Pong", "seed": 0, "dir": "Pong/seed_0"}
    assert sweep_status(out, use_slurm=False).totals["done"] == 1


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
    (["--games", "Pong", "--seeds", "2", "--algos", "der,alphazero"], "unknown algorithm 'alphazero'; choose from: dreamerv2, der, iqn"),
    (["--games", "Pong", "--seeds", "2", "--algos", "dreamerv2,der", "--set", "model.deter=8"], "for --algo der"),
    (["--games", "Pong", "--seeds", "2", "--executor", "slurm", "--time", "soon"], "--time"),
    (["--games", "Pong", "--seeds", "2", "--executor", "slurm", "--sbatch", "array=0-3"], "the sweep sets it"),
    (["--games", "Pong", "--seeds", "2", "--executor", "slurm", "--sbatch", "mem=9G"], "use --mem (per run) instead"),
    (["--games", "Pong", "--seeds", "2", "--executor", "slurm", "--sbatch", "cpus_per_task=4"], "use --cpus"),
    (["--games", "Pong", "--seeds", "2", "--executor", "slurm", "--sbatch", "Job_Name=x"], "the sweep sets it"),
    (["--games", "Pong", "--seeds", "2", "--executor", "slurm", "--gpus", "1", "--sbatch", "gres=gpu:a100:1"],
     "beside --gpus 1"),
    (["--games", "Pong", "--seeds", "0-99999999999"], "--seeds 0-99999999999: seeds are at most"),
    (["--games", "Pong", "--seeds", "0-20000"], "a sweep plans at most 10,000"),
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


@pytest.mark.parametrize("make, message", [
    (lambda out: out.write_text("mine"), "is a file; give a folder"),
    (lambda out: (out.mkdir(), (out / "run.json").write_text("{}")), "is a run folder"),
])
def test_an_out_that_cannot_be_a_sweep_folder_is_refused_before_planning(tmp_path, capsys, make, message):
    out = tmp_path / "sweep"
    make(out)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for extra in ([], ["--dry-run"]):
        assert main(["sweep", "--preset", "debug", "--games", "Pong", "--seeds", "1", "--executor", "local",
                     "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def unreachable_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slurm's tools on PATH whose controller does not answer (a login node or laptop)."""
    bogus = tmp_path / "slurm.conf"
    bogus.write_text("ClusterName=nowhere\nSlurmctldHost=nowhere(192.0.2.1)\n")
    monkeypatch.setenv("SLURM_CONF", str(bogus))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sbatch", "squeue", "sacct", "scontrol"):
        (bindir / tool).write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n")
        (bindir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")


def test_unreachable_slurm_exit_2_nothing_submitted(tmp_path, monkeypatch, capsys):
    unreachable_slurm(tmp_path, monkeypatch)
    out = tmp_path / "sweep"
    code = main(["sweep", "--games", "Pong", "--seeds", "2", "--preset", "debug", "--executor", "slurm", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Slurm is not reachable" in err
    assert not out.exists()


# ------------------------------------------------------------------ status on synthetic run folders
def _synthetic_sweep(root: Path) -> Path:
    out = root / "sweep"
    request, planned = make_request("Pong,Breakout", "4", ["debug"], [], 300, out=out)
    write_manifest(request, planned, None)
    now = time.time()

    def folder(game, seed, step=None, done=False, failed=None, job=None):
        d = out / "dreamerv2" / game / f"seed_{seed}"
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
    folder("Breakout", 3, 120)  # no job: `atari100k train` run by hand, fresh metrics
    return out  # Breakout/seed_2, Pong/seed_3: never submitted


def test_eta_uses_the_recent_rate_not_the_fast_start(tmp_path):
    """A run's first steps (before learning starts) are fast: its ETA follows its recent rows."""
    from suite.state import sweep_states

    run = tmp_path / "der" / "Krull" / "seed_0"
    run.mkdir(parents=True)
    atomic_write_json(run / "run.json", {"budget_steps": 100_000})
    rows = [{"step": 2000, "elapsed_s": 20.0}] + [{"step": 2000 + 1000 * k, "elapsed_s": 20.0 + 200.0 * k}
                                                  for k in range(1, 11)]  # 5 steps/s after a fast start
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 13')  # half-written
    [status], _ = sweep_states(tmp_path, [{"algo": "der", "game": "Krull", "seed": 0, "dir": "der/Krull/seed_0"}],
                               use_slurm=False)
    assert status.step == 12_000 and status.sps == pytest.approx(5.0)  # the lifetime average would be 5.9
    assert status.eta_s == pytest.approx(88_000 / 5.0)
    atomic_write_json(run / "DONE", {"step": 100_000, "elapsed_s": 25_000.0})
    [status], _ = sweep_states(tmp_path, [{"algo": "der", "game": "Krull", "seed": 0, "dir": "der/Krull/seed_0"}],
                               use_slurm=False)
    assert status.sps == pytest.approx(4.0) and status.eta_s is None  # a finished run: its whole average


def test_a_run_at_its_budget_without_done_is_in_its_final_evaluation_of_unknown_length(tmp_path):
    from suite.state import sweep_states
    from suite.status import SweepStatus

    run = tmp_path / "der" / "Breakout" / "seed_0"
    run.mkdir(parents=True)
    atomic_write_json(run / "run.json", {"budget_steps": 100_000})
    rows = [{"step": 1000 * k, "elapsed_s": 100.0 * k, "time": time.time()} for k in range(90, 101)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = [{"algo": "der", "game": "Breakout", "seed": 0, "dir": "der/Breakout/seed_0"}]
    [status], _ = sweep_states(tmp_path, runs, use_slurm=False)
    assert status.state == "running" and status.step == 100_000 and status.eta_s is None
    table = format_table(SweepStatus(tmp_path, [status], False, {"running": 1}, overall_eta([status])))
    assert "100000/100000 (final evaluation)" in table and "0s" not in table
    # Beside a run still training, the evaluating one adds no speed to the overall ETA.
    training = dataclasses.replace(status, step=50_000, sps=5.0, eta_s=None)
    assert overall_eta([status, training]) == pytest.approx(10_000.0)


def test_status_from_folders_alone(tmp_path):
    out = _synthetic_sweep(tmp_path)
    status = sweep_status(out, use_slurm=False)
    states = {row.dir: row.state for row in status.rows}
    assert states == {"dreamerv2/Pong/seed_0": "done", "dreamerv2/Pong/seed_1": "running",
                      "dreamerv2/Pong/seed_2": "failed", "dreamerv2/Breakout/seed_0": "running",
                      "dreamerv2/Breakout/seed_1": "cancelled", "dreamerv2/Breakout/seed_2": "missing",
                      "dreamerv2/Breakout/seed_3": "running", "dreamerv2/Pong/seed_3": "missing"}
    by_hand = next(r for r in status.rows if r.dir == "dreamerv2/Breakout/seed_3")
    assert "by hand" in by_hand.error and by_hand.eta_s is not None
    failed = next(r for r in status.rows if r.state == "failed")
    assert failed.error == "RuntimeError: CUDA out of memory"
    running = next(r for r in status.rows if r.dir == "dreamerv2/Pong/seed_1")
    assert running.step == 100 and running.budget == 300 and running.eta_s == pytest.approx(20.0)
    assert status.totals["done"] == 1 and status.eta_s is not None
    table = format_table(status)
    assert "CUDA out of memory" in table and "8 runs: 3 running, 1 done, 1 failed, 1 cancelled, 2 missing" in table
    assert table.splitlines()[0].split()[:3] == ["algo", "game", "seed"] and table.splitlines()[1].startswith("dreamerv2")
    assert "Slurm not consulted" in table
    one = dataclasses.replace(status, rows=status.rows[:1])
    assert "\n1 run: " in format_table(one)  # singular, not "1 runs"


def test_status_cli_json_without_torch(tmp_path):
    out = _synthetic_sweep(tmp_path)
    code = ("import sys, json, io, contextlib; from atari100k.cli import main; buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf): rc = main(['status', sys.argv[1], '--json', '--no-slurm'])\n"
            "assert 'torch' not in sys.modules, 'status imported torch'\n"
            "print(json.dumps({'rc': rc, 'status': json.loads(buf.getvalue())}))")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["rc"] == 0 and result["status"]["totals"]["failed"] == 1 and len(result["status"]["runs"]) == 8
    assert {run["algo"] for run in result["status"]["runs"]} == {"dreamerv2"}


def test_status_of_unknown_sweep_is_usage_error(tmp_path, capsys):
    assert main(["status", str(tmp_path / "nothing")]) == 2
    assert "no sweep" in capsys.readouterr().err


def test_demo_scores_each_algorithm_under_its_own_name():
    """`atari100k demo`: one sweep over --algos; the table/plot get the sweep folder for one
    algorithm (any layout), else one input and one --name per algorithm."""
    import argparse

    from atari100k.demo import demo_commands

    def commands(algos: str) -> list[list[str]]:
        return demo_commands(argparse.Namespace(out="results/demo", algos=algos, games="Pong", seeds=2, steps=0,
                                                max_parallel=0, baselines="DER"))

    sweep, table, plot = commands("dreamerv2")
    assert sweep[sweep.index("--algos") + 1] == "dreamerv2"
    assert table[1:4] == ["results/demo", "--name", "DreamerV2 debug preset (pipeline check)"] and plot[1] == table[1]
    _, table, _ = commands("dreamerv2,der")
    assert table[1:7] == ["results/demo/dreamerv2", "results/demo/der", "--name",
                          "DreamerV2 debug preset (pipeline check)", "--name", "DER debug preset (pipeline check)"]
    with pytest.raises(UsageError, match="unknown algorithm"):
        commands("dreamerv2,nope")


def test_overall_eta_is_at_least_the_longest_running_run():
    def row(seed, step, sps, state="running"):
        eta = (300 - step) / sps if state == "running" else None
        return RunStatus("der", "Pong", seed, f"der/Pong/seed_{seed}", state, step, 300, sps, eta, None, None, 1,
                         None, None)

    # Two runs at 1 step/s, 10 and 250 steps left: 260 / 2 = 130 s of summed work, but the
    # second alone needs 250 s.
    assert overall_eta([row(0, 290, 1.0), row(1, 50, 1.0)]) == pytest.approx(250.0)
    # A third run waiting to start: the work divided over the two running runs dominates.
    assert overall_eta([row(0, 290, 1.0), row(1, 200, 1.0), row(2, 0, None, "pending")]) == pytest.approx(205.0)


def test_sweep_over_hand_trained_folders_refuses_other_settings(capsys, tmp_path):
    """No sweep.json (runs trained by hand): each existing run folder's run.json is checked."""
    from agent import RunSpec
    from agent.run_folder import RunFolder

    out = tmp_path / "runs"
    spec = RunSpec.make("Krull", 0, ["atari100k"], [], None, algo="der")
    folder = RunFolder(out / "der" / "Krull" / "seed_0")
    folder.start(spec, spec.config(), None)
    atomic_write_json(folder.file("DONE"), {"step": 100_000})
    before = sorted(p.name for p in out.rglob("*"))
    ask = ["sweep", "--dry-run", "--out", str(out), "--executor", "local", "--algos", "der", "--games", "Krull",
           "--seeds", "1"]
    assert main([*ask, "--set", "der.n_step=20"]) == 2
    err = capsys.readouterr().err
    assert "was made with der.n_step=10, this command asks 20" in err and len(err.strip().splitlines()) == 1
    assert main([*ask, "--preset", "debug"]) == 2
    assert "was made with" in capsys.readouterr().err
    assert main(ask) == 0  # the same settings: the finished run is skipped, as with a manifest
    assert "skip 1 done" in capsys.readouterr().out
    assert sorted(p.name for p in out.rglob("*")) == before


def test_slurm_flags_with_the_local_executor_are_refused(capsys, tmp_path):
    ask = ["sweep", "--dry-run", "--out", str(tmp_path / "s"), "--executor", "local", "--games", "Pong", "--seeds", "1",
           "--preset", "debug"]
    assert main([*ask, "--partition", "gpu", "--gpus", "1"]) == 2
    err = capsys.readouterr().err
    assert "--partition, --gpus apply to Slurm" in err and "--executor slurm" in err and len(err.strip().splitlines()) == 1
    assert main([*ask, "--sbatch", "constraint=a100"]) == 2 and "--sbatch applies to Slurm" in capsys.readouterr().err
    assert main([*ask, "--wait"]) == 0 and not (tmp_path / "s").exists()  # the local pool waits anyway


def test_a_hand_run_is_running_while_its_trainer_holds_the_lock(tmp_path):
    """Without a sweep job, the flock on .train.lock tells a live `train` from a stopped one
    (a copied folder's fresh mtimes no longer read as running)."""
    from atari100k.locking import exclusive_lock
    from suite.state import sweep_states

    run = tmp_path / "der" / "Krull" / "seed_0"
    run.mkdir(parents=True)
    atomic_write_json(run / "run.json", {"budget_steps": 100_000})
    (run / "metrics.jsonl").write_text(json.dumps({"step": 5000, "elapsed_s": 1000.0, "sps": 5.0}) + "\n")
    (run / "checkpoint.pt").write_bytes(b"x")
    rows = [{"algo": "der", "game": "Krull", "seed": 0, "dir": "der/Krull/seed_0"}]

    def state():
        [status], _ = sweep_states(tmp_path, rows, use_slurm=False)
        return status.state, status.error

    assert state()[0] == "running"  # no lock file: fresh metrics decide, as before
    with exclusive_lock(run / ".train.lock", 1, lambda holder: holder):
        assert state() == ("running", "no sweep job: `atari100k train` run by hand")
    assert state() == ("missing", "stopped at step 5,000: `atari100k sweep` (or `train`) resumes it from its "
                                  "checkpoint")  # fresh metrics, but nobody holds the lock
    (run / "checkpoint.pt").unlink()
    assert state() == ("missing", "stopped at step 5,000 before its first checkpoint: it restarts from step 0")


def test_fewer_runs_than_runs_per_job_pack_only_those(capsys, tmp_path):
    ask = ["sweep", "--dry-run", "--out", str(tmp_path / "s"), "--executor", "slurm", "--games", "Pong",
           "--preset", "debug", "--runs-per-job", "4", "--gpus", "1", "--cpus", "2", "--mem", "8G"]
    assert main([*ask, "--seeds", "1"]) == 0
    plan = capsys.readouterr().out
    assert "1 GPU, 2 CPU, 8G per array task" in plan and "runs per array task" not in plan
    assert main([*ask, "--seeds", "6"]) == 0  # 6 runs: tasks of 4 (the last one trains 2)
    assert "4 runs per array task sharing 1 GPU, 8 CPU (2 per run), 32G" in capsys.readouterr().out


def test_zero_valued_slurm_flags_count_as_given_and_broken_folders_do_not_stop_a_sweep(capsys, tmp_path):
    ask = ["sweep", "--dry-run", "--out", str(tmp_path / "s"), "--executor", "local", "--games", "Pong,Breakout",
           "--seeds", "1", "--preset", "debug"]
    assert main([*ask, "--gpus", "0"]) == 2 and "--gpus applies to Slurm" in capsys.readouterr().err
    # A folder with a checkpoint but no run.json, another with a run.json of no spec: left to their jobs.
    (tmp_path / "s" / "dreamerv2" / "Pong" / "seed_0").mkdir(parents=True)
    (tmp_path / "s" / "dreamerv2" / "Pong" / "seed_0" / "checkpoint.pt").write_bytes(b"x")
    (tmp_path / "s" / "dreamerv2" / "Breakout" / "seed_0").mkdir(parents=True)
    atomic_write_json(tmp_path / "s" / "dreamerv2" / "Breakout" / "seed_0" / "run.json", {"budget_steps": 5})
    assert main(ask) == 0
    assert "submit 2" in capsys.readouterr().out


def test_the_rate_starts_after_the_random_prefill(tmp_path):
    """DER's first 1,600 steps (no updates) ran 30 steps/s, then 12: the early ETA promised 54 min
    for a 2.3 h run. Rows from before learning are left out; with one row inside learning, no rate."""
    from suite.runfolder import recent_rate
    from suite.state import sweep_states

    prefill = [{"step": 1000, "elapsed_s": 33.0, "updates": 0}]
    first = {"step": 2000, "elapsed_s": 66.0, "updates": 400}  # crosses into learning at 1,600
    assert recent_rate(prefill + [first]) is None
    later = [{"step": 2000 + 1000 * k, "elapsed_s": 66.0 + 83.0 * k, "updates": 400 + 1000 * k} for k in (1, 2)]
    assert recent_rate(prefill + [first] + later) == pytest.approx(2000 / 166.0)
    assert recent_rate(prefill + [{"step": 1500, "elapsed_s": 50.0, "updates": 0}]) is None  # still prefilling
    # Status shows no speed and no ETA then, rather than the whole run's average (prefill included).
    run = tmp_path / "der" / "Alien" / "seed_0"
    run.mkdir(parents=True)
    atomic_write_json(run / "run.json", {"budget_steps": 100_000})
    (run / "metrics.jsonl").write_text("".join(json.dumps(dict(r, time=time.time())) + "\n" for r in prefill + [first]))
    runs = [{"algo": "der", "game": "Alien", "seed": 0, "dir": "der/Alien/seed_0"}]
    [status], _ = sweep_states(tmp_path, runs, use_slurm=False)
    assert status.step == 2000 and status.sps is None and status.eta_s is None
    # Rows that do not count updates (runs of older code) keep the plain window.
    assert recent_rate([{"step": 0, "elapsed_s": 0.0}, {"step": 100, "elapsed_s": 10.0}]) == pytest.approx(10.0)
