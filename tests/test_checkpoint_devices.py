"""A checkpoint written on a GPU resumes on a CPU (issue 10).

No GPU here, so the GPU side is recreated faithfully: the checkpoint is re-saved with every
storage tagged `cuda:0` (what torch.save writes on a GPU; loading it without a map_location on
this machine fails, which the test checks) and with Adam's `capturable=True` (what a CUDA-graph
run saves). Resumed on the CPU, the run must go on exactly as from its own CPU checkpoint.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from agent import RunSpec, train_run
from tests.test_resume import assert_same_run
from tests.test_train import _StopAt, toy_spec


@contextlib.contextmanager
def storages_saved_as_cuda() -> Iterator[None]:
    """torch.save writes every storage's location as `cuda:0`, as it does on a GPU."""
    def tag(storage: Any) -> str:
        return "cuda:0"

    torch.serialization.register_package(0, tag, lambda storage, location: None)
    try:
        yield
    finally:
        registry = torch.serialization._package_registry
        registry[:] = [entry for entry in registry if entry[1] is not tag]


def _optimizer_states(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, dict):
        if "param_groups" in obj and "state" in obj:
            yield obj
        for value in obj.values():
            yield from _optimizer_states(value)


def as_gpu_checkpoint(path: Path) -> int:
    """Rewrite checkpoint.pt as a CUDA-graph run on a GPU saves it. Returns the optimisers seen."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    optimizers = list(_optimizer_states(state))
    for optimizer in optimizers:
        for group in optimizer["param_groups"]:
            group["capturable"] = True
    with storages_saved_as_cuda():
        torch.save(state, path)
    return len(optimizers)


DER_TOY = RunSpec(game="toy:cue", seed=0, presets=("debug",), algo="der", overrides=(
    "env.image_size=32", "train.steps=300", "train.log_every=50", "train.checkpoint_every=100",
    "der.min_replay=60", "der.batch_size=8", "der.target_update_period=40", "eval.every=150",
    "eval.episodes_during_training=2"))


@pytest.mark.parametrize("spec", [toy_spec(), DER_TOY], ids=["dreamerv2", "der"])
def test_a_gpu_checkpoint_resumes_on_the_cpu_as_its_cpu_twin(
    spec: RunSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cpu, gpu = tmp_path / "cpu", tmp_path / "gpu"
    # Stopped after some updates (so that Adam has step counters), then copied.
    assert train_run(spec, cpu, stop=_StopAt(220), progress=False).status == "interrupted"
    shutil.copytree(cpu, gpu)
    expected_optimizers = 3 if spec.algo == "dreamerv2" else 1
    assert as_gpu_checkpoint(gpu / "checkpoint.pt") == expected_optimizers
    if not torch.cuda.is_available():  # the file really says CUDA
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(gpu / "checkpoint.pt", weights_only=False)

    assert train_run(spec, gpu, progress=False).status == "done"
    assert train_run(spec, cpu, progress=False).status == "done"
    assert_same_run(cpu, gpu)


def test_an_optimizer_keeps_its_own_device_settings_and_the_run_its_history() -> None:
    """A CPU run's Adam (capturable=False, step counter on the CPU) loaded into the Adam of a
    CUDA-graph run keeps capturable=True (graph capture needs it), while the learning rate and
    moments come from the checkpoint."""
    from agent.device import load_optimizer_state

    saved_param = torch.nn.Parameter(torch.ones(3))
    saved = torch.optim.Adam([saved_param], lr=0.1, foreach=False)
    saved_param.grad = torch.full((3,), 2.0)
    saved.step()
    param = torch.nn.Parameter(torch.ones(3))
    graphed = torch.optim.Adam([param], lr=0.5, fused=True, capturable=True)
    load_optimizer_state(graphed, saved.state_dict())
    group = graphed.param_groups[0]
    assert group["capturable"] is True and group["fused"] is True and group["lr"] == 0.1
    step = graphed.state[param]["step"]
    assert step.device == param.device and step.dtype == torch.float32 and float(step) == 1.0
    assert torch.equal(graphed.state[param]["exp_avg"], saved.state[saved_param]["exp_avg"])
