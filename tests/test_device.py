"""Device choice: a GPU job with a CPU-only torch stops with one line; no GPU variables, CPU."""

from __future__ import annotations

import pytest
import torch

from agent.device import accelerator_info, allocated_gpus, configure_cuda, resolve_device
from atari100k.errors import UsageError

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only torch case")


@pytest.mark.parametrize("environ, expected", [
    ({}, None),
    ({"CUDA_VISIBLE_DEVICES": ""}, None),
    ({"CUDA_VISIBLE_DEVICES": "-1"}, None),
    ({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, None),
    ({"SLURM_GPUS_ON_NODE": "0"}, None),
    ({"CUDA_VISIBLE_DEVICES": "0,1"}, "CUDA_VISIBLE_DEVICES=0,1"),
    ({"SLURM_JOB_GPUS": "3"}, "SLURM_JOB_GPUS=3"),
    ({"SLURM_GPUS_ON_NODE": "1"}, "SLURM_GPUS_ON_NODE=1"),
])
def test_allocated_gpus_reads_scheduler_variables(environ, expected):
    assert allocated_gpus(environ) == expected


@needs_no_cuda
def test_gpu_job_with_cpu_torch_is_refused_with_the_build_named():
    with pytest.raises(UsageError) as error:
        resolve_device("auto", {"CUDA_VISIBLE_DEVICES": "0"})
    message = str(error.value)
    assert "CUDA_VISIBLE_DEVICES=0" in message and torch.__version__ in message and "\n" not in message


@needs_no_cuda
def test_cpu_choices_without_a_gpu():
    assert resolve_device("auto", {}).type == "cpu"
    assert resolve_device("cpu", {"CUDA_VISIBLE_DEVICES": "0"}).type == "cpu"  # asked for on purpose
    with pytest.raises(UsageError):
        resolve_device("cuda", {})
    assert accelerator_info() is None


def test_cuda_settings_switch_on_tf32_and_autotuning():
    """What resolve_device applies on a GPU (the flags can be set, and are restored, on any build)."""
    flags = ((torch.backends.cuda.matmul, "allow_tf32"), (torch.backends.cudnn, "allow_tf32"),
             (torch.backends.cudnn, "benchmark"))
    before = [getattr(module, name) for module, name in flags]
    try:
        for module, name in flags:
            setattr(module, name, False)
        configure_cuda()
        assert all(getattr(module, name) is True for module, name in flags)
    finally:
        for (module, name), value in zip(flags, before):
            setattr(module, name, value)


def test_deterministic_mode_is_set_and_cleared(monkeypatch):
    from agent.device import set_deterministic

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    benchmark = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = True
        set_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert torch.backends.cudnn.benchmark is False
        import os
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        set_deterministic(False)
        assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
    finally:
        set_deterministic(False)
        torch.backends.cudnn.benchmark = benchmark


def test_a_run_with_train_deterministic_trains_in_deterministic_mode(tmp_path, monkeypatch):
    """The run's config reaches torch before the first update (and the DreamerV2 update has a
    deterministic kernel for every op it uses, or torch would raise here)."""
    from agent import train_run
    from agent.device import set_deterministic
    from tests.test_train import _StopAt, toy_spec

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        result = train_run(toy_spec(0, "train.deterministic=true"), tmp_path / "run", stop=_StopAt(150),
                           progress=False)
        assert result.status == "interrupted" and torch.are_deterministic_algorithms_enabled()
    finally:
        set_deterministic(False)
