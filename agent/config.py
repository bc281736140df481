"""Configuration shared by every algorithm: frozen dataclasses, presets that stack, dotted overrides.

Each algorithm (agent.algorithms) has its own root config class with the shared sections
`env` (the Atari 100k protocol), `train` (a subclass of LoopConfig: budget, device,
checkpoint and log cadence, plus the algorithm's own loop fields) and `eval`, and its own
learner sections (`model`/`behavior` for DreamerV2, `der`, `iqn`). Presets are ordered lists
of dotted overrides applied on top of that algorithm's defaults:

    resolve_config(["atari100k", "debug"], ["train.batch_size=8"], algo="dreamerv2")

Nothing here imports torch, so `suite/` can validate a sweep without it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, fields
from typing import Any

from atari100k.errors import UsageError
from atari100k.suggest import did_you_mean


@dataclass(frozen=True)
class EnvConfig:
    """The Atari 100k protocol. Saved in run.json and printed under every score table."""

    image_size: int = 64
    """Observation side length in pixels (square)."""
    grayscale: bool = True
    """Grayscale observations (1 channel) as in DreamerV2's Atari setup; False gives RGB."""
    action_repeat: int = 4
    """Frames per agent step (frame skip); frames = action_repeat * agent steps."""
    max_pool_frames: bool = True
    """Max-pool the last two frames of each repeat (removes sprite flicker)."""
    noop_max: int = 30
    """Up to this many random no-op actions at every reset (0 disables)."""
    sticky_action_prob: float = 0.0
    """Repeat-previous-action probability. Atari 100k uses 0; the DreamerV2 reference 0.25."""
    full_action_space: bool = False
    """False: the game's minimal action set (the Atari 100k protocol)."""
    max_episode_frames: int = 108_000
    """Episode cap in frames (27,000 agent steps). Hitting it truncates; it is NOT a terminal."""
    life_loss_terminal: bool = False
    """Treat a lost life as a terminal for the world model's discount target (not a reset)."""
    num_envs: int = 1
    """Parallel training environments (1 = the reference's single env)."""


@dataclass(frozen=True)
class LoopConfig:
    """The run loop's fields every algorithm has (its `train` section subclasses this)."""

    steps: int = 100_000
    """Agent steps of environment interaction (100k = 400k frames = Atari 100k)."""
    device: str = "auto"
    """'auto' (cuda if available), 'cpu' or 'cuda'."""
    precision: str = "fp32"
    """'fp32' or 'bf16' (autocast for the networks on CUDA or CPU; distributions stay fp32)."""
    deterministic: bool = False
    """Deterministic kernels only (torch.use_deterministic_algorithms, no cuDNN autotuning): a CUDA run resumed from a checkpoint repeats the uninterrupted one bit for bit, at a speed cost. Off, CUDA resume is exact up to floating-point nondeterminism; CPU runs are exact either way."""
    checkpoint_every: int = 5_000
    """Agent steps between checkpoints (also checkpointed on SIGTERM/SIGUSR2 and at the end)."""
    log_every: int = 1_000
    """Agent steps between metrics.jsonl rows."""


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation: the number that goes in the score table."""

    episodes: int = 100
    """Episodes of the final evaluation."""
    num_envs: int = 16
    """Parallel environments for evaluation."""
    policy: str = "mode"
    """'mode': the algorithm's evaluation policy (DreamerV2: greedy actor; DER/IQN: eps_eval-greedy, no noise); 'sample': DreamerV2's sampled actor."""
    every: int = 0
    """Agent steps between intermediate evaluations (0 = only the final one)."""
    episodes_during_training: int = 10
    """Episodes of each intermediate evaluation."""


DEFAULT_ALGO = "dreamerv2"
"""`--algo` when none is given."""
DEFAULT_PRESETS: tuple[str, ...] = ("atari100k",)
"""Presets when none are given (every algorithm has `atari100k`: its 100k recipe)."""

AnyConfig = Any
"""An algorithm's root config (a frozen dataclass with env, train, eval and learner sections)."""


