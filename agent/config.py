"""The agent's configuration: frozen dataclasses, named presets that stack, dotted overrides.

Defaults are the reference implementation's Atari settings (danijar/dreamerv2, configs.yaml
`defaults` + `atari`) run under the Atari 100k *protocol* (no sticky actions, see EnvConfig).
Presets are ordered lists of dotted overrides applied on top of the defaults:

    resolve_config(["atari100k", "debug"], ["train.batch_size=8"])

Nothing here imports torch, so `suite/` can validate a sweep without it.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from atari100k.errors import UsageError


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
class ModelConfig:
    """World model: RSSM, encoder, decoder, reward and discount heads, and its optimiser."""

    deter: int = 600
    """Size of the GRU's deterministic state h_t."""
    hidden: int = 600
    """Width of the RSSM's hidden dense layers (image/observation steps)."""
    stoch: int = 32
    """Number of categorical latent variables in z_t."""
    classes: int = 32
    """Classes per categorical latent (z_t is stoch x classes one-hots)."""
    gru_layer_norm: bool = True
    """Layer-normed GRU with update bias -1 and reset applied to the candidate (reference)."""
    cnn_depth: int = 48
    """Encoder depths are cnn_depth * (1, 2, 4, 8); decoder mirrors them."""
    mlp_layers: int = 4
    """Hidden layers of the reward and discount heads."""
    mlp_units: int = 400
    """Units per hidden layer of the reward and discount heads."""
    kl_scale: float = 0.1
    """beta: weight of the KL term."""
    kl_balance: float = 0.8
    """alpha: 0.8*KL(sg(post)||prior) + 0.2*KL(post||sg(prior))."""
    free_nats: float = 0.0
    """Lower clip on the KL (0 = none, as in the reference Atari config)."""
    image_scale: float = 1.0
    """Weight of the image log-likelihood."""
    reward_scale: float = 1.0
    """Weight of the reward log-likelihood."""
    discount_scale: float = 5.0
    """Weight of the discount log-likelihood."""
    lr: float = 2e-4
    """World-model Adam learning rate."""
    eps: float = 1e-5
    """Adam epsilon for all optimisers."""
    grad_clip: float = 100.0
    """Global gradient-norm clip for all optimisers."""
    weight_decay: float = 1e-6
    """Decoupled weight decay (w *= 1 - weight_decay per update) for all optimisers."""


@dataclass(frozen=True)
class BehaviorConfig:
    """Actor-critic learned in imagination."""

    horizon: int = 15
    """Imagination horizon H."""
    discount: float = 0.999
    """gamma (reference code 0.999; paper table 0.995)."""
    lambda_: float = 0.95
    """lambda of the lambda-return."""
    mlp_layers: int = 4
    """Hidden layers of actor and critic."""
    mlp_units: int = 400
    """Units per hidden layer of actor and critic."""
    actor_lr: float = 4e-5
    """Actor Adam learning rate."""
    critic_lr: float = 1e-4
    """Critic Adam learning rate."""
    actor_grad_mix: float = 1.0
    """rho: 1 = REINFORCE gradients (Atari), 0 = dynamics backpropagation."""
    actor_entropy: float = 1e-3
    """eta: entropy bonus weight."""
    slow_critic_update: int = 100
    """Copy the critic into the slow (target) critic every this many updates."""


