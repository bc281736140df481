"""`train.deterministic=true` on one GPU: two identical runs of updates agree bit for bit, and
what the mode costs per update.

For DreamerV2 (atari100k preset, random batches) and DER (random replay), with deterministic
kernels on: two learners from one seed, `--updates` updates each, then the largest parameter
difference (0.0 is the claim) and the ms per update; then the same timing with the mode off.
torch raises at the first op without a deterministic kernel, which is also a finding.
    python benchmarks/gpu/check_deterministic.py [--updates 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from agent.algorithms import learner_class
from agent.bench import random_batch
from agent.config import resolve_config
from agent.device import set_deterministic


def dreamer_updates(device: torch.device, updates: int) -> tuple[list[torch.Tensor], float]:
    """Parameters after `updates` DreamerV2 updates from seed 0, and the ms per update."""
    from agent.dreamerv2.dreamer import DreamerV2

    config = resolve_config(("atari100k",), [])
    torch.manual_seed(0)
    model = DreamerV2(config, (1, 64, 64), 6, device)
    batches = [random_batch(config.train.batch_length, config.train.batch_size, 6) for _ in range(2)]
    return _timed(lambda i: model.train_step(batches[i % 2]), device, updates, model.parameters)


def der_updates(device: torch.device, updates: int) -> tuple[list[torch.Tensor], float]:
    """Parameters after `updates` DER updates from seed 0 on a random replay, and the ms per update."""
    config = resolve_config(("atari100k",), [], None, "der")
    torch.manual_seed(0)
    learner = learner_class("der")(config, (1, 84, 84), 6, 1, device, 0)
    rng = np.random.default_rng(0)
    for _ in range(3_000):
        end = bool(rng.random() < 0.01)
        learner.replay.add(rng.integers(0, 256, (84, 84), dtype=np.uint8), int(rng.integers(6)),
                           float(rng.normal()), end, end)
    return _timed(lambda _: learner.update(), device, updates, learner.online.parameters)


def _timed(update, device: torch.device, updates: int, parameters) -> tuple[list[torch.Tensor], float]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    update(0)  # warm-up (and the CUDA graph capture where the learner uses one)
    sync()
    start = time.perf_counter()
    for i in range(1, updates + 1):
        update(i)
    sync()
    ms = (time.perf_counter() - start) / updates * 1e3
    return [p.detach().clone() for p in parameters()], ms


def _graphs_default(algo: str) -> bool:
    """Whether the runs above were CUDA graphs (the algorithm's default `train.cuda_graphs`; DreamerV2's
    was off until 2026-11-27, so that day's DreamerV2 figures are eager)."""
    return bool(resolve_config(("atari100k",), [], None, algo).train.cuda_graphs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--device", default="cuda", help="cpu: a smoke test of this script")
    args = parser.parse_args()
    device = torch.device(args.device)
    for name, run in (("dreamerv2", dreamer_updates), ("der", der_updates)):
        set_deterministic(True)
        first, det_ms = run(device, args.updates)
        second, _ = run(device, args.updates)
        set_deterministic(False)
        _, free_ms = run(device, args.updates)
        diff = max(float((a - b).abs().max()) for a, b in zip(first, second))
        print(json.dumps({"algo": name, "updates": args.updates, "max_param_diff_between_twins": diff,
                          "bitwise_equal": diff == 0.0, "cuda_graphs_default": _graphs_default(name),
                          "deterministic_ms_per_update": round(det_ms, 3),
                          "default_ms_per_update": round(free_ms, 3)}), flush=True)


if __name__ == "__main__":
    main()
