"""Speed of the sweep suite's bookkeeping (not a test: prints figures).

1. Planning + `--dry-run` of 26 games x 100 seeds (2,600 runs per algorithm), through the CLI
   handler. Target: <= 10 s.
2. `status` over 2,600 synthetic run folders per algorithm (a mix of done, running, failed,
   missing), from the folders alone and with Slurm consulted when reachable. Target: <= 2 s.

    .venv/bin/python benchmarks/bench_suite.py [--seeds 100] [--algos dreamerv2,der,iqn]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atari100k.cli import main  # noqa: E402
from atari100k.fileio import atomic_write_json  # noqa: E402
from suite.manifest import write_manifest  # noqa: E402
from suite.scheduler import slurm_reachable  # noqa: E402
from suite.status import format_table, sweep_status  # noqa: E402
from suite.sweep import make_request  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def bench_dry_run(root: Path, seeds: int, algos: str) -> float:
    out = root / "dry"
    argv = ["sweep", "--algos", algos, "--games", "all", "--seeds", str(seeds), "--preset", "atari100k",
            "--out", str(out), "--dry-run",
            "--executor", "slurm" if slurm_reachable() is None else "local", "--partition", "debug", "--time", "00:30:00"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code, seconds = timed(lambda: main(argv))
    assert code == 0 and not out.exists(), buf.getvalue()
    print(buf.getvalue().splitlines()[0][:120])
    return seconds


def make_synthetic(root: Path, seeds: int, algos: str) -> Path:
    out = root / "synthetic"
    request, planned = make_request("all", str(seeds), ["atari100k"], [], None, out=out, algos=algos)
    write_manifest(request, planned, None)
    now = time.time()
    for index, run in enumerate(planned):
        d = out / run.rel_dir
        d.mkdir(parents=True)
        kind = index % 4
        if kind == 3:
            continue  # missing
        atomic_write_json(d / "run.json", {"budget_steps": 100_000, "spec": run.spec.to_dict()})
        atomic_write_json(d / "job.json", {"executor": "slurm", "job_id": f"{900000 + index // 1000}_{index % 1000}",
                                           "submitted_at": "t", "submitit_folder": "x", "sweep": request.name})
        step = 100_000 if kind == 0 else 1000 * (index % 97)
        with open(d / "metrics.jsonl", "w") as handle:
            for s in range(1000, step + 1, 1000):  # 100 rows for a finished run
                handle.write(json.dumps({"step": s, "frames": 4 * s, "time": now, "elapsed_s": s / 20,
                                         "sps": 20.0, "model/loss": 1.0}) + "\n")
        if kind == 0:
            atomic_write_json(d / "DONE", {"step": 100_000, "elapsed_s": 5000.0})
        if kind == 2:
            atomic_write_json(d / "FAILED", {"error": "RuntimeError: CUDA out of memory", "time": "t", "job_id": "x"})
    return out


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--algos", default="dreamerv2", help="algorithms of the sweep (default dreamerv2)")
    args = parser.parse_args()
    runs = 26 * args.seeds * len(args.algos.split(","))
    root = Path(tempfile.mkdtemp(prefix="bench_suite_"))
    try:
        dry = bench_dry_run(root, args.seeds, args.algos)
        print(f"plan + dry-run of {args.algos} x 26 x {args.seeds} = {runs} runs: {dry:.2f} s (target <= 10 s)")
        out, made = timed(lambda: make_synthetic(root, args.seeds, args.algos))
        print(f"(made {runs} synthetic run folders in {made:.1f} s)")
        status, folders = timed(lambda: sweep_status(out, use_slurm=False))
        table, fmt = timed(lambda: format_table(status))
        print(f"status over {len(status.rows)} run folders, folders only: {folders:.2f} s "
              f"+ table {fmt:.2f} s (target <= 2 s); totals {status.totals}")
        if slurm_reachable() is None:
            status, with_slurm = timed(lambda: sweep_status(out, use_slurm=True))
            print(f"status over {len(status.rows)} run folders, Slurm consulted: {with_slurm:.2f} s")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            _, cli = timed(lambda: main(["status", str(out), "--no-slurm"]))
        print(f"`atari100k status` (in-process, folders only): {cli:.2f} s")
        import subprocess

        for label, argv in (("status (cold CLI process, Slurm consulted if reachable)", ["status", str(out)]),
                            (f"sweep --dry-run {args.algos} x 26 x {args.seeds} (cold CLI process)",
                             ["sweep", "--algos", args.algos, "--games", "all", "--seeds", str(args.seeds),
                              "--preset", "atari100k", "--out", str(root / "dry2"), "--dry-run", "--time", "00:30:00",
                              "--partition", "debug"])):
            proc, seconds = timed(lambda: subprocess.run([sys.executable, "-m", "atari100k", *argv],
                                                          capture_output=True, text=True))
            assert proc.returncode == 0, proc.stderr
            print(f"{label}: {seconds:.2f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main_bench()