@dataclass(frozen=True)
class TrainConfig:
    """Budget, replay, update cadence, checkpoints, device."""

    steps: int = 100_000
    """Agent steps of environment interaction (100k = 400k frames = Atari 100k)."""
    prefill: int = 50_000
    """Random-policy agent steps before the first update (reference: 50k)."""
    train_every: int = 16
    """Agent steps between update rounds (reference: 16)."""
    train_steps: int = 1
    """Gradient updates per round."""
    pretrain: int = 1
    """Updates run once right after prefill."""
    batch_size: int = 16
    """Sequences per batch B."""
    batch_length: int = 50
    """Steps per sequence T."""
    replay_capacity: int = 2_000_000
    """Replay capacity in agent steps; oldest whole episodes are dropped first."""
    device: str = "auto"
    """'auto' (cuda if available), 'cpu' or 'cuda'."""
    precision: str = "fp32"
    """'fp32' or 'bf16' (autocast for the networks on CUDA or CPU; distributions stay fp32)."""
    compile: bool = False
    """torch.compile the networks (CUDA only)."""
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
    """'mode' (greedy actor, as the reference) or 'sample'."""
    every: int = 0
    """Agent steps between intermediate evaluations (0 = only the final one)."""
    episodes_during_training: int = 10
    """Episodes of each intermediate evaluation."""


@dataclass(frozen=True)
class Config:
    """Everything that defines a run besides the game and the seed."""

    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# Presets: ordered dotted overrides on the defaults. They stack left to right.
PRESETS: dict[str, dict[str, Any]] = {
    # The reference implementation's Atari settings, unchanged (they are the defaults).
    "paper": {},
    # Tuned for the 100k-step budget. The reference prefill (50k random steps) would spend
    # half the budget on a random policy, and one update per 16 steps would give only ~3k
    # updates in 100k steps. So: 5k random steps (5% of the budget, enough episodes to
    # sample 50-step windows on every game), then one 16x50 update every 4 agent steps
    # (the paper's Table D.1 cadence of 4 policy steps per gradient step): ~24k updates,
    # i.e. each env step is replayed 200 times (DreamerV3 used 1024 at this budget but
    # with 4x the compute), a full run is ~1 GPU-day-fraction rather than days.
    # Intermediate evaluations every 10k steps (10 episodes) give learning curves.
    "atari100k": {
        "train.prefill": 5_000,
        "train.train_every": 4,
        "train.pretrain": 100,
        "train.checkpoint_every": 2_500,
        "eval.every": 10_000,
    },
    # Tiny networks and budget for tests and the quick start: trains in minutes on a CPU.
    "debug": {
        "env.max_episode_frames": 4_000,
        "model.deter": 32,
        "model.hidden": 32,
        "model.stoch": 4,
        "model.classes": 4,
        "model.cnn_depth": 4,
        "model.mlp_layers": 1,
        "model.mlp_units": 32,
        "behavior.horizon": 5,
        "behavior.mlp_layers": 1,
        "behavior.mlp_units": 32,
        "train.steps": 600,
        "train.prefill": 200,
        "train.train_every": 20,
        "train.pretrain": 2,
        "train.batch_size": 4,
        "train.batch_length": 10,
        "train.replay_capacity": 100_000,
        "train.checkpoint_every": 200,
        "train.log_every": 100,
        "train.device": "cpu",
        "eval.episodes": 2,
        "eval.num_envs": 2,
    },
}

DEFAULT_PRESETS: tuple[str, ...] = ("atari100k",)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


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
    return value


def apply_overrides(config: Config, overrides: dict[str, Any]) -> Config:
    """Return `config` with dotted `overrides` (`{"train.batch_size": "8"}`) applied.

    Values may be strings (parsed by the field's type) or already-typed values.
    Raises UsageError for unknown keys or values of the wrong type.
    """
    sections: dict[str, dict[str, Any]] = {}
    section_types = _field_types(Config)
    for key, raw in overrides.items():
        parts = key.split(".")
        if len(parts) != 2 or parts[0] not in section_types:
            raise UsageError(
                f"unknown config key {key!r}; keys look like 'train.batch_size' "
                f"(sections: {', '.join(section_types)})"
            )
        section, name = parts
        types = _field_types(section_types[section])
        if name not in types:
            raise UsageError(
                f"unknown config key {key!r}; {section} has: {', '.join(types)}"
            )
        sections.setdefault(section, {})[name] = _parse_value(key, raw, types[name])
    updated = {
        section: dataclasses.replace(getattr(config, section), **values)
        for section, values in sections.items()
    }
    return dataclasses.replace(config, **updated)


