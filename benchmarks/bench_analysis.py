"""Benchmark `atari100k table` on 10 algorithms x 100 runs x 26 games (target: <= 30 s, 2 cores).

    .venv/bin/python benchmarks/bench_analysis.py [--reps N]

Synthetic scores (seeded), written as a long CSV, then the CLI verb end to end with the
default bootstrap reps. Prints the wall time of each stage.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.commands import DEFAULT_REPS
from atari100k.cli import main
from atari100k.games import ATARI100K_GAMES


def synthetic_csv(path: Path, algorithms: int = 10, runs: int = 100) -> None:
    from analysis.baselines import human_random_scores

    table = human_random_scores()
    rng = np.random.default_rng(0)
    rows = []
    for a in range(algorithms):
        for g in ATARI100K_GAMES:
            random, human = table.loc[g, "random"], table.loc[g, "human"]
            hns = rng.lognormal(mean=np.log(0.2 + 0.05 * a), sigma=0.8, size=runs)
            for seed, h in enumerate(hns):
                rows.append((f"algo{a}", g, seed, 100_000, random + h * (human - random)))
    pd.DataFrame(rows, columns=["algorithm", "game", "seed", "step", "score"]).to_csv(path, index=False)


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scores.csv"
        start = time.perf_counter()
        synthetic_csv(path)
        made = time.perf_counter()
        for fmt in ("markdown", "json"):
            begin = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()) as out:
                code = main(["table", str(path), "--reps", str(args.reps), "--format", fmt])
            took = time.perf_counter() - begin
            assert code == 0, code
            print(f"table --format {fmt}: 10 algorithms x 100 runs x 26 games, {args.reps} bootstrap reps: "
                  f"{took:.1f} s (output {len(out.getvalue()):,} chars)")
        print(f"writing the synthetic CSV (26,000 rows) took {made - start:.1f} s")


if __name__ == "__main__":
    main_bench()
