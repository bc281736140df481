"""Layers for the update's sequential loops whose parameter gradients are computed once for all
steps (the filter's 50 steps, imagination's 15): StepwiseLinear, StepwiseLayerNorm, StepwiseMLP.
See Stepwise for the idea; tests/test_dreamer_stepwise.py checks them against autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agent.dreamerv2.networks import MLP


class Stepwise:
    """A layer called once per step of a sequential loop, whose parameter gradients are computed
    for all the steps at once.

    Inside a loop of T steps autograd computes each parameter's gradient per step (a matmul or a
    sum) and accumulates it into `.grad` (an add): 2T small ops per parameter where one op over
    the stacked steps does (cuDNN's RNNs compute their weight gradients so). Here each step
    records what its parameter gradients need, and in backward its output's gradient;
    `accumulate_grads()`, called after `backward()`, computes them over all the recorded steps
    and adds them into `.grad`. The same gradients, up to the order of a sum. Make one per loop
    (it holds that loop's records).

        layer = StepwiseLinear(module.linear)
        for t in range(T): y = layer(x[t])
        loss.backward(); layer.accumulate_grads()
    """

    def __init__(self, params: list[nn.Parameter]):
        self.params = params
        self.records: list[tuple[torch.Tensor, ...]] = []
        self.grads: dict[int, torch.Tensor] = {}

    def _recording(self) -> bool:
        return torch.is_grad_enabled() and self.params[0].requires_grad

    def _record(self, *tensors: torch.Tensor) -> int:
        self.records.append(tuple(t.detach() for t in tensors))
        return len(self.records) - 1

    def _param_grads(self, grad: torch.Tensor, *records: torch.Tensor) -> list[torch.Tensor]:
        """Each parameter's gradient from the stacked output gradients [N*, out] and records."""
        raise NotImplementedError

    def accumulate_grads(self) -> None:
        """Add the recorded steps' parameter gradients into `.grad` (after `backward()`)."""
        if not self.grads:
            return
        steps = sorted(self.grads)
        stack = lambda parts: torch.cat(parts) if len(parts) > 1 else parts[0]  # noqa: E731
        grad = stack([self.grads[t] for t in steps])
        records = [stack([self.records[t][i] for t in steps]) for i in range(len(self.records[steps[0]]))]
        for param, value in zip(self.params, self._param_grads(grad, *records)):
            value = value.to(param.dtype)
            param.grad = value if param.grad is None else param.grad + value
        self.grads.clear()


class _RecordedLinear(torch.autograd.Function):
    """x W^T + base, whose backward returns the input's and the base's gradients and records the
    output's gradient. The weight is passed as the parameter itself, so that the output has a
    gradient even when neither x nor base does, but gets none from here."""

    @staticmethod
    def forward(ctx, x, weight, base, grads: dict, step: int):  # noqa: ANN001, ANN205
        ctx.save_for_backward(weight)
        ctx.grads, ctx.step = grads, step
        return x.mm(weight.t()) if base is None else torch.addmm(base, x, weight.t())

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        (weight,) = ctx.saved_tensors
        ctx.grads[ctx.step] = grad
        # Under autocast `grad` may be bf16 while the weight is fp32 (a no-op cast otherwise).
        grad_x = grad.mm(weight.detach().to(grad.dtype)) if ctx.needs_input_grad[0] else None
        return grad_x, None, grad if ctx.needs_input_grad[2] else None, None, None


class StepwiseLinear(Stepwise):
    """An nn.Linear as a loop calls it (see Stepwise): W.grad += G^T X, b.grad += sum(G)."""

    def __init__(self, layer: nn.Linear):
        super().__init__([layer.weight] + ([layer.bias] if layer.bias is not None else []))
        self.layer = layer
        self.with_bias: bool | None = None

    def __call__(self, x: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """x W^T + b for x [N, in]; with `base` [N, out], x W^T + base instead: for a caller that
        added the bias into a term precomputed for all steps (whose gradient autograd then takes)."""
        with_bias = base is None and self.layer.bias is not None
        if self.with_bias is None:
            self.with_bias = with_bias
        if with_bias != self.with_bias:
            raise ValueError("a StepwiseLinear is called either always or never with `base`")
        weight = self.layer.weight
        base = self.layer.bias.detach() if with_bias else base
        if not self._recording():
            return torch.addmm(base, x, weight.t()) if base is not None else x.mm(weight.t())
        return _RecordedLinear.apply(x, weight, base, self.grads, self._record(x))

    def _param_grads(self, grad: torch.Tensor, *records: torch.Tensor) -> list[torch.Tensor]:
        (inputs,) = records
        weight_grad = grad.t().mm(inputs.to(grad.dtype))
        return [weight_grad, grad.sum(0)] if self.with_bias else [weight_grad]


class _RecordedLayerNorm(torch.autograd.Function):
    """LayerNorm over the last dimension (in fp32, as autocast runs it) with a constant `offset`
    in place of its bias, whose backward returns the input's gradient only and records the
    output's gradient."""

    @staticmethod
    def forward(ctx, x, weight, offset, eps: float, grads: dict, step: int, saved: list):  # noqa: ANN001, ANN205
        x = x.float()
        out, mean, rstd = torch.native_layer_norm(x, weight.shape, weight.detach(), offset, eps)
        ctx.save_for_backward(x, mean, rstd, weight)
        ctx.grads, ctx.step = grads, step
        saved.extend((x, mean, rstd))
        return out

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        x, mean, rstd, weight = ctx.saved_tensors
        ctx.grads[ctx.step] = grad
        grad_x = torch.ops.aten.native_layer_norm_backward(
            grad, x, weight.shape, mean, rstd, weight.detach(), None, [True, False, False])[0]
        return grad_x, None, None, None, None, None, None


class StepwiseLayerNorm(Stepwise):
    """An nn.LayerNorm as a loop calls it (see Stepwise): with x_hat = (x - mean) * rstd,
    weight.grad += sum(G * x_hat), bias.grad += sum(G). `offset` [D]: a constant added to the
    output (folded into the bias once for the loop)."""

    def __init__(self, norm: nn.LayerNorm, offset: torch.Tensor | None = None):
        super().__init__([norm.weight, norm.bias])
        self.norm = norm
        self.offset = norm.bias.detach() if offset is None else norm.bias.detach() + offset

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """LayerNorm of x [N, D] (+ offset) -> [N, D]."""
        norm = self.norm
        if not self._recording():
            return F.layer_norm(x, norm.normalized_shape, norm.weight, self.offset, norm.eps)
        saved: list[torch.Tensor] = []
        step = len(self.records)
        out = _RecordedLayerNorm.apply(x, norm.weight, self.offset, norm.eps, self.grads, step, saved)
        self._record(*saved)
        return out

    def _param_grads(self, grad: torch.Tensor, *records: torch.Tensor) -> list[torch.Tensor]:
        x, mean, rstd = records
        return [(grad * ((x - mean) * rstd)).sum(0), grad.sum(0)]


class StepwiseMLP:
    """An MLP called once per step of a loop, with StepwiseLinear layers (ELU between them)."""

    def __init__(self, mlp: MLP):
        self.layers = [StepwiseLinear(layer) for layer in mlp.modules() if isinstance(layer, nn.Linear)]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = F.elu(layer(x))
        return self.layers[-1](x)

    def accumulate_grads(self) -> None:
        """StepwiseLinear.accumulate_grads for every layer."""
        for layer in self.layers:
            layer.accumulate_grads()
