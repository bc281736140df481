"""Sweep request -> deterministic list of planned runs (pure python, no torch, no Slurm).

A sweep is algorithms x games x seeds under one set of presets/overrides/budget (each
algorithm resolves them with its own presets and config keys). Each run gets its own run
folder `<sweep>/<algo>/<Game>/seed_<k>/` (docs/DESIGN.md).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from agent import ALGORITHMS, RunSpec
from agent.spec import MAX_SEED
from agent.config import DEFAULT_ALGO, AnyConfig, parse_set_args, resolve_config, split_presets
from atari100k.errors import UsageError
from atari100k.outpaths import check_output_folder
from atari100k.games import resolve_games
from atari100k.suggest import did_you_mean

# Named game subsets on top of atari100k.games' `all`/`atari100k` (26) and `atari57`.
GAME_SUBSETS: dict[str, tuple[str, ...]] = {
    # Five quick, well-separated games for pilots: a sweep that says something in hours.
    "dev": ("Pong", "Breakout", "Boxing", "Freeway", "MsPacman"),
}

_RANGE = re.compile(r"^(\d+)-(\d+)$")


MAX_SEEDS = 10_000
"""The most seeds per game a sweep plans (a typo like 0-99999999999 would otherwise exhaust memory)."""


def parse_seeds(text: str | int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """`5` -> (0..4) (a count); `0,3,7` or `3,` -> a list; `10-14` -> a range (inclusive).

    Raises UsageError on zero seeds, negatives, repeats or junk.
    """
    if isinstance(text, str) and re.search(r"\d{11}", text):  # beyond any seed; int() of 4,300+ digits raises
        raise UsageError(f"--seeds {text[:20]}{'...' if len(text) > 20 else ''}: seeds are at most {MAX_SEED:,}")
    if isinstance(text, (list, tuple)):
        seeds = tuple(int(s) for s in text)
    elif isinstance(text, int) or str(text).strip().isdigit():
        count = int(text)
        if count <= 0:
            raise UsageError(f"--seeds {text}: need at least one seed (a count like 5, a list like 0,3,7 or a range like 0-4)")
        if count > MAX_SEEDS:
            raise UsageError(f"--seeds {text}: a sweep plans at most {MAX_SEEDS:,} seeds per game")
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
                if hi - lo + 1 > MAX_SEEDS:
                    raise UsageError(f"--seeds: {item!r} is {hi - lo + 1:,} seeds; a sweep plans at most {MAX_SEEDS:,}")
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
    if len(seeds) > MAX_SEEDS:
        raise UsageError(f"--seeds: {len(seeds):,} seeds; a sweep plans at most {MAX_SEEDS:,} per game")
    if max(seeds) > MAX_SEED:
        raise UsageError(f"--seeds: seed {max(seeds)} is out of range (at most {MAX_SEED:,})")
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


def parse_algos(text: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """`der,dreamerv2` -> ('der', 'dreamerv2'); None -> the default algorithm.

    Raises UsageError on an unknown algorithm (listing them), a repeat, or an empty list.
    """
    if text is None:
        return (DEFAULT_ALGO,)
    items = text.split(",") if isinstance(text, str) else list(text)
    algos = tuple(a.strip() for a in items if a.strip())
    for algo in algos:
        if algo not in ALGORITHMS:
            raise UsageError(f"--algos: unknown algorithm {algo!r}; choose from: {', '.join(ALGORITHMS)}"
                             f"{did_you_mean(algo, ALGORITHMS)}")
    if not algos:
        raise UsageError(f"--algos: no algorithm given; choose from: {', '.join(ALGORITHMS)}")
    if len(set(algos)) != len(algos):
        raise UsageError("--algos: an algorithm is listed twice")
    return algos


def resolve_for(algo: str, presets: tuple[str, ...], overrides: list[str] | tuple[str, ...],
                steps: int | None) -> AnyConfig:
    """`algo`'s resolved config for the sweep's settings; a UsageError names the algorithm."""
    try:
        return resolve_config(split_presets(presets, algo), list(overrides), steps, algo)
    except UsageError as error:
        text = str(error)
        raise UsageError(text if f"--algo {algo}" in text else f"--algo {algo}: {text}") from None


RunId = tuple[str, str, int]
"""(algo, game, seed): what a run is, wherever its folder lives."""


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its spec, its folder relative to the sweep folder, its budget."""

    spec: RunSpec
    """What to train (algorithm, game, seed, presets, overrides, steps)."""
    rel_dir: str
    """Run folder relative to the sweep folder: `<algo>/<Game>/seed_<k>`."""
    budget_steps: int
    """The run's budget in agent steps (its algorithm's resolved train.steps)."""

    @property
    def key(self) -> str:
        """Stable identifier of the run inside its sweep (`dreamerv2/Pong/seed_0`)."""
        return self.rel_dir

    @property
    def id(self) -> RunId:
        """(algo, game, seed)."""
        return self.spec.algo, self.spec.game, self.spec.seed


