"""Maintainer tool: regenerate the shipped baseline files from the reference data folder.

    python analysis/data/build_data.py /path/to/reference   # e.g. ../shared/reference

Reads `human_random_scores.csv`, `atari100k_published_scores.csv` and
`dopamine_baselines.csv` from that folder (see its README for provenance) and writes,
next to this script:

- `human_random.csv`          game, random, human (57 games)
- `atari100k_scores.csv.gz`   algorithm, game, run, score: per-run Atari 100k final scores,
                              only rows whose provenance is a released data file (or a
                              released learning curve, labelled "derived"); file order kept,
                              so "the first N runs" means what it meant in the source.
- `dopamine_curves.csv.gz`    algorithm, game, seed, iteration, score: Dopamine's legacy
                              DQN/C51/Rainbow/IQN curves, the 26 Atari 100k games, all 199
                              1M-frame iterations, 5 seeds.

The package never runs this script and never reads the reference folder; it reads only
the files written here. SOURCES.md documents where every file comes from.
"""

from __future__ import annotations

import argparse
import gzip
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


def _write_gzip_csv(frame: pd.DataFrame, path: Path) -> None:
    # %.7g: the sources are float32 (about 7 digits). mtime=0 keeps the bytes reproducible, so a rebuild only shows up in git if data changed.
    text = frame.to_csv(index=False, float_format="%.7g")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
        out.write(text.encode())


def build(reference: Path) -> None:
    human = pd.read_csv(reference / "human_random_scores.csv")
    human[["game", "random", "human"]].to_csv(HERE / "human_random.csv", index=False)

    scores = pd.read_csv(reference / "atari100k_published_scores.csv", dtype={"run": str})
    keep = scores["algorithm"].isin(SHIPPED) & scores["provenance"].str.startswith(ALLOWED_PROVENANCE)
    scores = scores[keep & ~scores["provenance"].str.contains("recalled")].copy()
    scores["algorithm"] = scores["algorithm"].map(SHIPPED)
    missing = set(SHIPPED.values()) - set(scores["algorithm"])
    if missing:
        raise SystemExit(f"reference file lacks {sorted(missing)}")
    _write_gzip_csv(scores[["algorithm", "game", "run", "score"]], HERE / "atari100k_scores.csv.gz")

    atari100k = set(human.loc[human["in_atari100k"].astype(bool), "game"])
    curves = pd.read_csv(reference / "dopamine_baselines.csv")
    curves = curves[curves["algorithm"].isin(DOPAMINE_AGENTS) & curves["game"].isin(atari100k)]
    curves = curves[["algorithm", "game", "seed", "iteration", "score"]]
    _write_gzip_csv(curves, HERE / "dopamine_curves.csv.gz")
    print(f"human_random.csv: {len(human)} games; atari100k_scores.csv.gz: {len(scores)} rows "
          f"({scores['algorithm'].nunique()} algorithms); dopamine_curves.csv.gz: {len(curves)} rows")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference", type=Path, help="the reference data folder (../shared/reference)")
    build(parser.parse_args().reference)
