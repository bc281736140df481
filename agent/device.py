"""Which device a run trains on, and the CUDA settings it trains with.

`resolve_device("auto")` picks CUDA when torch has it. Two cluster failure modes are caught
here rather than discovered in a job's wall clock: a job that was given a GPU but whose torch
is a CPU-only build (it would silently train on the node's CPU), and `cuda` asked on a machine
without one. On CUDA, TF32 matmuls/convolutions and cuDNN autotuning are switched on (the
usual speed settings for fp32 training on Ampere and later); `accelerator_info` records them in
run.json's provenance.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import torch

from atari100k.errors import UsageError

# Variables a scheduler sets when it allocates GPUs to a job.
GPU_ALLOCATION_VARIABLES = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE")


def allocated_gpus(environ: Mapping[str, str] | None = None) -> str | None:
    """`NAME=value` of the first variable saying this job holds a GPU, else None.

    CUDA_VISIBLE_DEVICES set to nothing, -1 or NoDevFiles means no GPU (Slurm writes
    NoDevFiles when a job asks for none on a GPU node).
    """
    env = os.environ if environ is None else environ
    for name in GPU_ALLOCATION_VARIABLES:
        value = env.get(name, "").strip()
        if value in ("", "-1", "NoDevFiles") or (name == "SLURM_GPUS_ON_NODE" and value == "0"):
            continue
        return f"{name}={value}"
    return None


def resolve_device(name: str, environ: Mapping[str, str] | None = None) -> torch.device:
    """'auto' -> cuda if available else cpu; a CUDA-less torch in a GPU job, or 'cuda' without one: UsageError."""
    cuda = torch.cuda.is_available()
    if name == "auto" and not cuda:
        allocation = allocated_gpus(environ)
        if allocation is not None:
            raise UsageError(
                f"this job holds a GPU ({allocation}) but torch {torch.__version__} has no CUDA "
                f"(built for CUDA: {torch.version.cuda or 'no'}); install a CUDA build in this job's environment "
                "(pip install torch from https://download.pytorch.org/whl/<cuda tag>), or set train.device=cpu "
                "to train on the CPU on purpose")
    if name == "cuda" and not cuda:
        raise UsageError("train.device=cuda but no CUDA device is available; use train.device=auto or cpu")
    device = torch.device("cuda" if name == "auto" and cuda else "cpu" if name == "auto" else name)
    if device.type == "cuda":
        configure_cuda()
    return device


def configure_cuda() -> None:
    """TF32 for fp32 matmuls and convolutions, and cuDNN autotuning for the run's fixed shapes."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


def set_deterministic(enabled: bool) -> None:
    """train.deterministic: only deterministic kernels, so that a CUDA run resumed from a checkpoint
    repeats the uninterrupted one bit for bit. cuDNN autotuning goes off (it may pick other
    kernels on resume) and cuBLAS gets the fixed workspace its deterministic mode needs (read
    when cuBLAS starts: call this before the first CUDA matmul). torch raises where an op has no
    deterministic kernel. CPU kernels are deterministic here either way."""
    torch.use_deterministic_algorithms(enabled)
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = enabled


def accelerator_info() -> dict[str, Any] | None:
    """The GPU and its math settings for run.json's provenance; None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return {
        "name": torch.cuda.get_device_name(),
        "cuda": torch.version.cuda,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_conv": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }


# Adam settings that belong to the device an optimiser runs on, not to the run's history.
_DEVICE_FLAGS = ("capturable", "fused", "foreach")


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """`optimizer.load_state_dict(state)`, keeping this optimiser's own device settings.

    A checkpoint holds the settings of the machine that wrote it: one from a CPU (or an eager GPU
    run) says `capturable=False`, and loaded as is into a run whose update is a CUDA graph, it
    makes the capture fail. The settings the optimiser was built with here win, and each step
    counter goes where they keep it: beside its parameter (fused/capturable, float32) or on the CPU.
    """
    own = [{key: group[key] for key in _DEVICE_FLAGS if key in group} for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, flags in zip(optimizer.param_groups, own):
        group.update(flags)
        on_device = bool(group.get("capturable") or group.get("fused"))
        for param in group["params"]:
            step = optimizer.state.get(param, {}).get("step")
            if isinstance(step, torch.Tensor):
                optimizer.state[param]["step"] = (
                    step.to(param.device, torch.float32) if on_device else step.to("cpu", torch.float32))
