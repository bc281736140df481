"""Maintainer tool: regenerate the shipped baseline files from the reference data folder.

    python analysis/data/build_data.py /path/to/reference --snapshots /path/to/snapshots
    # e.g. ../shared/reference and /work/.mirror

Reads `human_random_scores.csv`, `atari100k_published_scores.csv` and
`dopamine_baselines.csv` from the reference folder (see its README for provenance), and
the per-run files released since (STORM, TWM, Delta-IRIS, Simulus) and DreamerV2's own
Atari curves straight from repository snapshots: `<snapshots>/<owner>+<name>/repo` is a
bare git directory of github.com/<owner>/<name> (the layout of the `fetch` tool), read
with `git show <commit>:<path>` at the commits pinned in RELEASED_RUNS / DREAMERV2_CURVES.
Writes, next to this script:

- `human_random.csv`          game, random, human (57 games)
- `atari100k_scores.csv.gz`   algorithm, game, run, score: per-run Atari 100k final scores,
                              only rows whose provenance is a released data file (or a
                              released learning curve, labelled "derived"); file order kept,
                              so "the first N runs" means what it meant in the source.
                              The reference rows come first, unchanged; the released files'
                              rows are appended (RELEASED_RUNS order, games and runs in
                              file order, `run` = position in the game's list, from 1).
- `dopamine_curves.csv.gz`    algorithm, game, seed, iteration, score: Dopamine's legacy
                              DQN/C51/Rainbow/IQN curves, the 26 Atari 100k games, all 199
                              1M-frame iterations, 5 seeds.
- `der_eval_curves.csv.gz`    algorithm, game, run, iteration, score: the shipped DER runs' 10
                              evaluations (100 episodes each, iteration i after about
                              (i+1)*10,000 training steps); iteration 9 = the final score.
- `dreamerv2_curves.csv.gz`   algorithm, game, seed, iteration, score: DreamerV2's own
                              200M-frame Atari curves (danijar/dreamerv2 scores/), the 26
                              Atari 100k games, iteration i = frames (i*1M, (i+1)*1M],
                              seed = the file's seed label; scores exactly as released.

The package never runs this script and never reads the reference folder; it reads only
the files written here. SOURCES.md documents where every file comes from.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

# Source name in the reference file -> the name shipped. Everything not listed is left
# out: paper tables (means only, or recalled from memory), PlayVirtual (undocumented origin).
SHIPPED = {
    "DER": "DER",
    "OTRainbow": "OTRainbow",
    "SPR": "SPR",
    "DrQ(eps)": "DrQ(eps)",
    "DrQ": "DrQ",
    "CURL": "CURL",
    "SimPLe": "SimPLe",
    "IRIS": "IRIS",
    "DIAMOND": "DIAMOND",
    "BBF": "BBF",
    "DreamerV3 (2023 curves; derived)": "DreamerV3 (derived)",
    "DreamerV3 (2024 curves; derived)": "DreamerV3-2024 (derived)",
}
ALLOWED_PROVENANCE = ("per_run_data_file", "per_run_derived_from_training_curves")
DOPAMINE_AGENTS = ("DQN", "C51", "Rainbow", "IQN")


@dataclass(frozen=True)
class Released:
    """A released data file: `path` in github.com/`repo` at `commit` (SOURCES.md cites each)."""

    name: str
    """The `algorithm` value its rows carry in the shipped file."""
    repo: str
    commit: str
    path: str


# Per-run final scores released since the reference folder was assembled: JSON objects
# {"<Game>": [score of run 1, run 2, ...]} for the 26 Atari 100k games, appended in this order.
RELEASED_RUNS = (
    Released("STORM", "weipu-zhang/STORM", "1c50658e379d9470ba934f16ee72e810fc503f4e", "results/storm.json"),
    Released("TWM", "jrobine/twm", "e6a8e599864f5539b166ee9a8d173ece8f3fba84", "results/scores.json"),
    Released("Delta-IRIS", "vmicheli/delta-iris", "f8d417321717a3d7012488785d7cdc66b62455dd", "results/atari.json"),
    Released("Simulus", "leor-c/Simulus", "c1e75e9c98699dfde47190b03420e12a519d7245",
             "results/data/atari/Simulus.json"),
)
# A list of {"task": "atari_<game>", "method", "seed", "xs": frames, "ys": scores}; only method "dreamerv2"
# (the file also holds "nosched", an ablation without schedules).
DREAMERV2_CURVES = Released("DreamerV2", "danijar/dreamerv2", "07d906e9c4322c6fc2cd6ed23e247ccd6b7c8c41",
                            "scores/atari-dreamerv2.json")
# Per-run evaluation curves of the shipped DER runs: one file per game, a list of {"iteration": 0-9,
# "eval_average_return", "game", "run_number": 1-100, "agent": "DER"} (iteration 9 = the shipped final score).
DER_EVAL_CURVES = Released("DER", "RLE-Foundation/rllte", "ddd76d5ac244097975f55893092027ddba21709f",
                           "hsuanwu/evaluation/atari_100k/DER/{game}.json")
DER_ITERATIONS = 10
DREAMERV2_METHOD = "dreamerv2"
DREAMERV2_BIN_FRAMES = 1_000_000


def _write_gzip_csv(frame: pd.DataFrame, path: Path, float_format: str | None = "%.7g") -> None:
    # %.7g: the reference sources are float32 (about 7 digits); None writes every float exactly (shortest
    # round trip). mtime=0 keeps the bytes reproducible, so a rebuild only shows up in git if data changed.
    text = frame.to_csv(index=False, float_format=float_format)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
        out.write(text.encode())


def _snapshot_file(snapshots: Path, source: Released) -> bytes:
    """The bytes of `source.path` at `source.commit` in the snapshot of `source.repo`."""
    git_dir = snapshots / source.repo.replace("/", "+") / "repo"
    if not git_dir.is_dir():
        raise SystemExit(f"no snapshot of {source.repo} at {git_dir} (fetch github:{source.repo})")
    result = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{source.commit}:{source.path}"],
                            capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"{source.repo}@{source.commit[:7]}: cannot read {source.path}: "
                         f"{result.stderr.decode().strip()}")
    return result.stdout


def released_runs(snapshots: Path, games: list[str]) -> pd.DataFrame:
    """Rows `algorithm, game, run, score` of every RELEASED_RUNS file (file order; run = position from 1)."""
    rows = []
    for source in RELEASED_RUNS:
        data = json.loads(_snapshot_file(snapshots, source))
        where = f"{source.repo}@{source.commit[:7]} {source.path}"
        if set(data) != set(games):
            raise SystemExit(f"{where}: games differ from the 26 Atari 100k games: "
                             f"extra {sorted(set(data) - set(games))}, missing {sorted(set(games) - set(data))}")
        for game, scores in data.items():
            if not scores:
                raise SystemExit(f"{where}: no runs for {game}")
            for index, score in enumerate(scores):
                score = float(score)
                if float(f"{score:.7g}") != score:  # the shipped file keeps 7 significant digits
                    raise SystemExit(f"{where}: {game} run {index + 1} = {score!r} needs more than 7 digits")
                rows.append((source.name, game, str(index + 1), score))
    return pd.DataFrame(rows, columns=["algorithm", "game", "run", "score"])


def dreamerv2_curves(snapshots: Path, games: list[str]) -> pd.DataFrame:
    """DreamerV2's released Atari curves for `games`: `algorithm, game, seed, iteration, score`.

    The file's points are the scores binned every 1M frames by the reference's plot script:
    x = (i+1)*1M holds the mean over frames (i*1M, (i+1)*1M], kept here as iteration i (the
    Dopamine curves' convention). Seeds keep the file's labels. Game-major (the order of
    `games`), then seed, then iteration.
    """
    records = json.loads(_snapshot_file(snapshots, DREAMERV2_CURVES))
    by_key = {game.lower(): game for game in games}
    rows = []
    for record in records:
        if record["method"] != DREAMERV2_METHOD:
            continue
        game = by_key.get(record["task"].removeprefix("atari_").replace("_", ""))
        if game is None:
            continue
        for index, (x, y) in enumerate(zip(record["xs"], record["ys"], strict=True)):
            if x != (index + 1) * DREAMERV2_BIN_FRAMES:
                raise SystemExit(f"{DREAMERV2_CURVES.path}: {record['task']} seed {record['seed']}: "
                                 f"point {index} at {x} frames, not {(index + 1) * DREAMERV2_BIN_FRAMES}")
            rows.append((DREAMERV2_CURVES.name, game, int(record["seed"]), index, float(y)))
    curves = pd.DataFrame(rows, columns=["algorithm", "game", "seed", "iteration", "score"])
    if set(curves["game"]) != set(games):
        raise SystemExit(f"{DREAMERV2_CURVES.path}: lacks {sorted(set(games) - set(curves['game']))}")
    order = {game: i for i, game in enumerate(games)}
    curves = curves.sort_values(["game", "seed", "iteration"], key=lambda c: c.map(order) if c.name == "game" else c)
    return curves.reset_index(drop=True)


def der_eval_curves(snapshots: Path, games: list[str], finals: pd.DataFrame) -> pd.DataFrame:
    """DER's per-run evaluation curves: `algorithm, game, run, iteration, score` (games in `games` order,
    runs 1-100, iterations 0-9). Checked: every run has the 10 iterations, and iteration 9 equals
    the run's shipped final score (`finals`: the DER rows of atari100k_scores, `game, run, score`)."""
    rows = []
    for game in games:
        source = Released(DER_EVAL_CURVES.name, DER_EVAL_CURVES.repo, DER_EVAL_CURVES.commit,
                          DER_EVAL_CURVES.path.format(game=game))
        where = f"{source.repo}@{source.commit[:7]} {source.path}"
        records = json.loads(_snapshot_file(snapshots, source))
        frame = pd.DataFrame(records)
        if set(frame["agent"]) != {"DER"} or set(frame["game"]) != {game}:
            raise SystemExit(f"{where}: expected DER rows of {game} only")
        frame = frame.sort_values(["run_number", "iteration"], kind="stable")
        counts = frame.groupby("run_number")["iteration"].apply(list)
        if any(its != list(range(DER_ITERATIONS)) for its in counts):
            raise SystemExit(f"{where}: a run lacks iterations 0-{DER_ITERATIONS - 1} (or repeats one)")
        last = frame[frame["iteration"] == DER_ITERATIONS - 1]
        shipped = finals[finals["game"] == game]
        mine = [float(f"{v:.7g}") for v in last["eval_average_return"]]
        if list(shipped["run"].astype(int)) != list(last["run_number"]) or mine != list(shipped["score"]):
            raise SystemExit(f"{where}: iteration {DER_ITERATIONS - 1} differs from the shipped DER final scores")
        rows += [("DER", game, int(r.run_number), int(r.iteration), float(r.eval_average_return))
                 for r in frame.itertuples()]
    return pd.DataFrame(rows, columns=["algorithm", "game", "run", "iteration", "score"])


