"""Whole-step CUDA graphs: a step function captured once and replayed, as in PyTorch's
"whole network capture" recipe (torch.cuda.graphs docs).

A small learner step (DER's update is ~200 kernels on batch 32) spends most of its time in
Python and kernel launches on a GPU; replaying a captured graph launches all of it at once.
`GraphedStep(step, device, enabled)` wraps `step(inputs) -> outputs` (dicts of tensors):
- on a CPU, or disabled: `step` runs as is, on the inputs moved to the device;
- on CUDA: the first `warmup` calls run eagerly on a side stream (lazy state such as the
  optimiser's and cuDNN's autotuning is created outside the capture; they are real calls,
  not rehearsals), the next call captures `step` on static copies of its inputs, and every
  call from then on copies its inputs into those buffers and replays the graph.
What `step` may do: no host synchronisation (`.item()`, `float()`, `.cpu()`, data-dependent
shapes), the same shapes and dtypes on every call, random draws from torch's default CUDA
generator (graph-safe), in-place updates of parameters and buffers (never rebinding them), and
an optimiser built with `capturable=True`. The outputs are the graph's static tensors, which the
next replay overwrites: read them before the next call, or ask `copy_outputs=True` for copies (a
caller that keeps outputs across calls: DreamerV2's metrics and acting state).
"""

from __future__ import annotations

from typing import Callable

import torch

Tensors = dict[str, torch.Tensor]


class GraphedStep:
    """`step` eagerly on CPU (or when disabled), captured and replayed as a CUDA graph on a GPU."""

    def __init__(self, step: Callable[[Tensors], Tensors], device: torch.device, enabled: bool = True,
                 warmup: int = 3, copy_outputs: bool = False, name: str = "the step") -> None:
        self.step, self.device, self.warmup, self.copy_outputs = step, device, warmup, copy_outputs
        self.name = name  # for the one line a failed capture gives (status shows it as the run's error)
        self.enabled = enabled and device.type == "cuda"
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_inputs: Tensors = {}
        self.static_outputs: Tensors = {}

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, inputs: Tensors) -> Tensors:
        self.calls += 1
        if not self.enabled:
            return self.step({key: value.to(self.device) for key, value in inputs.items()})
        if self.graph is None and self.calls <= self.warmup:
            return self._warmup_call(inputs)
        if self.graph is None:
            try:
                self._capture(inputs)
            except torch.cuda.OutOfMemoryError:
                raise  # its own advice (a smaller batch, another job on the GPU), not the graphs'
            except Exception as error:  # a kernel or op that cannot be captured on this GPU / torch build
                raise RuntimeError(f"capturing {self.name} as a CUDA graph failed ({type(error).__name__}: "
                                   f"{str(error).splitlines()[0] if str(error) else ''}); train without graphs: "
                                   f"--set train.cuda_graphs=false (the run resumes with either)") from error
        for key, value in inputs.items():
            self.static_inputs[key].copy_(value, non_blocking=True)
        self._replay()
        if self.copy_outputs:
            return {key: value.clone() for key, value in self.static_outputs.items()}
        return self.static_outputs

    def _replay(self) -> None:
        self.graph.replay()

    def _warmup_call(self, inputs: Tensors) -> Tensors:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            outputs = self.step({key: value.to(self.device, non_blocking=True) for key, value in inputs.items()})
        torch.cuda.current_stream().wait_stream(side)
        return outputs

    def _capture(self, inputs: Tensors) -> None:
        self.static_inputs = {key: torch.empty_like(value, device=self.device) for key, value in inputs.items()}
        for key, value in inputs.items():
            self.static_inputs[key].copy_(value)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_outputs = self.step(self.static_inputs)
        # Capturing records the kernels without running them: the first replay (in __call__) is
        # this call's real step.
        self.graph = graph
