"""Atari 100k learners (DreamerV2, DER, IQN): trains ONE (algorithm, game, seed) into ONE run folder, resumably.

The light parts (config, RunSpec) import without torch; the rest is loaded on first use,
so `import agent` stays cheap for `suite/` and the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

from agent.algorithms import ALGORITHMS, get_algorithm
from agent.config import resolve_config
from agent.spec import RunSpec

_LAZY = {
    "train_run": "agent.train",
    "RunResult": "agent.train",
    "lambda_return": "agent.dreamerv2.behavior",
}

__all__ = ["ALGORITHMS", "RunSpec", "get_algorithm", "resolve_config", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