def build(reference: Path, snapshots: Path) -> None:
    human = pd.read_csv(reference / "human_random_scores.csv")
    human[["game", "random", "human"]].to_csv(HERE / "human_random.csv", index=False)
    games = list(human.loc[human["in_atari100k"].astype(bool), "game"])

    scores = pd.read_csv(reference / "atari100k_published_scores.csv", dtype={"run": str})
    keep = scores["algorithm"].isin(SHIPPED) & scores["provenance"].str.startswith(ALLOWED_PROVENANCE)
    scores = scores[keep & ~scores["provenance"].str.contains("recalled")].copy()
    scores["algorithm"] = scores["algorithm"].map(SHIPPED)
    missing = set(SHIPPED.values()) - set(scores["algorithm"])
    if missing:
        raise SystemExit(f"reference file lacks {sorted(missing)}")
    scores = pd.concat([scores[["algorithm", "game", "run", "score"]], released_runs(snapshots, games)],
                       ignore_index=True)
    _write_gzip_csv(scores, HERE / "atari100k_scores.csv.gz")

    atari100k = set(games)
    curves = pd.read_csv(reference / "dopamine_baselines.csv")
    curves = curves[curves["algorithm"].isin(DOPAMINE_AGENTS) & curves["game"].isin(atari100k)]
    curves = curves[["algorithm", "game", "seed", "iteration", "score"]]
    _write_gzip_csv(curves, HERE / "dopamine_curves.csv.gz")

    der = der_eval_curves(snapshots, games, pd.read_csv(HERE / "atari100k_scores.csv.gz", dtype={"run": str})
                          .query("algorithm == 'DER'"))
    _write_gzip_csv(der, HERE / "der_eval_curves.csv.gz")

    dreamer = dreamerv2_curves(snapshots, games)
    _write_gzip_csv(dreamer, HERE / "dreamerv2_curves.csv.gz", float_format=None)
    print(f"human_random.csv: {len(human)} games; atari100k_scores.csv.gz: {len(scores)} rows "
          f"({scores['algorithm'].nunique()} algorithms); dopamine_curves.csv.gz: {len(curves)} rows; "
          f"dreamerv2_curves.csv.gz: {len(dreamer)} rows; der_eval_curves.csv.gz: {len(der)} rows")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference", type=Path, help="the reference data folder (../shared/reference)")
    parser.add_argument("--snapshots", type=Path, required=True,
                        help="folder of repository snapshots, <owner>+<name>/repo bare git dirs (e.g. /work/.mirror)")
    args = parser.parse_args()
    build(args.reference, args.snapshots)