@dataclass(frozen=True)
class SweepRequest:
    """What the user asked for. Validated by `make`; everything else derives from it."""

    name: str
    """Sweep name; the default folder is `results/<name>`."""
    algos: tuple[str, ...]
    """Algorithms (agent.algorithms), in the order asked."""
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
        algos: str | list[str] | tuple[str, ...] | None = None,
    ) -> "SweepRequest":
        """Validate everything (UsageError with one line) before anything is written."""
        algo_names = parse_algos(algos)
        preset_names = split_presets(presets, algo_names[0])
        if steps is not None and steps <= 0:
            raise UsageError(f"--steps {steps}: the budget must be > 0 agent steps")
        parsed = tuple(f"{k}={v}" for k, v in parse_set_args(list(overrides)).items())
        for algo in algo_names:  # unknown presets / keys / bad values -> UsageError naming the algorithm
            resolve_for(algo, preset_names, parsed, steps)
        if out is not None:
            check_output_folder(out, "--out")  # a file, under a file, empty text: before any work
            if (Path(out) / "run.json").is_file():
                raise UsageError(f"--out {out}: is a run folder (it holds run.json); give the sweep a folder of its own")
        if name is None:
            name = Path(out).name if out is not None else default_name(algo_names, preset_names)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only")
        return cls(
            name=name,
            algos=algo_names,
            out=Path(out) if out is not None else Path(results_root) / name,
            games=parse_games(games),
            seeds=parse_seeds(seeds),
            presets=preset_names,
            overrides=parsed,
            steps=steps,
        )

    def budget_steps(self, algo: str) -> int:
        """The budget of every `algo` run of this sweep, in agent steps."""
        return resolve_for(algo, self.presets, self.overrides, self.steps).train.steps

    def settings(self) -> dict:
        """What must be identical between two invocations on the same sweep folder."""
        return {"presets": list(self.presets), "overrides": list(self.overrides), "steps": self.steps}


def default_name(algos: tuple[str, ...], presets: tuple[str, ...]) -> str:
    """`atari100k` for DreamerV2 alone (as before algorithms were an axis), else `der-iqn-atari100k`."""
    return "-".join(presets if algos == (DEFAULT_ALGO,) else algos + presets)


def run_dir_name(algo: str, game: str, seed: int) -> str:
    """`der`, `Pong`, 3 -> `der/Pong/seed_3` (the run folder under the sweep folder)."""
    return f"{algo}/{game}/seed_{seed}"


def plan_runs(request: SweepRequest, where: dict[RunId, str] | None = None) -> list[PlannedRun]:
    """Algorithms x games x seeds, algorithm-major then game-major, in the order asked. Deterministic.

    `where` maps runs already recorded in the sweep's manifest to their folders (sweeps made
    before algorithms were an axis keep theirs at `<Game>/seed_<k>`); other runs get
    `run_dir_name`.
    """
    where = where or {}
    planned = []
    for algo in request.algos:
        # The config does not depend on game or seed: validate once per algorithm via
        # RunSpec.make, then copy with dataclasses.replace (2,600 validations take seconds).
        template = RunSpec.make(request.games[0], request.seeds[0], request.presets, request.overrides,
                                request.steps, algo=algo)
        budget = template.config().train.steps
        planned += [
            PlannedRun(dataclasses.replace(template, game=game, seed=seed),
                       where.get((algo, game, seed), run_dir_name(algo, game, seed)), budget)
            for game in request.games
            for seed in request.seeds
        ]
    return planned
