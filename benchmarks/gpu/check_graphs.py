"""CUDA-graph updates against eager ones on one GPU: same init, same replay, same batches.

For each case, two learners are built from one seed, fed the same random replay and updated
`--updates` times, one with `train.cuda_graphs=true` and one without; prints the largest loss and
parameter differences and the ms per update of each. TF32 is off here so that the only
differences are kernel-order rounding. DER without noise has no random draws in its update, so
its first graph replays must agree with eager updates to rounding (`ok`); with noise and for IQN
the draws come from one CUDA generator in both runs, so they agree too when the graph consumes
random numbers as eager does. Over many updates the runs drift apart (Adam turns rounding-level
gradient differences into full steps, and prioritised sampling then picks other batches): measured
on an H200, 200 updates, TF32 off, at commit f229adc (before first_replays was printed): max
relative loss difference 0.22 (DER, no noise), 0.048 (DER), 0.0026 (IQN, uniform replay).
Last, DreamerV2 on random batches: `train.cuda_graphs` (on by default since this check passed, 2026-11-27),
and `train.compile` captured as CUDA graphs (its first update, the compilation, timed apart); and
DreamerV2's acting step, eager against its CUDA graph (the same observations, resets and draws).
    python benchmarks/gpu/check_graphs.py [--updates 200] [--cases value,dreamer,act]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import numpy as np
import torch

from agent.algorithms import learner_class
from agent.config import resolve_config

CASES = (("der", ["der.noisy=false"]), ("der", []), ("iqn", []))


def build(algo: str, overrides: list[str], graphs: bool, device: torch.device):
    config = resolve_config(("atari100k",), overrides + [f"train.cuda_graphs={str(graphs).lower()}"], None, algo)
    torch.manual_seed(0)  # seeds the CUDA generator too
    learner = learner_class(algo)(config, (1, 84, 84), 6, 1, device, 0)
    rng = np.random.default_rng(0)
    for _ in range(3_000):
        end = bool(rng.random() < 0.01)
        learner.replay.add(rng.integers(0, 256, (84, 84), dtype=np.uint8), int(rng.integers(6)), float(rng.normal()),
                           end, end)
    return learner


def timed_losses(update: Callable[[int], float], device: torch.device, updates: int) -> tuple[list[float], float]:
    """The loss of each of `updates` calls of `update(i)`, and the ms per call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    losses = [update(i) for i in range(updates)]
    sync()
    return losses, (time.perf_counter() - start) / updates * 1e3


def agreement(eager: list[float], graphed: list[float], warmup: int) -> dict:
    """How far the graphed losses are from the eager ones. The first replays after the `warmup` eager
    calls are where a wrong capture shows: later, rounding differences grow through Adam (tiny
    gradients get full-size steps) and prioritised sampling (other batches)."""
    rel = [abs(a - b) / max(abs(a), 1e-6) for a, b in zip(eager, graphed)]
    first_replays = max(rel[warmup:warmup + 8], default=float("nan"))
    return {"first_replays_max_rel_loss_diff": first_replays, "max_rel_loss_diff": max(rel),
            "losses_after_warmup": eager[warmup:warmup + 3], "graph_losses_after_warmup": graphed[warmup:warmup + 3],
            "ok": bool(first_replays < 1e-4)}


def run(learner, updates: int) -> tuple[list[float], float]:
    torch.manual_seed(1)  # both runs draw the same noise and taus (if the graph draws as eager does)
    return timed_losses(lambda _: learner.update()["loss"], learner.device, updates)


DREAMER_VARIANTS = {"graphs": ["train.cuda_graphs=true"], "compile+graphs": ["train.compile=true", "train.cuda_graphs=true"]}


def dreamer_case(updates: int, device: torch.device) -> list[dict]:
    """DreamerV2 at the atari100k preset: the same random batches through an eager model and each of
    DREAMER_VARIANTS (CUDA graphs; torch.compile captured as CUDA graphs), one row per variant."""
    from agent.bench import random_batch
    from agent.dreamerv2.dreamer import DreamerV2

    def trained(overrides: list[str]) -> tuple[DreamerV2, list[float], float, float]:
        config = resolve_config(("atari100k",), overrides)
        torch.manual_seed(0)
        model = DreamerV2(config, (1, 64, 64), 6, device)
        torch.manual_seed(1)
        batches = [random_batch(config.train.batch_length, config.train.batch_size, 6) for _ in range(4)]
        start = time.perf_counter()
        first = float(model.train_step(batches[0])["model/loss"])  # compiles, with train.compile
        first_s = time.perf_counter() - start
        losses, ms = timed_losses(
            lambda i: float(model.train_step(batches[(i + 1) % len(batches)])["model/loss"]), device, updates - 1)
        return model, [first] + losses, ms, first_s

    _, eager_losses, eager_ms, _ = trained(["train.cuda_graphs=false"])
    rows = []
    for name, overrides in DREAMER_VARIANTS.items():
        model, losses, ms, first_s = trained(overrides)
        rows.append({"algo": "dreamerv2", "variant": name, "updates": updates, "captured": model._update.captured,
                     **agreement(eager_losses, losses, model._update.warmup),
                     "eager_ms_per_update": round(eager_ms, 3), "variant_ms_per_update": round(ms, 3),
                     "first_update_s": round(first_s, 1)})
    return rows


