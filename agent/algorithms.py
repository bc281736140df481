"""The learners behind `--algo`: each one's config class, presets, label and learner factory.

Everything else of a run (env, protocol, step counting, run folder, checkpoints, evaluation,
progress, provenance, signals) is shared and lives in agent/train.py. Importing this module
does not import torch; `make_learner` loads the learner's module on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from agent.dqn.config import DER_PRESETS, IQN_PRESETS, DERConfig, IQNConfig
from agent.dreamerv2.config import PRESETS as DREAMER_PRESETS
from agent.dreamerv2.config import DreamerV2Config
from atari100k.errors import UsageError
from atari100k.suggest import did_you_mean


@dataclass(frozen=True)
class Algorithm:
    """One `--algo` choice."""

    name: str
    """The `--algo` value, recorded in run.json's spec."""
    label: str
    """How tables and figures name it ("DER" -> "DER (ours)")."""
    config_class: type
    """Root config dataclass (sections env, train, eval and the learner's own)."""
    presets: dict[str, dict[str, Any]]
    """Named presets: ordered dotted overrides on the defaults (every algorithm has atari100k and debug)."""
    learner: str
    """'module:Class' of the learner (agent.learner.Learner)."""


ALGORITHMS: dict[str, Algorithm] = {
    "dreamerv2": Algorithm("dreamerv2", "DreamerV2", DreamerV2Config, DREAMER_PRESETS,
                           "agent.dreamerv2.learner:DreamerLearner"),
    "der": Algorithm("der", "DER", DERConfig, DER_PRESETS, "agent.dqn.learner:DERLearner"),
    "iqn": Algorithm("iqn", "IQN", IQNConfig, IQN_PRESETS, "agent.dqn.learner:IQNLearner"),
}


def get_algorithm(name: str) -> Algorithm:
    """The algorithm called `name`, or UsageError listing the known ones."""
    if name not in ALGORITHMS:
        raise UsageError(f"unknown algorithm {name!r}; choose from: {', '.join(ALGORITHMS)}"
                         f"{did_you_mean(name, ALGORITHMS)}")
    return ALGORITHMS[name]


def learner_class(name: str) -> type:
    """The learner class of algorithm `name` (imports torch)."""
    module, _, cls = get_algorithm(name).learner.partition(":")
    return getattr(importlib.import_module(module), cls)
