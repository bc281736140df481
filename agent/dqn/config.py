"""Configuration of the value-based learners: DER (Data-Efficient Rainbow) and IQN.

DER's defaults are Dopamine's `labs/atari_100k` DER recipe with the target period of 2,000
updates (the DER paper's; DER.gin since c67e2c3, Nov 2021) and, as the code of the shipped DER runs
(Agarwal et al. 2021) and the reproduction issue ask, a training epsilon of 0.01 on top of noisy
nets (`identity_epsilon`; Dopamine acts with `zero_epsilon` since ed92c57, Nov 2022, which stalls
DER on Breakout: the `epsilon0` preset). The `dopamine2021` preset also restores that code's target
period of 8,000 (docs/dopamine_settings.md, section D). Sources are google/dopamine files; line-level
citations are in docs/dopamine_settings.md:
- DER.gin: `dopamine/labs/atari_100k/configs/DER.gin`
- rainbow: `dopamine/jax/agents/full_rainbow/full_rainbow_agent.py`
- dqn: `dopamine/jax/agents/dqn/dqn_agent.py`
- legacy replay: `dopamine/replay_memory/prioritized_replay_buffer.py` (the buffer of the
  published runs; moved to `dopamine/tf/replay_memory/` in Oct 2024)
IQN's defaults are DER's data-efficiency settings (n-step, min replay, update and target
cadence, optimiser) with everything else from Dopamine's JAX IQN
(`dopamine/jax/agents/implicit_quantile/`): no IQN at 100k was ever published.

The shared `env` section is the suite's Atari 100k protocol at Dopamine's 84x84; where
Dopamine's preprocessing differs (no-op starts) the suite's protocol is kept (README).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from agent.config import EnvConfig, EvalConfig, LoopConfig, check_all


def _dqn_env() -> EnvConfig:
    # Dopamine AtariPreprocessing: 84x84 grayscale (atari_lib.NATURE_DQN_OBSERVATION_SHAPE),
    # life loss a terminal (DER.gin `AtariPreprocessing.terminal_on_life_loss = True`).
    return EnvConfig(image_size=84, life_loss_terminal=True)


@dataclass(frozen=True)
class ValueTrainConfig(LoopConfig):
    """The run loop of DER/IQN (the shared LoopConfig fields)."""

    checkpoint_every: int = 10_000
    """Agent steps between checkpoints (the replay grows to ~0.7 GB at 100k steps, so not too often)."""
    cuda_graphs: bool = True
    """On a GPU, capture the update and the acting step as CUDA graphs (agent/cuda_graph.py): the same math with one launch per step instead of hundreds; no effect on a CPU."""


@dataclass(frozen=True)
class ValueLearnerConfig:
    """Settings DER and IQN share: replay, n-step, cadence, exploration, optimiser."""

    gamma: float = 0.99
    """Discount (DER.gin `JaxDQNAgent.gamma = 0.99`)."""
    n_step: int = 10
    """n of the n-step return (DER.gin `update_horizon = 10`, as SPR; bootstraps with gamma**n)."""
    min_replay: int = 1_600
    """Learning starts once the replay holds more than this many transitions (DER.gin `min_replay_history`; dqn `add_count > min_replay_history`)."""
    update_period: int = 1
    """One gradient update every this many agent steps (DER.gin `update_period = 1`)."""
    target_update_period: int = 2_000
    """Copy online -> target when the agent step count is a multiple of this, after that step's update (DER.gin; dqn `_train_step`)."""
    batch_size: int = 32
    """Transitions per update (DER.gin `batch_size = 32`)."""
    stack: int = 4
    """Frames per state (dqn `NATURE_DQN_STACK_SIZE`); frames before an episode's start are zeros."""
    clip_rewards: bool = True
    """Clip each agent step's reward to [-1, 1] before storing it (Dopamine Runner `clip_rewards=True`); scores stay raw."""
    prioritized: bool = True
    """Prioritised replay (DER.gin `replay_scheme = 'prioritized'`): priority sqrt(loss + 1e-10), new items at the max priority, IS weights 1/sqrt(p) over the batch max."""
    lr: float = 1e-4
    """Adam learning rate (DER.gin `create_optimizer.learning_rate = 0.0001`)."""
    adam_eps: float = 1.5e-4
    """Adam epsilon (DER.gin `create_optimizer.eps = 0.00015`); betas (0.9, 0.999), no clipping (dqn `create_optimizer`)."""
    epsilon_train: float = 0.01
    """Training epsilon after the decay (DER.gin `epsilon_train = 0.01`)."""
    epsilon_decay_steps: int = 2_000
    """Linear decay from 1 to epsilon_train over this many steps after min_replay (dqn `linearly_decaying_epsilon`, DER.gin 2000); unused with noisy nets (DER), whose epsilon is constant (`der.noisy_epsilon`)."""
    epsilon_eval: float = 0.001
    """Evaluation epsilon (DER.gin `epsilon_eval = 0.001`); noise is off in evaluation."""


