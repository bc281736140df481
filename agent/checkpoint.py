"""checkpoint.pt: save/load atomically, and capture/restore every global RNG.

The checkpoint is a torch.save'd dict. Large numpy arrays (the replay's observations) are
wrapped as tensors first: torch stores tensor data as raw zip entries, while pickling a
numpy array copies it into one bytes object (slow, and limited to 4 GiB under pickle
protocol 2). The file is our own, so it is loaded with weights_only=False (it also holds
the environments' emulator states and numpy RNG states).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from atari100k.fileio import atomic_write

_ARRAY_TAG = "__ndarray__"


def _pack(obj: Any) -> Any:
    """numpy arrays (recursively in dicts/lists/tuples) -> tagged CPU tensors."""
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        # Shares memory (no copy of a 400 MB replay); torch.from_numpy needs writable memory.
        array = np.ascontiguousarray(obj)
        return {_ARRAY_TAG: torch.from_numpy(array if array.flags.writeable else array.copy())}
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_pack(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_pack(v) for v in obj)
    return obj


def _unpack(obj: Any) -> Any:
    """Inverse of `_pack`."""
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY_TAG}:
            return obj[_ARRAY_TAG].numpy()
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_unpack(v) for v in obj)
    return obj


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """torch.save `state` to a temp file next to `path`, fsync, then os.replace.

    A kill at any moment leaves either the previous checkpoint or the new one.
    numpy arrays anywhere in `state` are packed as tensors (see module docstring).
    """
    payload = _pack(state)
    # temp file in the same folder + fsync + os.replace (atari100k.fileio.atomic_write)
    atomic_write(path, lambda handle: torch.save(payload, handle), mode="wb")


def load_checkpoint(path: str | Path, device: torch.device) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint`; tensors go to `device`, numpy arrays stay numpy.

    The RNG states under "rng" stay on the CPU (torch requires ByteTensors there).
    """
    state = _unpack(torch.load(path, map_location="cpu", weights_only=False))
    if device.type != "cpu":
        rng = state.pop("rng", None)
        state = _to_device(state, device)
        if rng is not None:
            state["rng"] = rng
    return state


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_device(v, device) for v in obj)
    return obj


def capture_rng_state() -> dict[str, Any]:
    """States of python `random`, numpy's global RNG, torch CPU and (if used) all CUDA devices."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def seed_everything(seed: int) -> None:
    """Seed python `random`, numpy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
