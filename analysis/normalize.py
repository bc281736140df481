"""Human-normalised scores: HNS = (score - random) / (human - random); 1.0 = human."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.baselines import human_random_scores
from atari100k.errors import UsageError


def human_normalized(scores: np.ndarray | pd.Series | float, game: str) -> np.ndarray | pd.Series | float:
    """HNS of raw `scores` (any shape) on one canonical `game`."""
    table = human_random_scores()
    if game not in table.index:
        raise UsageError(f"no human/random score for game {game!r}")
    random, human = table.loc[game, "random"], table.loc[game, "human"]
    return (scores - random) / (human - random)


def add_hns(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of a long score table with an `hns` column (score column: `score`, game column: `game`)."""
    table = human_random_scores()
    unknown = sorted(set(frame["game"]) - set(table.index))
    if unknown:
        raise UsageError(f"no human/random score for game(s) {', '.join(unknown)}")
    random = frame["game"].map(table["random"])
    human = frame["game"].map(table["human"])
    out = frame.copy()
    out["hns"] = (out["score"] - random) / (human - random)
    return out
