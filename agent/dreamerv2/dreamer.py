"""DreamerV2: the world model and the actor-critic behind one small interface.

    model = DreamerV2(config, obs_shape=(1, 64, 64), num_actions=6, device=torch.device("cpu"))
    state = model.initial_state(num_envs)
    actions, state = model.act(obs, is_first, state, mode="sample")
    metrics = model.train_step(batch)      # world model, then actor, then critic

The training loop owns the RNGs (torch's global generator drives every sample here).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from typing import Any

import torch
from torch import nn

from agent.cuda_graph import GraphedStep
from agent.dreamerv2.behavior import ActorCritic
from agent.dreamerv2.config import DreamerV2Config as Config
from agent.dreamerv2.rssm import State
from agent.dreamerv2.world_model import WorldModel

PolicyState = tuple[State, torch.Tensor]


def _flat_latent(latent: State) -> dict[str, torch.Tensor]:
    """A latent as acting-graph tensors: `latent.<name>` keys (the graph's inputs and outputs are one flat dict)."""
    return {f"latent.{name}": value for name, value in latent.items()}


def _latent(tensors: dict[str, torch.Tensor]) -> State:
    """The latent among acting-graph tensors (`_flat_latent`'s inverse)."""
    return {name.removeprefix("latent."): value for name, value in tensors.items() if name.startswith("latent.")}


class DreamerV2(nn.Module):
    """World model + actor-critic, their optimisers, and the acting policy."""

    restart_on_life_loss = False  # the latent carries on across lives (agent.learner.EvalPolicy)
    # torch.compile's backend under train.compile (a name or a staticmethod; tests use "aot_eager").
    compile_backend = "inductor"

    def __init__(self, config: Config, obs_shape: tuple[int, int, int], num_actions: int, device: torch.device):
        super().__init__()
        self.config = config
        self.num_actions = num_actions
        self.device = device
        self.world_model = WorldModel(config, obs_shape, num_actions)
        self.behavior = ActorCritic(config, self.world_model.rssm.feat_dim, num_actions)
        self.to(device)
        # Optimisers were built before .to(device); Adam's state is created lazily, on device.
        self._autocast = config.train.precision == "bf16"
        if self._autocast and device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            warnings.warn(
                "train.precision=bf16 on a CPU without bf16 units (AVX512-BF16/AMX): bf16 matmuls are emulated "
                "and far slower than fp32 here; use train.precision=fp32", stacklevel=2,
            )
        if config.train.compile:
            self._compile()
        graphs = config.train.cuda_graphs and device.type == "cuda"
        if graphs:
            for optimizer in (self.world_model.optimizer, self.behavior.actor_opt, self.behavior.critic_opt):
                optimizer.make_capturable()
        # Copies of the graphs' outputs: the learner keeps the metrics of its pretraining updates until
        # the run loop adds them up, and the policy state lives across acting steps.
        self._update = GraphedStep(self._update_step, device, graphs, copy_outputs=True, name="DreamerV2's update")
        # One acting graph per (mode, number of envs): training samples with the run's envs, each
        # evaluation acts greedily with its own count (at most a few graphs in a run).
        self._act_graphs: dict[tuple[str, int], GraphedStep] = {}

    def _compile(self) -> None:
        """torch.compile the update's three losses (world model, actor with imagination, critic;
        their backward comes compiled with them) and the acting step. The optimiser steps stay
        fused Adam. Random draws keep torch's own generator (`fallback_random`, an inductor setting
        for the whole process: a run process compiles only this model), so a compiled run draws
        the same numbers as an eager one and resumes exactly the same way."""
        import torch._inductor.config

        torch._inductor.config.fallback_random = True
        compiler = functools.partial(torch.compile, backend=self.compile_backend, dynamic=False)
        self.world_model.compile_update(compiler)
        self.behavior.compile_update(compiler)
        self._act_step = compiler(self._act_step)

    def _precision(self) -> contextlib.AbstractContextManager:
        if self._autocast:
            # bf16 autocast on CUDA, and on CPUs with bf16 units (with AMX: ~1.7x faster than fp32).
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def initial_state(self, batch_size: int) -> PolicyState:
        """Zero latent and zero previous action for `batch_size` environments."""
        latent = self.world_model.rssm.initial(batch_size, self.device)
        return latent, torch.zeros(batch_size, self.num_actions, device=self.device)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, is_first: torch.Tensor, state: PolicyState, mode: str) -> tuple[torch.Tensor, PolicyState]:
        """Choose actions for one step of N environments.

        obs uint8 [N, C, H, W]; is_first bool [N] (resets the latent and previous action);
        mode 'sample' (training) or 'mode' (greedy, the reference's evaluation).
        Returns (int64 actions [N] on the CPU, new state).
        """
        latent, prev_action = state
        key = (mode, obs.shape[0])
        if key not in self._act_graphs:
            self._act_graphs[key] = GraphedStep(functools.partial(self._act_tensors, mode=mode), self.device,
                                                self._update.enabled, copy_outputs=True,
                                                name=f"DreamerV2's acting step ({mode}, {obs.shape[0]} envs)")
        out = self._act_graphs[key]({"obs": obs, "is_first": is_first, "prev_action": prev_action,
                                     **_flat_latent(latent)})
        return out["action"].argmax(-1).cpu(), (_latent(out), out["action"])

    def _act_tensors(self, inputs: dict[str, torch.Tensor], mode: str) -> dict[str, torch.Tensor]:
        """act's device work on a dict of device tensors (the same kernels every call of one mode and
        batch size: may be a CUDA graph). Returns `action` and the new latent as `latent.<name>`."""
        with self._precision():
            latent, action = self._act_step(inputs["obs"], inputs["is_first"], _latent(inputs), inputs["prev_action"],
                                            mode)
        return {"action": action, **_flat_latent(latent)}

    def _act_step(self, obs: torch.Tensor, is_first: torch.Tensor, latent: State, prev_action: torch.Tensor,
                  mode: str) -> tuple[State, torch.Tensor]:
        """act's device work: encoder, one posterior step, the actor. Returns (latent, one-hot
        actions [N, A] as float)."""
        wm = self.world_model
        proj = wm.rssm.project_embed(wm.encoder(obs))
        latent = wm.rssm.obs_step(latent, prev_action, proj, is_first)
        action = self.behavior.act(wm.rssm.features(latent), mode)
        return latent, action.detach().float()

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One full update on a replay batch; returns metrics as detached 0-d tensors.

        Nothing is read back to the host (no `.item()`, `float()`, `.cpu()`): on a GPU the
        update is queued and the run loop reads the metrics once per log row.

        batch (time-major, on any device): `obs` uint8 [T, B, C, H, W]; `action` float one-hot
        [T, B, A] holding a_{t-1} (zeros where is_first); `reward` float [T, B] raw game reward
        (the model learns tanh(reward)); `is_first`, `is_terminal` bool [T, B].
        """
        metrics = self._update(batch)
        self.behavior.finish_update()
        return metrics

    def _update_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The update's device work on a device batch (the same kernels every time: may be a CUDA graph)."""
        with self._precision():
            post, metrics = self.world_model.train_step(batch)
            metrics.update(self.behavior.train_step(self.world_model, post, batch["is_terminal"]))
        return {k: v.detach() for k, v in metrics.items()}

    @property
    def updates(self) -> int:
        """Number of full updates done."""
        return self.behavior.update_count

    def checkpoint_state(self) -> dict[str, Any]:
        """Networks, optimisers and the update counter (what exact resume needs of the model)."""
        return {
            "modules": self.state_dict(),
            "model_opt": self.world_model.optimizer.state_dict(),
            "actor_opt": self.behavior.actor_opt.state_dict(),
            "critic_opt": self.behavior.critic_opt.state_dict(),
        }

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Inverse of checkpoint_state."""
        self.load_state_dict(state["modules"])
        self.world_model.optimizer.load_state_dict(state["model_opt"])
        self.behavior.actor_opt.load_state_dict(state["actor_opt"])
        self.behavior.critic_opt.load_state_dict(state["critic_opt"])

    def parameter_counts(self) -> dict[str, int]:
        """Parameters of the world model, actor and critic (the paper: ~20M, ~1M, ~1M)."""
        count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
        return {
            "world_model": count(self.world_model),
            "actor": count(self.behavior.actor),
            "critic": count(self.behavior.critic),
        }
