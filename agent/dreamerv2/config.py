"""DreamerV2's configuration: the reference's Atari settings as defaults, and its presets.

Defaults are the reference implementation's Atari settings (danijar/dreamerv2, configs.yaml
`defaults` + `atari`) run under the Atari 100k *protocol* (no sticky actions, see EnvConfig).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from agent.config import EnvConfig, EvalConfig, LoopConfig, check_all


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
class TrainConfig(LoopConfig):
    """DreamerV2's loop: prefill, replay, update cadence (plus the shared LoopConfig fields)."""

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
    compile: bool = False
    """torch.compile the update's losses (world model; actor with imagination; critic), their backward and
    the acting step (DreamerV2._compile; tests/test_dreamer_compile.py: equal to eager to rounding). Random
    draws stay torch's own, so the run is the eager one up to rounding. With `cuda_graphs` on a GPU the
    compiled kernels are replayed as one graph. The first update compiles: minutes."""
    cuda_graphs: bool = True
    """On a GPU, capture the whole update (world model, actor, critic, their Adam steps) as one CUDA graph,
    and the acting step as another (agent/cuda_graph.py; the acting graph not yet checked on a GPU); no
    effect on a CPU. Its first replays equal eager updates to 1.2e-7 relative
    loss (benchmarks/gpu/check_graphs.py, H200, 2026-11-27) at 3.7x the speed (27.9 vs 103.5 ms)."""


@dataclass(frozen=True)
class DreamerV2Config:
    """Everything that defines a DreamerV2 run besides the game and the seed."""

    ALGO: ClassVar[str] = "dreamerv2"

    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> None:
        """Reject DreamerV2 settings that cannot run (UsageError naming the key)."""
        check_all([
            (self.train.prefill >= 0, "train.prefill must be >= 0"),
            (self.train.train_every > 0, "train.train_every must be > 0"),
            (self.train.batch_size > 0, "train.batch_size must be > 0"),
            (self.train.batch_length > 1, "train.batch_length must be > 1"),
            (self.train.train_steps >= 0, "train.train_steps must be >= 0"),
            (self.train.pretrain >= 0, "train.pretrain must be >= 0"),
            (self.train.replay_capacity >= self.train.batch_length,
             "train.replay_capacity must be >= train.batch_length"),
            *[(getattr(self.model, name) > 0, f"model.{name} must be > 0")
              for name in ("deter", "hidden", "stoch", "cnn_depth", "mlp_units", "lr", "eps", "grad_clip")],
            *[(getattr(self.behavior, name) > 0, f"behavior.{name} must be > 0")
              for name in ("mlp_units", "actor_lr", "critic_lr", "slow_critic_update")],
            (self.model.classes >= 2, "model.classes must be >= 2 (categorical latents)"),
            (self.model.mlp_layers >= 1 and self.behavior.mlp_layers >= 1, "model/behavior.mlp_layers must be >= 1"),
            (0.0 < self.behavior.discount <= 1.0, "behavior.discount must be in (0, 1]"),
            (0.0 <= self.behavior.lambda_ <= 1.0, "behavior.lambda_ must be in [0, 1]"),
            (self.model.weight_decay >= 0 and self.model.free_nats >= 0, "model.weight_decay and free_nats must be >= 0"),
            (0.0 <= self.model.kl_balance <= 1.0, "model.kl_balance must be in [0, 1]"),
            (0.0 <= self.behavior.actor_grad_mix <= 1.0, "behavior.actor_grad_mix must be in [0, 1]"),
            (self.behavior.horizon > 0, "behavior.horizon must be > 0"),
        ])

    def eval_policy_text(self) -> str:
        """How evaluation acts (printed in the protocol)."""
        return self.eval.policy


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
