"""RunSpec: what one run is (algorithm, game, seed, presets, overrides, budget). Pure Python, no torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from agent.algorithms import get_algorithm
from agent.config import DEFAULT_ALGO, MAX_INT, AnyConfig, parse_set_args, resolve_config, split_presets
from atari100k.errors import UsageError
from atari100k.games import canonical_game

MAX_SEED = MAX_INT
"""The largest seed: every RNG the run seeds from it (torch, numpy, ALE's 32-bit seed) takes it whole."""


@dataclass(frozen=True)
class RunSpec:
    """One (algorithm, game, seed, presets, overrides) run. `steps` overrides train.steps when set."""

    game: str
    """Canonical game name (`MsPacman`); aliases are resolved by `make`."""
    seed: int
    """Seed of everything random in the run (torch, numpy, the environments)."""
    presets: tuple[str, ...] = ("atari100k",)
    """Presets applied in order on the defaults (the algorithm's presets, agent.algorithms)."""
    overrides: tuple[str, ...] = field(default_factory=tuple)
    """Dotted overrides `key=value`, applied after the presets."""
    steps: int | None = None
    """Budget in agent steps, overriding the presets' train.steps (None = keep)."""
    algo: str = DEFAULT_ALGO
    """The learner (agent.algorithms: dreamerv2, der, iqn); presets and config keys are its own."""

    @classmethod
    def make(
        cls,
        game: str,
        seed: int,
        presets: list[str] | tuple[str, ...] | str | None = None,
        overrides: list[str] | tuple[str, ...] = (),
        steps: int | None = None,
        algo: str = DEFAULT_ALGO,
    ) -> "RunSpec":
        """Validated constructor: canonical game, known presets, parseable overrides."""
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise UsageError(f"bad seed {seed!r}; seeds are integers from 0 to {MAX_SEED:,}")
        get_algorithm(algo)  # UsageError listing the algorithms
        if steps is not None and steps <= 0:
            raise UsageError(f"bad --steps {steps}; the budget must be > 0 agent steps")
        spec = cls(
            game=canonical_game(game),
            seed=seed,
            presets=split_presets(presets, algo),
            overrides=tuple(f"{k}={v}" for k, v in parse_set_args(list(overrides)).items()),
            steps=steps,
            algo=algo,
        )
        spec.config()  # raises UsageError on unknown keys or bad values
        return spec

    def config(self) -> AnyConfig:
        """The fully resolved config of this run (the algorithm's config class)."""
        return resolve_config(self.presets, list(self.overrides), self.steps, self.algo)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (as saved in run.json under `spec`)."""
        data = asdict(self)
        data["presets"] = list(self.presets)
        data["overrides"] = list(self.overrides)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        """Inverse of to_dict."""
        return cls.make(
            data["game"], int(data["seed"]), tuple(data["presets"]),
            tuple(data.get("overrides", ())), data.get("steps"), data.get("algo", DEFAULT_ALGO),
        )
