"""Sweep request -> deterministic list of planned runs (pure python, no torch, no Slurm).

A sweep is games x seeds under one set of presets/overrides/budget. Each run gets its own
run folder `<sweep>/<Game>/seed_<k>/` (docs/DESIGN.md).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from agent import RunSpec
from agent.config import parse_set_args, resolve_config, split_presets
from atari100k.errors import UsageError
from atari100k.games import resolve_games

# Named game subsets on top of atari100k.games' `all`/`atari100k` (26) and `atari57`.
GAME_SUBSETS: dict[str, tuple[str, ...]] = {
    # Five quick, well-separated games for pilots: a sweep that says something in hours.
    "dev": ("Pong", "Breakout", "Boxing", "Freeway", "MsPacman"),
}

_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_seeds(text: str | int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """`5` -> (0..4) (a count); `0,3,7` or `3,` -> a list; `10-14` -> a range (inclusive).

    Raises UsageError on zero seeds, negatives, repeats or junk.
    """
    if isinstance(text, (list, tuple)):
        seeds = tuple(int(s) for s in text)
    elif isinstance(text, int) or str(text).strip().isdigit():
        count = int(text)
        if count <= 0:
            raise UsageError(f"--seeds {text}: need at least one seed (a count like 5, a list like 0,3,7 or a range like 0-4)")
        seeds = tuple(range(count))
    else:
        seeds_list: list[int] = []
        for item in (i.strip() for i in str(text).split(",")):
            if not item:
                continue
            match = _RANGE.match(item)
            if match:
                lo, hi = int(match.group(1)), int(match.group(2))
                if hi < lo:
                    raise UsageError(f"--seeds: empty range {item!r}; write it low-high, e.g. 0-4")
                seeds_list.extend(range(lo, hi + 1))
            elif item.isdigit():
                seeds_list.append(int(item))
            else:
                raise UsageError(f"--seeds: bad seed {item!r}; use a count (5), a list (0,3,7) or a range (0-4)")
        seeds = tuple(seeds_list)
    if not seeds:
        raise UsageError("--seeds: no seeds given; use a count (5), a list (0,3,7) or a range (0-4)")
    if any(s < 0 for s in seeds):
        raise UsageError("--seeds: seeds must be >= 0")
    if len(set(seeds)) != len(seeds):
        raise UsageError("--seeds: a seed is listed twice")
    return seeds


def parse_games(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Canonical game names from `all`, a named subset, or a comma list (aliases allowed)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    expanded: list[str] = []
    for item in (i.strip() for i in items):
        expanded.extend(GAME_SUBSETS.get(item.lower(), (item,)))
    return tuple(resolve_games(expanded))


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its spec and its folder relative to the sweep folder."""

    spec: RunSpec
    """What to train (game, seed, presets, overrides, steps)."""
    rel_dir: str
    """Run folder relative to the sweep folder: `<Game>/seed_<k>`."""

    @property
    def key(self) -> str:
        """Stable identifier of the run inside its sweep (`Pong/seed_0`)."""
        return self.rel_dir


@dataclass(frozen=True)
class SweepRequest:
    """What the user asked for. Validated by `make`; everything else derives from it."""

    name: str
    """Sweep name; the default folder is `results/<name>`."""
    out: Path
    """Sweep folder (holds sweep.json, the run folders and submitit/)."""
    games: tuple[str, ...]
    """Canonical game names, in the order asked."""
    seeds: tuple[int, ...]
    """Seeds, in the order asked."""
    presets: tuple[str, ...]
    """Presets applied in order."""
    overrides: tuple[str, ...]
    """Dotted `key=value` overrides."""
    steps: int | None
    """Budget override in agent steps (None = the presets' train.steps)."""

    @classmethod
    def make(
        cls,
        games: str | list[str] | tuple[str, ...] = "all",
        seeds: str | int | list[int] | tuple[int, ...] = 5,
        presets: str | list[str] | tuple[str, ...] | None = None,
        overrides: list[str] | tuple[str, ...] = (),
        steps: int | None = None,
        name: str | None = None,
        out: str | Path | None = None,
        results_root: str | Path = "results",
    ) -> "SweepRequest":
        """Validate everything (UsageError with one line) before anything is written."""
        preset_names = split_presets(presets)
        if steps is not None and steps <= 0:
            raise UsageError(f"--steps {steps}: the budget must be > 0 agent steps")
        parsed = parse_set_args(list(overrides))
        resolve_config(preset_names, parsed, steps)  # unknown keys / bad values -> UsageError
        if name is None:
            name = Path(out).name if out is not None else "-".join(preset_names)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only")
        return cls(
            name=name,
            out=Path(out) if out is not None else Path(results_root) / name,
            games=parse_games(games),
            seeds=parse_seeds(seeds),
            presets=preset_names,
            overrides=tuple(f"{k}={v}" for k, v in parsed.items()),
            steps=steps,
        )

    def budget_steps(self) -> int:
        """The budget of every run of this sweep, in agent steps."""
        return resolve_config(self.presets, list(self.overrides), self.steps).train.steps

    def settings(self) -> dict:
        """What must be identical between two invocations on the same sweep folder."""
        return {"presets": list(self.presets), "overrides": list(self.overrides), "steps": self.steps}


def run_dir_name(game: str, seed: int) -> str:
    """`Pong`, 3 -> `Pong/seed_3` (the run folder under the sweep folder)."""
    return f"{game}/seed_{seed}"


def plan_runs(request: SweepRequest) -> list[PlannedRun]:
    """Games x seeds, game-major, in the order asked. Deterministic."""
    # The config does not depend on game or seed: validate once via RunSpec.make, then
    # copy with dataclasses.replace (2,600 full validations would take seconds).
    template = RunSpec.make(request.games[0], request.seeds[0], request.presets, request.overrides, request.steps)
    return [
        PlannedRun(dataclasses.replace(template, game=game, seed=seed), run_dir_name(game, seed))
        for game in request.games
        for seed in request.seeds
    ]
