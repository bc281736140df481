"""Adam with the reference's gradient clipping and decoupled weight decay."""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from agent.device import load_optimizer_state


class Optimizer:
    """Adam(lr, eps) over `params`; each `step(loss)` does backward, clip, decay, update.

    Weight decay is the reference's `w *= 1 - wd` before the Adam update (not scaled by lr,
    unlike torch's AdamW). Nothing here reads a value back to the host: the step counters
    live with the parameters (fused Adam) and the norm is returned as a tensor.
    """

    def __init__(self, params: Iterable[nn.Parameter], lr: float, eps: float, clip: float, weight_decay: float):
        self.params = [p for p in params if p.requires_grad]
        fused = all(p.device.type in ("cpu", "cuda") for p in self.params)
        self.adam = torch.optim.Adam(self.params, lr=lr, eps=eps, fused=fused)
        self.clip = clip
        self.weight_decay = weight_decay

    def step(self, loss: torch.Tensor, after_backward: Callable[[], None] | None = None) -> torch.Tensor:
        """Backpropagate `loss` into this optimiser's params and update them. Returns the grad norm (0-d).

        after_backward: completes `.grad` before clipping (StepwiseLinear.accumulate_grads).
        """
        self.adam.zero_grad(set_to_none=True)
        loss.backward()
        if after_backward is not None:
            after_backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        if self.weight_decay:
            with torch.no_grad():
                torch._foreach_mul_(self.params, 1.0 - self.weight_decay)
        self.adam.step()
        return norm.detach()

    def make_capturable(self) -> None:
        """Let `step` be captured in a CUDA graph (Adam then keeps its step counters on the device)."""
        for group in self.adam.param_groups:
            group["capturable"] = True

    def state_dict(self) -> dict:
        """Adam's state (moments, step counts)."""
        return self.adam.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Restore Adam's state (this device's settings kept: agent.device.load_optimizer_state)."""
        load_optimizer_state(self.adam, state)