def _field_types(cls: type) -> dict[str, Any]:
    """Dataclass field name -> resolved type (class variables excluded)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


MAX_INT = 2**31 - 1
"""The largest integer setting (a typo such as 1e100 is refused before it allocates anything)."""


def _parse_value(key: str, text: Any, kind: Any) -> Any:
    """Convert an override's value to the field's type, or raise UsageError."""
    if not isinstance(text, str):
        value = text
    elif kind is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise UsageError(f"bad value for {key}: {text!r} is not a boolean (use true/false)")
        value = lowered in ("true", "1", "yes")
    elif kind in (int, float):
        try:
            number = float(text.replace("_", ""))
        except ValueError:
            raise UsageError(f"bad value for {key}: {text!r} is not a number") from None
        if kind is int and not number.is_integer():
            raise UsageError(f"bad value for {key}: {text!r} is not an integer")
        value = int(number) if kind is int else number
    else:
        value = text
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UsageError(f"bad value for {key}: expected {kind.__name__}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise UsageError(f"bad value for {key}: {text!r} is not a finite number")
    if kind is int and abs(value) > MAX_INT:
        raise UsageError(f"bad value for {key}: {text!r} is out of range (at most {MAX_INT:,})")
    return value


def apply_overrides(config: AnyConfig, overrides: dict[str, Any]) -> AnyConfig:
    """Return `config` with dotted `overrides` (`{"train.batch_size": "8"}`) applied.

    Values may be strings (parsed by the field's type) or already-typed values.
    Raises UsageError for unknown keys or values of the wrong type.
    """
    sections: dict[str, dict[str, Any]] = {}
    section_types = _field_types(type(config))
    for key, raw in overrides.items():
        parts = key.split(".")
        if len(parts) != 2 or parts[0] not in section_types:
            hint = did_you_mean(key, [f"{s}.{f}" for s, cls in section_types.items() for f in _field_types(cls)])
            raise UsageError(
                f"unknown config key {key!r} for {_algo_name(config)}{_other_algo_hint(parts[0], config)}{hint} "
                f"(keys look like 'train.steps'; sections: {', '.join(section_types)})"
            )
        section, name = parts
        types = _field_types(section_types[section])
        if name not in types:
            raise UsageError(
                f"unknown config key {key!r} for {_algo_name(config)}{did_you_mean(key, [f'{section}.{t}' for t in types])} "
                f"({section} has: {', '.join(types)})"
            )
        sections.setdefault(section, {})[name] = _parse_value(key, raw, types[name])
    updated = {
        section: dataclasses.replace(getattr(config, section), **values)
        for section, values in sections.items()
    }
    return dataclasses.replace(config, **updated)


def _algo_name(config: AnyConfig) -> str:
    return f"--algo {getattr(type(config), 'ALGO', '?')}"


def _other_algo_hint(section: str, config: AnyConfig) -> str:
    """' (der.* keys belong to --algo der)' when `section` is another algorithm's section (not `config`'s)."""
    from agent.algorithms import ALGORITHMS

    if section in _field_types(type(config)):
        return ""  # its own section, written without a field ('model=1')
    owners = [name for name, algo in ALGORITHMS.items() if section in _field_types(algo.config_class)]
    return f"; {section}.* keys belong to --algo {' / '.join(owners)}" if owners else ""


def parse_set_args(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse `["train.batch_size=8", ...]` into a dict; raise UsageError on a missing '='."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad override {item!r}; write it as key=value, e.g. train.batch_size=8")
        parsed[key.strip()] = value.strip()
    return parsed


def split_presets(presets: list[str] | tuple[str, ...] | str | None, algo: str = DEFAULT_ALGO) -> tuple[str, ...]:
    """Normalise `--preset a,b --preset c` into ('a', 'b', 'c'); empty means the default."""
    from agent.algorithms import get_algorithm

    known = get_algorithm(algo).presets
    if presets is None:
        return DEFAULT_PRESETS
    items = [presets] if isinstance(presets, str) else list(presets)
    names = tuple(p.strip() for item in items for p in item.split(",") if p.strip())
    for name in names:
        if name not in known:
            raise UsageError(f"unknown preset {name!r} for --algo {algo}; choose from: {', '.join(known)}"
                             f"{did_you_mean(name, known)}")
    return names or DEFAULT_PRESETS


def default_config(algo: str = DEFAULT_ALGO) -> AnyConfig:
    """The defaults of `algo` (no preset applied)."""
    from agent.algorithms import get_algorithm

    return get_algorithm(algo).config_class()


def resolve_config(
    presets: list[str] | tuple[str, ...] | str | None = None,
    overrides: dict[str, Any] | list[str] | tuple[str, ...] | None = None,
    steps: int | None = None,
    algo: str = DEFAULT_ALGO,
) -> AnyConfig:
    """`algo`'s defaults, then each preset in order, then `overrides`, then `steps` (train.steps).

    Raises UsageError for an unknown algorithm, preset, key or a value of the wrong type.
    """
    from agent.algorithms import get_algorithm

    algorithm = get_algorithm(algo)
    config = algorithm.config_class()
    for name in split_presets(presets, algo):
        config = apply_overrides(config, algorithm.presets[name])
    if overrides:
        if not isinstance(overrides, dict):
            overrides = parse_set_args(overrides)
        config = apply_overrides(config, overrides)
    if steps is not None:
        config = apply_overrides(config, {"train.steps": steps})
    validate_loop(config)
    config.validate()
    return config


def validate_loop(config: AnyConfig) -> None:
    """Reject shared settings that cannot run, with the key to fix in the message."""
    checks = [
        (config.train.steps > 0, "train.steps must be > 0"),
        # A zero period would never advance the loop.
        (config.train.log_every > 0, "train.log_every must be > 0"),
        (config.train.checkpoint_every > 0, "train.checkpoint_every must be > 0"),
        (config.eval.every >= 0, "eval.every must be >= 0 (0 = only the final evaluation)"),
        (config.eval.every == 0 or config.eval.episodes_during_training > 0,
         "eval.episodes_during_training must be > 0"),
        (config.train.device in ("auto", "cpu", "cuda"), "train.device must be auto, cpu or cuda"),
        (config.train.precision in ("fp32", "bf16"), "train.precision must be fp32 or bf16"),
        (config.eval.policy in ("mode", "sample"), "eval.policy must be mode or sample"),
        (config.eval.episodes > 0, "eval.episodes must be > 0"),
        (config.eval.num_envs > 0, "eval.num_envs must be > 0"),
        (config.env.num_envs > 0, "env.num_envs must be > 0"),
        (0.0 <= config.env.sticky_action_prob < 1.0, "env.sticky_action_prob must be in [0, 1)"),
        (config.env.action_repeat > 0, "env.action_repeat must be > 0"),
        (config.env.noop_max >= 0, "env.noop_max must be >= 0"),
        (config.env.image_size >= 16, "env.image_size must be >= 16"),
    ]
    check_all(checks)


def check_all(checks: list[tuple[bool, str]]) -> None:
    """Raise UsageError with the message of the first failed (ok, message) check."""
    for ok, message in checks:
        if not ok:
            raise UsageError(message)


def config_to_dict(config: AnyConfig) -> dict[str, dict[str, Any]]:
    """Nested plain dict of `config` (what run.json stores)."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, dict[str, Any]], algo: str = DEFAULT_ALGO) -> AnyConfig:
    """Inverse of config_to_dict; unknown keys raise UsageError."""
    flat = {f"{section}.{key}": value for section, values in data.items() for key, value in values.items()}
    return apply_overrides(default_config(algo), flat)