def parse_set_args(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse `["train.batch_size=8", ...]` into a dict; raise UsageError on a missing '='."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad override {item!r}; write it as key=value, e.g. train.batch_size=8")
        parsed[key.strip()] = value.strip()
    return parsed


def split_presets(presets: list[str] | tuple[str, ...] | str | None) -> tuple[str, ...]:
    """Normalise `--preset a,b --preset c` into ('a', 'b', 'c'); empty means the default."""
    if presets is None:
        return DEFAULT_PRESETS
    items = [presets] if isinstance(presets, str) else list(presets)
    names = tuple(p.strip() for item in items for p in item.split(",") if p.strip())
    for name in names:
        if name not in PRESETS:
            raise UsageError(f"unknown preset {name!r}; choose from: {', '.join(PRESETS)}")
    return names or DEFAULT_PRESETS


def resolve_config(
    presets: list[str] | tuple[str, ...] | str | None = None,
    overrides: dict[str, Any] | list[str] | tuple[str, ...] | None = None,
    steps: int | None = None,
) -> Config:
    """Defaults, then each preset in order, then `overrides`, then `steps` (train.steps).

    Raises UsageError for an unknown preset, key or a value of the wrong type.
    """
    config = Config()
    for name in split_presets(presets):
        config = apply_overrides(config, PRESETS[name])
    if overrides:
        if not isinstance(overrides, dict):
            overrides = parse_set_args(overrides)
        config = apply_overrides(config, overrides)
    if steps is not None:
        config = apply_overrides(config, {"train.steps": steps})
    validate_config(config)
    return config


def validate_config(config: Config) -> None:
    """Reject settings that cannot run, with the key to fix in the message."""
    checks = [
        (config.train.steps > 0, "train.steps must be > 0"),
        (config.train.prefill >= 0, "train.prefill must be >= 0"),
        (config.train.train_every > 0, "train.train_every must be > 0"),
        (config.train.batch_size > 0, "train.batch_size must be > 0"),
        (config.train.batch_length > 1, "train.batch_length must be > 1"),
        # A zero period would never advance the loop.
        (config.train.log_every > 0, "train.log_every must be > 0"),
        (config.train.checkpoint_every > 0, "train.checkpoint_every must be > 0"),
        (config.train.train_steps >= 0, "train.train_steps must be >= 0"),
        (config.train.pretrain >= 0, "train.pretrain must be >= 0"),
        (config.train.replay_capacity >= config.train.batch_length,
         "train.replay_capacity must be >= train.batch_length"),
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
        (0.0 <= config.model.kl_balance <= 1.0, "model.kl_balance must be in [0, 1]"),
        (0.0 <= config.behavior.actor_grad_mix <= 1.0, "behavior.actor_grad_mix must be in [0, 1]"),
        (config.behavior.horizon > 0, "behavior.horizon must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)


def config_to_dict(config: Config) -> dict[str, dict[str, Any]]:
    """Nested plain dict of `config` (what run.json stores)."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, dict[str, Any]]) -> Config:
    """Inverse of config_to_dict; unknown keys raise UsageError."""
    flat = {f"{section}.{key}": value for section, values in data.items() for key, value in values.items()}
    return apply_overrides(Config(), flat)


def describe_protocol(config: Config) -> dict[str, Any]:
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
        "eval_policy": ev.policy,
        "score": f"mean return of {ev.episodes} evaluation episodes after {config.train.steps} steps",
    }


def config_json(config: Config) -> str:
    """Canonical JSON of a config, used to compare a run folder's config with a new one."""
    return json.dumps(config_to_dict(config), sort_keys=True)


def all_keys() -> list[str]:
    """Every dotted config key, for help texts."""
    return [
        f"{section.name}.{f.name}"
        for section in fields(Config)
        for f in fields(_field_types(Config)[section.name])
    ]
