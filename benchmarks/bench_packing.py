"""Runs per hour with K runs packed per array task (`--runs-per-job K`): not a test, prints figures.

--slurm (default): the same sweep (4 runs of the given algorithm and preset, --steps each) submitted
  to the reachable Slurm once per K, `--wait`ed for; runs per hour from submission to the last DONE.
  On a CPU node: `--cpus` cores per run, at most `--cores` cores in use at once (the array's %N is
  cores // (K * cpus)), so every K uses the same cores.
--processes: K `atari100k train` processes at once on this machine (e.g. a GPU box without
  Slurm), each for --steps; runs per hour = K / wall clock. Use it for runs per GPU-hour.

    .venv/bin/python benchmarks/bench_packing.py --ks 1,2 --steps 2000          # the local Slurm, CPU
    python3 benchmarks/bench_packing.py --processes --ks 1,2,4 --steps 3000     # one GPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--set", "eval.episodes=1", "--set", "env.max_episode_frames=1000"]


def slurm_runs_per_hour(k: int, args: argparse.Namespace, root: Path) -> dict:
    """Submit 4 runs with K per task, wait, and time it."""
    out = Path(tempfile.mkdtemp(prefix=f"k{k}-", dir=root))
    parallel = max(1, args.cores // (k * args.cpus))
    command = [sys.executable, "-m", "atari100k", "sweep", "--algos", args.algo, "--games", "Pong,Breakout",
               "--seeds", "2", "--preset", args.preset, "--steps", str(args.steps), *FAST, "--executor", "slurm",
               "--profile", "local", "--cpus", str(args.cpus), "--runs-per-job", str(k), "--max-parallel",
               str(parallel), "--out", str(out), "--wait", "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"K={k}: sweep failed:\n{done.stdout}\n{done.stderr}")
    return {"k": k, "runs": 4, "tasks_at_once": parallel, "wall_s": round(wall, 1),
            "runs_per_hour": round(4 * 3600 / wall, 1)}


def process_runs_per_hour(k: int, args: argparse.Namespace, root: Path) -> dict:
    """K train processes at once, each --steps long."""
    threads = max(1, (os.cpu_count() or 1) // k)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    root = Path(tempfile.mkdtemp(prefix=f"k{k}-", dir=root))
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "atari100k", "train", "Pong", "--seed", str(seed), "--algo",
                               args.algo, "--preset", args.preset, "--steps", str(args.steps), *FAST,
                               "--out", str(root / f"seed_{seed}"), "--no-progress"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for seed in range(k)]
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"K={k}: a run failed:\n" + "\n".join(e[-2000:] for e in errors))
    return {"k": k, "steps": args.steps, "threads_per_run": threads, "wall_s": round(wall, 1),
            "runs_per_hour_at_these_steps": round(k * 3600 / wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", action="store_true", help="K processes on this machine instead of Slurm")
    parser.add_argument("--ks", default="1,2", help="the K values, e.g. 1,2,4")
    parser.add_argument("--algo", default="dreamerv2")
    parser.add_argument("--preset", default="debug")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--cpus", type=int, default=1, help="--slurm: CPUs per run")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="--slurm: cores to fill")
    args = parser.parse_args()
    measure = process_runs_per_hour if args.processes else slurm_runs_per_hour
    with tempfile.TemporaryDirectory(prefix="bench_packing_") as tmp:
        for k in (int(k) for k in args.ks.split(",")):
            print(json.dumps({"mode": "processes" if args.processes else "slurm", "algo": args.algo,
                              "preset": args.preset, **measure(k, args, Path(tmp))}), flush=True)


if __name__ == "__main__":
    main()