@dataclass(frozen=True)
class DERLearnerConfig(ValueLearnerConfig):
    """DER's network and distributional loss (Dopamine FullRainbowNetwork + C51)."""

    num_atoms: int = 51
    """Atoms of the return distribution (DER.gin `num_atoms = 51`)."""
    v_max: float = 10.0
    """Support [-v_max, v_max] (DER.gin `vmax = 10.`; vmin = -vmax)."""
    noisy: bool = True
    """Noisy linear layers, sigma0 0.1 (DER.gin `noisy = True`; networks.NoisyNetwork)."""
    dueling: bool = True
    """Dueling value/advantage streams on a shared 512 layer (DER.gin `dueling = True`)."""
    double_dqn: bool = True
    """The online net picks the next action, the target net scores it (DER.gin `double_dqn = True`)."""
    epsilon_train: float = 0.01
    """Training epsilon on top of the noise (DER.gin `epsilon_train = 0.01`; applied by the 2021 code of the published runs); `epsilon0`: 0."""
    noisy_epsilon: str = "constant"
    """Training epsilon with noisy nets: 'constant' (`identity_epsilon`: epsilon_train from step 0, the 2021 code of the published runs) or 'zero' (rainbow `zero_epsilon`, Dopamine since ed92c57, Nov 2022; `epsilon0`)."""


NOISY_EPSILONS = ("zero", "constant")
"""Values of `der.noisy_epsilon`."""


@dataclass(frozen=True)
class IQNLearnerConfig(ValueLearnerConfig):
    """IQN's network and quantile loss (Dopamine JAX IQN defaults) on DER's data-efficiency settings."""

    prioritized: bool = False
    """Uniform replay: Dopamine's JAX IQN ignores its replay_scheme argument and samples uniformly."""
    epsilon_train: float = 0.01
    """Training epsilon after the decay (DER.gin `epsilon_train = 0.01`; IQN has no noisy nets, so it applies)."""
    kappa: float = 1.0
    """Huber threshold of the quantile loss (implicit_quantile.gin `kappa = 1.0`)."""
    num_tau_samples: int = 64
    """N: online quantile samples per transition in the loss (implicit_quantile.gin)."""
    num_tau_prime_samples: int = 64
    """N': target quantile samples per transition (implicit_quantile.gin)."""
    num_quantile_samples: int = 32
    """K: quantile samples to choose greedy actions (implicit_quantile.gin)."""
    embedding_dim: int = 64
    """Cosine embedding size (ImplicitQuantileNetwork `quantile_embedding_dim = 64`)."""
    double_dqn: bool = False
    """False: the target net both picks and scores the next action (JaxImplicitQuantileAgent default)."""


class _ValueConfigMixin:
    def validate(self) -> None:
        """Reject settings that cannot run (UsageError naming the key)."""
        learner, section = self.learner, self.LEARNER_SECTION
        check_all([
            (0.0 < learner.gamma <= 1.0, f"{section}.gamma must be in (0, 1]"),
            (learner.n_step >= 1, f"{section}.n_step must be >= 1"),
            (learner.min_replay >= 0, f"{section}.min_replay must be >= 0"),
            (learner.update_period >= 1, f"{section}.update_period must be >= 1"),
            (learner.target_update_period >= 1, f"{section}.target_update_period must be >= 1"),
            (learner.batch_size >= 1, f"{section}.batch_size must be >= 1"),
            (learner.lr > 0 and learner.adam_eps > 0, f"{section}.lr and {section}.adam_eps must be > 0"),
            (learner.stack >= 1, f"{section}.stack must be >= 1"),
            (learner.epsilon_decay_steps >= 1, f"{section}.epsilon_decay_steps must be >= 1"),
            (0.0 <= learner.epsilon_train <= 1.0 and 0.0 <= learner.epsilon_eval <= 1.0,
             f"{section}.epsilon_train and epsilon_eval must be in [0, 1]"),
            (self.env.grayscale, "env.grayscale must be true for DER/IQN (Dopamine's 84x84 grayscale frames)"),
            (self.env.num_envs == 1, "env.num_envs must be 1 for DER/IQN (Dopamine's single training env)"),
            (self.eval.policy == "mode", "eval.policy must be mode for DER/IQN (eps_eval-greedy, noise off)"),
            *self._extra_checks(),
        ])

    def _extra_checks(self) -> list[tuple[bool, str]]:
        return []

    @property
    def learner(self) -> ValueLearnerConfig:
        return getattr(self, self.LEARNER_SECTION)

    def eval_policy_text(self) -> str:
        """How evaluation acts (printed in the protocol)."""
        return f"eps-greedy eps={self.learner.epsilon_eval:g}, noise off"