def dreamer_act_case(steps: int, device: torch.device, envs: int = 4) -> list[dict]:
    """DreamerV2's acting step (encoder, posterior step, actor) eager and as a CUDA graph: one model
    from one seed, the same observations and resets (all envs at the start, one env midway) and the
    same random draws. The graph replays the eager kernels, so actions must agree exactly and the
    latents to rounding (`ok`; a rounding difference that flips one sampled latent would make the
    runs part from that step on, `first_mismatch_step` says where: rerun before calling it broken).
    ms per step after the first 10 calls (the graph's warm-up and capture). One row per mode ('sample'
    for training, 'mode' for evaluation)."""
    from agent.dreamerv2.dreamer import DreamerV2

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    generator = torch.Generator().manual_seed(1)
    obs = torch.randint(0, 256, (steps, envs, 1, 64, 64), dtype=torch.uint8, generator=generator)
    first = torch.zeros(steps, envs, dtype=torch.bool)
    first[0], first[steps // 2, 1] = True, True
    rows = []
    for mode in ("sample", "mode"):
        runs = {}
        for graphs in (False, True):
            config = resolve_config(("atari100k",), [f"train.cuda_graphs={str(graphs).lower()}"])
            torch.manual_seed(0)
            model = DreamerV2(config, (1, 64, 64), 6, device)
            state = model.initial_state(envs)
            torch.manual_seed(2)
            actions, deters = [], []
            for t in range(steps):
                if t == 10:
                    sync()
                    start = time.perf_counter()
                action, state = model.act(obs[t], first[t], state, mode)
                actions.append(action)
                deters.append(state[0]["deter"])
            sync()
            ms = (time.perf_counter() - start) / (steps - 10) * 1e3
            runs[graphs] = (torch.stack(actions), torch.stack(deters).cpu(), ms, model._act_graphs[(mode, envs)].captured)
        (eager_actions, eager_deter, eager_ms, _), (graph_actions, graph_deter, graph_ms, captured) = runs[False], runs[True]
        equal = bool(torch.equal(eager_actions, graph_actions))
        diff = float((eager_deter - graph_deter).abs().max())
        mismatch = (eager_actions != graph_actions).any(-1).nonzero()
        rows.append({"algo": "dreamerv2", "variant": f"act ({mode})", "steps": steps, "envs": envs, "captured": captured,
                     "actions_equal": equal, "max_deter_diff": diff, "ok": equal and diff < 1e-4,
                     "first_mismatch_step": int(mismatch[0]) if len(mismatch) else None,
                     "eager_ms_per_step": round(eager_ms, 3), "graph_ms_per_step": round(graph_ms, 3)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--device", default="cuda", help="cpu: a smoke test of this script (both runs eager)")
    parser.add_argument("--cases", default="value,dreamer,act",
                        help="value: DER and IQN updates; dreamer: DreamerV2 updates; act: DreamerV2 acting")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    if not cases <= {"value", "dreamer", "act"}:
        parser.error(f"--cases: unknown {sorted(cases - {'value', 'dreamer', 'act'})}; use value, dreamer, act")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.device)
    for algo, overrides in CASES if "value" in cases else ():
        eager, graphed = build(algo, overrides, False, device), build(algo, overrides, True, device)
        eager_losses, eager_ms = run(eager, args.updates)
        graph_losses, graph_ms = run(graphed, args.updates)
        param_diff = max(float((p.detach() - q.detach()).abs().max())
                         for p, q in zip(eager.online.parameters(), graphed.online.parameters()))
        print(json.dumps({
            "algo": algo, "overrides": overrides, "updates": args.updates, "captured": graphed._learn.captured,
            **agreement(eager_losses, graph_losses, graphed._learn.warmup), "max_param_diff": param_diff,
            "eager_ms_per_update": round(eager_ms, 3), "graph_ms_per_update": round(graph_ms, 3),
        }), flush=True)
    # Acting first: it takes seconds, and the compiled update's first call compiles for a minute.
    for row in dreamer_act_case(100, device) if "act" in cases else []:
        print(json.dumps(row), flush=True)
    for row in dreamer_case(min(args.updates, 60), device) if "dreamer" in cases else []:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