def describe_protocol(config: AnyConfig) -> dict[str, Any]:
    """The protocol fields that decide what a score means (printed under score tables)."""
    env, ev = config.env, config.eval
    return {
        "budget_steps": config.train.steps,
        "budget_frames": config.train.steps * env.action_repeat,
        "action_repeat": env.action_repeat,
        "sticky_action_prob": env.sticky_action_prob,
        "noop_max": env.noop_max,
        "max_pool_frames": env.max_pool_frames,
        "action_set": "full" if env.full_action_space else "minimal",
        "max_episode_frames": env.max_episode_frames,
        "life_loss_terminal": env.life_loss_terminal,
        "observation": f"{env.image_size}x{env.image_size} {'gray' if env.grayscale else 'rgb'}",
        "eval_episodes": ev.episodes,
        "eval_policy": config.eval_policy_text(),
        "score": f"mean return of {ev.episodes} evaluation episodes after {config.train.steps} steps",
    }


def config_json(config: AnyConfig) -> str:
    """Canonical JSON of a config, used to compare a run folder's config with a new one."""
    return json.dumps(config_to_dict(config), sort_keys=True)


def all_keys(algo: str = DEFAULT_ALGO) -> list[str]:
    """Every dotted config key of `algo`, for help texts."""
    root = default_config(algo)
    return [
        f"{section.name}.{f.name}"
        for section in fields(root)
        for f in fields(_field_types(type(root))[section.name])
    ]
