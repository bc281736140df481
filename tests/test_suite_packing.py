"""Packing several runs into one array task (`--runs-per-job K`, issue 8) without Slurm: the plan,
the resources asked, the CPU split, a packed task's isolation of a crashing run, and the
README's 26-game sweep planned by --dry-run on a machine whose Slurm does not answer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from atari100k.cli import main
from atari100k.fileio import atomic_write_json
from suite.packed import PackedRunJob, cpu_shares, threads_per_run
from suite.profile import SlurmProfile, load_profile, with_flags
from suite.slurm_executor import chunks
from suite.state import sweep_states
from tests.test_suite_plan import unreachable_slurm


def test_tasks_ask_for_k_times_the_cpus_and_memory_of_a_run_and_share_the_gpu() -> None:
    one = SlurmProfile(gpus=1, cpus=2, mem="8G").submitit_parameters()
    four = with_flags(SlurmProfile(gpus=1, cpus=2, mem="8G"), runs_per_job=4).submitit_parameters()
    assert (one["cpus_per_task"], one["mem_gb"], one["gpus_per_node"]) == (2, 8.0, 1)
    assert (four["cpus_per_task"], four["mem_gb"], four["gpus_per_node"]) == (8, 32.0, 1)
    with pytest.raises(Exception, match="runs-per-job"):
        with_flags(SlurmProfile(), runs_per_job=0)


def test_a_profile_can_set_runs_per_job(tmp_path: Path) -> None:
    path = tmp_path / "packed.toml"
    path.write_text('gpus = 1\ncpus = 2\nruns_per_job = 4\n')
    assert load_profile(str(path)).runs_per_job == 4


def test_runs_are_packed_in_order_and_packs_chunked_into_arrays() -> None:
    packs = chunks(list(range(10)), 4)
    assert packs == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(array) for array in chunks(packs, 2)] == [2, 1]


def test_each_run_of_a_task_gets_its_own_cores() -> None:
    assert cpu_shares([0, 1, 2, 3, 4, 5, 6, 7], 4) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert cpu_shares([0, 1, 2, 3, 4], 2) == [[0, 1, 2], [3, 4]]
    assert cpu_shares([3], 2) == [[3], [3]]  # fewer cores than runs: they share, one thread each
    assert threads_per_run(8, 4) == 2 and threads_per_run(1, 2) == 1


def stand_in_trainer(spec, run_dir, stop=None, progress=False):
    """A trainer for the packing tests: seed 1 crashes, every other seed finishes at once."""
    run_dir = Path(run_dir)
    if spec.seed == 1:
        raise RuntimeError(f"boom in {spec.game} seed 1")
    atomic_write_json(run_dir / "DONE", {"step": 10, "pid": os.getpid()})
    return "done"


def test_a_crashing_run_fails_alone_and_the_task_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent import RunSpec

    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")
    dirs = [tmp_path / "dreamerv2/Pong/seed_0", tmp_path / "dreamerv2/Pong/seed_1"]
    for run_dir in dirs:
        run_dir.mkdir(parents=True)
        atomic_write_json(run_dir / "job.json", {"executor": "slurm", "job_id": "77_0",
                                                 "task_runs": ["dreamerv2/Pong/seed_0", "dreamerv2/Pong/seed_1"]})
    specs = [RunSpec.make("Pong", seed, ["debug"]).to_dict() for seed in (0, 1)]
    job = PackedRunJob("tests.test_suite_packing:stand_in_trainer")
    with pytest.raises(RuntimeError, match=r"1 of 2 runs failed \(see FAILED in .*seed_1\)"):
        job(specs, [str(d) for d in dirs])
    done = json.loads((dirs[0] / "DONE").read_text())
    assert done["pid"] != os.getpid()  # trained in a worker process of its own
    failed = json.loads((dirs[1] / "FAILED").read_text())
    assert failed["error"] == "RuntimeError: boom in Pong seed 1" and failed["job_id"] == "77_0"
    rows, _ = sweep_states(tmp_path, [{"algo": "dreamerv2", "game": "Pong", "seed": s, "dir": f"dreamerv2/Pong/seed_{s}"}
                                      for s in (0, 1)], use_slurm=False)
    assert [(r.state, r.job_id, r.task_runs) for r in rows] == [("done", "77_0", 2), ("failed", "77_0", 2)]


def test_the_readme_benchmark_sweep_plans_off_the_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    """`sweep --executor slurm --dry-run` on a laptop (Slurm's tools present, no controller): the plan
    with its arrays, cap, resources and packing; nothing written. Submitting still needs Slurm."""
    unreachable_slurm(tmp_path, monkeypatch)
    out = tmp_path / "sweep"
    args = ["sweep", "--games", "all", "--seeds", "5", "--algos", "dreamerv2,der,iqn", "--preset", "atari100k",
            "--executor", "slurm", "--partition", "gpu", "--gpus", "1", "--cpus", "4", "--mem", "32G",
            "--time", "12:00:00", "--runs-per-job", "4", "--max-parallel", "20", "--out", str(out)]
    assert main([*args, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "390 runs, algos dreamerv2,der,iqn" in printed and "submit 390" in printed
    assert ("partition gpu, 4 runs per array task sharing 1 GPU, 16 CPU (4 per run), 128G (32G per run), "
            "time 12:00:00; 98 array tasks in 1 array, at most 20 at once") in printed
    assert "Slurm is not reachable from here" in printed and "dry run: nothing submitted" in printed
    assert not out.exists()
    assert main(args) == 2 and "Slurm is not reachable" in capsys.readouterr().err
    assert not out.exists()