@dataclass(frozen=True)
class DERConfig(_ValueConfigMixin):
    """Everything that defines a DER run besides the game and the seed."""

    ALGO: ClassVar[str] = "der"
    LEARNER_SECTION: ClassVar[str] = "der"

    env: EnvConfig = field(default_factory=_dqn_env)
    der: DERLearnerConfig = field(default_factory=DERLearnerConfig)
    train: ValueTrainConfig = field(default_factory=ValueTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def _extra_checks(self) -> list[tuple[bool, str]]:
        return [(self.der.num_atoms >= 2, "der.num_atoms must be >= 2"), (self.der.v_max > 0, "der.v_max must be > 0"),
                (self.der.noisy_epsilon in NOISY_EPSILONS,
                 f"der.noisy_epsilon must be one of {', '.join(NOISY_EPSILONS)}, not {self.der.noisy_epsilon!r}")]


@dataclass(frozen=True)
class IQNConfig(_ValueConfigMixin):
    """Everything that defines an IQN run besides the game and the seed."""

    ALGO: ClassVar[str] = "iqn"
    LEARNER_SECTION: ClassVar[str] = "iqn"

    env: EnvConfig = field(default_factory=_dqn_env)
    iqn: IQNLearnerConfig = field(default_factory=IQNLearnerConfig)
    train: ValueTrainConfig = field(default_factory=ValueTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def _extra_checks(self) -> list[tuple[bool, str]]:
        iqn = self.iqn
        return [(iqn.kappa > 0, "iqn.kappa must be > 0"),
                (min(iqn.num_tau_samples, iqn.num_tau_prime_samples, iqn.num_quantile_samples) >= 1,
                 "iqn.num_tau_samples, num_tau_prime_samples and num_quantile_samples must be >= 1"),
                (iqn.embedding_dim >= 1, "iqn.embedding_dim must be >= 1")]


def _presets(section: str) -> dict[str, dict[str, Any]]:
    return {
        # The published recipe at the full budget: the defaults. Intermediate evaluations
        # every 10k steps (Dopamine's DataEfficientAtariRunner evaluates after every 10k-step
        # iteration; ours use 10 episodes, the final one 100).
        "atari100k": {"eval.every": 10_000},
        # A tiny run for tests and the quick start: same networks, 600 steps, learning from step 200.
        "debug": {
            "env.max_episode_frames": 4_000,
            "train.steps": 600,
            "train.checkpoint_every": 200,
            "train.log_every": 100,
            "train.device": "cpu",
            f"{section}.min_replay": 200,
            f"{section}.batch_size": 8,
            f"{section}.target_update_period": 100,
            f"{section}.epsilon_decay_steps": 100,
            "eval.every": 0,
            "eval.episodes": 2,
            "eval.num_envs": 2,
        },
    }


DER_PRESETS = {
    **_presets("der"),
    # The public Dopamine DER of the shipped runs' time (labs/atari_100k from ffb4f36, 2021-07-07,
    # to after the paper's posting, 2021-08-30): DER.gin's target period was 8,000 agent steps
    # (c67e2c3 set 2,000 in Nov 2021); its training epsilon 0.01 on top of noisy nets is the
    # default. Stack it: `--preset atari100k,dopamine2021`. Runner-level differences of that code are
    # not reproduced (docs/dopamine_settings.md, D).
    "dopamine2021": {
        "der.target_update_period": 8_000,
        "der.epsilon_train": 0.01,
        "der.noisy_epsilon": "constant",
    },
    # Dopamine since ed92c57 (Nov 2022): noisy nets act with no epsilon (`zero_epsilon`). The suite's
    # default until 2026-11-27; its runs in results/reproduction-epsilon0/. On Breakout it stops
    # pressing FIRE and stalls to the 27k-step cap (D2): `--preset atari100k,epsilon0`.
    "epsilon0": {
        "der.epsilon_train": 0.0,
        "der.noisy_epsilon": "zero",
    },
}
IQN_PRESETS = _presets("iqn")
