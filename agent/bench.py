"""`atari100k bench`: seconds per full training update, and the env pipeline's throughput.

    atari100k bench --preset paper --updates 5 [--json] [--compare-sheeprl]
    atari100k bench --algo der|iqn [--updates 20] [--json]
    atari100k bench --algo der --threads 1 [--compare-dopamine]

The update is one DreamerV2.train_step (world model + actor + critic) on a random batch of
the preset's size (B x T, 64x64 gray, Pong's 6 actions), timed after one warm-up update.
`--compare-sheeprl` also times sheeprl 0.8.4's DreamerV2 at matched sizes in its own venv
(benchmarks/sheeprl/setup_venv.sh) in the same run, and prints the ratio.

With `--algo der|iqn`: ms per update (a batch from a replay of random frames), ms per acting
step (one env: the network's forward plus the restorable env's step) and the projected wall
clock of one run of the preset's budget (updates + acting, evaluation excluded).
`--compare-dopamine` (with `--algo der`) also times Dopamine 4.1.2's own DER update (its jitted
`full_rainbow_agent.train` with the atari_100k agent's preprocessing, loss weights and priorities) in its own
venv (benchmarks/dopamine/setup_venv.sh) in the same run, on the same number of threads, and prints the
ratio. Where fewer threads than allowed CPUs are asked for, both processes are pinned to the same CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from agent.provenance import cpu_description
from atari100k.errors import UsageError
from atari100k.malloc import keep_freed_memory
from atari100k.text import counted

REPO = Path(__file__).resolve().parent.parent
SHEEPRL_PYTHON = REPO / ".bench_venvs" / "sheeprl" / "bin" / "python"
SHEEPRL_SCRIPT = REPO / "benchmarks" / "sheeprl" / "time_update.py"
DOPAMINE_PYTHON = REPO / ".bench_venvs" / "dopamine" / "bin" / "python"
DOPAMINE_SCRIPT = REPO / "benchmarks" / "dopamine" / "time_update.py"


def random_batch(steps: int, size: int, num_actions: int, channels: int = 1, image: int = 64) -> dict[str, Any]:
    """A replay-shaped random batch: obs uint8 [T, B, C, H, W], one-hot actions, rewards, flags."""
    import torch

    batch = {
        "obs": torch.randint(0, 256, (steps, size, channels, image, image), dtype=torch.uint8),
        "action": torch.nn.functional.one_hot(torch.randint(0, num_actions, (steps, size)), num_actions).float(),
        "reward": torch.randn(steps, size),
        "is_first": torch.zeros(steps, size, dtype=torch.bool),
        "is_terminal": torch.rand(steps, size) < 0.01,
    }
    batch["is_first"][0] = True
    return batch


def bench_update(presets: tuple[str, ...], updates: int, overrides: list[str] = ()) -> dict[str, Any]:
    """Mean and min seconds of one full update at the presets' sizes (after 3 untimed updates: the
    first, timed apart as `first_update_s`, then the FLOP and op counts; with train.compile the
    counts are the eager twin's)."""
    import torch

    from agent.config import resolve_config
    from agent.dreamerv2.dreamer import DreamerV2
    from agent.device import resolve_device

    config = resolve_config(presets, list(overrides))
    device = resolve_device(config.train.device)
    keep_freed_memory()  # as train_run does
    torch.manual_seed(0)
    obs_shape = (1, config.env.image_size, config.env.image_size)
    model = DreamerV2(config, obs_shape, 6, device)
    batch = random_batch(config.train.batch_length, config.train.batch_size, 6, image=config.env.image_size)
    batch = {k: v.to(device) for k, v in batch.items()}
    # The first update also builds the lazy state (Adam's moments) and, with train.compile, compiles.
    (first_update_s,) = seconds_per_call(lambda: model.train_step(batch), device, 1)
    counted = model
    if config.train.compile:
        # Counting runs under a dispatch mode, and Dynamo then stops using the compiled code for
        # good: count the eager twin (the ops the compiled graphs replace), and warm the compiled
        # model up with the same two untimed updates (CUDA-graph warm-up calls).
        counted = DreamerV2(resolve_config(presets, [*overrides, "train.compile=false"]), obs_shape, 6, device)
        seconds_per_call(lambda: model.train_step(batch), device, 2)
    gflop = update_gflop(counted, batch)
    ops = count_ops(lambda: counted.train_step(batch))
    del counted
    times = seconds_per_call(lambda: model.train_step(batch), device, updates)
    mean = sum(times) / len(times)
    act_s = dreamer_act_seconds(model, obs_shape, device)
    train = config.train
    # The learner's cadence (agent.dreamerv2.learner.observe, called with the step count after each
    # env step, 1..steps): pretrain updates at step == prefill, then train_steps updates at prefill,
    # prefill + train_every, ... up to steps; the policy acts from step prefill to steps - 1.
    acting_steps = max(train.steps - train.prefill, 0)
    rounds = acting_steps // train.train_every + 1 if train.steps >= train.prefill else 0
    run_updates = (train.pretrain if rounds else 0) + rounds * train.train_steps
    return {
        "impl": "atari100k dreamerv2",
        "update_s": mean,
        "update_min_s": min(times),
        "first_update_s": first_update_s,
        "act_step_ms": act_s * 1e3,
        "run_updates": run_updates,
        "run_acting_steps": acting_steps,
        "projected_run_min": (run_updates * mean + acting_steps * act_s) / 60,
        "compiled": config.train.compile,
        "gflop_per_update": gflop,
        **{f"{key}_per_update": value for key, value in ops.items()},
        "gflop_per_s": gflop / mean,
        "updates": updates,
        "batch": [config.train.batch_size, config.train.batch_length],
        "device": device.type,
        "precision": config.train.precision,
        "threads": torch.get_num_threads(),
        "gemm_peak_gflop_per_s": gemm_peak_gflop_per_s(device),
        "params": model.parameter_counts(),
        "torch": torch.__version__,
    }


def dreamer_act_seconds(model: Any, obs_shape: tuple[int, int, int], device: Any, calls: int = 200) -> float:
    """Mean seconds of one training acting step on one env (encoder, posterior step, actor, the action
    back on the host), after 10 untimed calls (a CUDA graph's warm-up and capture)."""
    import torch

    obs = torch.randint(0, 256, (1, *obs_shape), dtype=torch.uint8)
    first = torch.zeros(1, dtype=torch.bool)
    state = model.initial_state(1)
    for _ in range(10):
        _, state = model.act(obs, first, state, "sample")

    def act() -> None:
        nonlocal state
        _, state = model.act(obs, first, state, "sample")

    times = seconds_per_call(act, device, calls)
    return sum(times) / len(times)


def bench_value_learner(algo: str, presets: tuple[str, ...], updates: int, overrides: list[str],
                        game: str) -> dict[str, Any]:
    """DER/IQN: ms per update and per acting step, and the projected wall clock of one run."""
    import numpy as np
    import torch

    from agent.algorithms import learner_class
    from agent.config import resolve_config
    from agent.env import make_env
    from agent.device import resolve_device

    config = resolve_config(presets, list(overrides), None, algo)
    device = resolve_device(config.train.device)
    keep_freed_memory()
    torch.manual_seed(0)
    env = make_env(game, config.env, num_envs=1, seed=0)
    learner = learner_class(algo)(config, tuple(env.obs_shape), env.num_actions, 1, device, 0)
    rng = np.random.default_rng(0)
    # Random frames with 1% episode ends, as many as the replay holds up to 2,000 (small presets size it to their run).
    for t in range(min(max(learner.cfg.batch_size * 4, 2_000), learner.replay.capacity)):
        end = bool(rng.random() < 0.01)
        learner.replay.add(rng.integers(0, 256, env.obs_shape[1:], dtype=np.uint8), int(rng.integers(env.num_actions)),
                           float(rng.normal()), end, end)
    learner.update()  # warm-up
    cpu_start = time.process_time()
    update_times = seconds_per_call(learner.update, device, updates)
    update_cpu_s = (time.process_time() - cpu_start) / updates
    step = env.reset()
    learner.training_steps = 10**9  # past any epsilon decay: time the network's forward too

    def act_and_step() -> None:
        nonlocal step
        step = env.step(learner.act(step.obs, step.is_first, 10**9))

    act_times = seconds_per_call(act_and_step, device, max(updates * 5, 50))
    env.close()
    update_s, act_s = float(np.mean(update_times)), float(np.mean(act_times))
    steps, min_replay = config.train.steps, learner.cfg.min_replay
    run_updates = max(steps - min_replay, 0) // learner.cfg.update_period
    return {
        "impl": f"atari100k {algo}",
        "update_ms": update_s * 1e3,
        "update_min_ms": min(update_times) * 1e3,
        "update_cpu_ms": update_cpu_s * 1e3,  # process CPU time (all threads): less sensitive to other processes
        "act_step_ms": act_s * 1e3,
        "updates": updates,
        "batch": learner.cfg.batch_size,
        "run_steps": steps,
        "run_updates": run_updates,
        "projected_run_h": (run_updates * update_s + steps * act_s) / 3600,
        "device": device.type,
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in learner.online.parameters()),
        "actions": env.num_actions,
        "torch": torch.__version__,
    }


def seconds_per_call(call: Callable[[], Any], device: Any, repeats: int) -> list[float]:
    """Wall seconds of each of `repeats` calls; on CUDA, queued kernels are waited for on both sides."""
    import torch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return times


def count_ops(call: Callable[[], Any]) -> dict[str, int]:
    """Dispatched ATen ops of one `call` (forward, backward and optimiser work alike): `ops` all of them,
    `non_view_ops` without views (reshapes, transposes, slices: no kernel on most backends). On a GPU
    each non-view op is about one kernel launch, which is what bounds a small update there."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Counter(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops = self.views = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops += 1
            self.views += bool(getattr(func, "is_view", False))
            return func(*args, **(kwargs or {}))

    with Counter() as counter:
        call()
    return {"ops": counter.ops, "non_view_ops": counter.ops - counter.views}


def update_gflop(model: Any, batch: dict[str, Any]) -> float:
    """GFLOP of one update's matmuls and convolutions (torch.utils.flop_counter; elementwise ops not counted).

    Runs one extra (untimed) update.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        model.train_step(batch)
    return counter.get_total_flops() / 1e9


def gemm_peak_gflop_per_s(device: Any, size: int = 2048, repeats: int = 5) -> float:
    """fp32 throughput of a size x size matmul on `device`: the practical ceiling for an update's FLOPs."""
    import torch

    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b  # warm-up
    return 2 * size**3 * repeats / sum(seconds_per_call(lambda: a @ b, device, repeats)) / 1e9


def bench_sheeprl(updates: int, threads: int) -> dict[str, Any]:
    """Run sheeprl's timing script in its own venv; its last stdout line is a JSON object."""
    if not SHEEPRL_PYTHON.exists():
        raise UsageError("no sheeprl venv; create it with `bash benchmarks/sheeprl/setup_venv.sh`")
    cmd = [str(SHEEPRL_PYTHON), str(SHEEPRL_SCRIPT), "--updates", str(updates), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"sheeprl timing failed (exit {out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(lines[-1])


def bench_dopamine(updates: int, threads: int, actions: int) -> dict[str, Any]:
    """Run Dopamine's DER timing script in its own venv on `threads` threads; its last stdout line is a JSON object."""
    if not DOPAMINE_PYTHON.exists():
        raise UsageError("no Dopamine venv; create it with `bash benchmarks/dopamine/setup_venv.sh`")
    cmd = [str(DOPAMINE_PYTHON), str(DOPAMINE_SCRIPT), "--updates", str(updates), "--threads", str(threads),
           "--actions", str(actions)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"Dopamine timing failed (exit {out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(lines[-1])


def pin_to_threads(threads: int) -> list[int]:
    """Restrict this process to its first `threads` allowed CPUs when it is allowed more (as the Dopamine script
    restricts itself, so that both run on the same cores); returns the CPUs it may run on."""
    allowed = sorted(os.sched_getaffinity(0))
    if 0 < threads < len(allowed):
        os.sched_setaffinity(0, allowed[:threads])
    return sorted(os.sched_getaffinity(0))


def run_bench(args: argparse.Namespace) -> int:
    """The `bench` verb."""
    import torch

    from agent.config import resolve_config, split_presets
    from agent.env_bench import bench_env

    if args.updates < 1 or args.env_steps < 1:
        raise UsageError("--updates and --env-steps must be >= 1")
    if args.threads < 0:
        raise UsageError(f"--threads {args.threads}: give a thread count >= 1 (or 0: torch's choice)")
    presets = split_presets(args.preset, args.algo)
    config = resolve_config(presets, args.set, None, args.algo)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.algo != "dreamerv2":
        if args.compare_sheeprl:
            raise UsageError("--compare-sheeprl times DreamerV2; leave out --algo")
        if args.compare_dopamine and args.algo != "der":
            raise UsageError("--compare-dopamine times Dopamine's DER; use it with --algo der")
        if args.compare_dopamine and not DOPAMINE_PYTHON.exists():
            raise UsageError("no Dopamine venv; create it with `bash benchmarks/dopamine/setup_venv.sh`")
        affinity = pin_to_threads(torch.get_num_threads()) if args.compare_dopamine else None
        load_before = os.getloadavg()[0]
        result = bench_value_learner(args.algo, presets, args.updates, args.set, args.game)
        result.update(host=platform.node(), cpu=cpu_description(), presets=list(presets))
        if args.compare_dopamine:
            dopamine = bench_dopamine(args.updates, torch.get_num_threads(), result["actions"])
            result.update(
                dopamine=dopamine,
                update_ratio_vs_dopamine=result["update_ms"] / dopamine["update_ms"],
                update_min_ratio_vs_dopamine=result["update_min_ms"] / dopamine["update_min_ms"],
                update_cpu_ratio_vs_dopamine=result["update_cpu_ms"] / dopamine["update_cpu_ms"],
                affinity=affinity, load_avg_before=load_before, load_avg_after=os.getloadavg()[0],
            )
        print(json.dumps(result, indent=2) if args.json else _describe_value(result))
        return 0
    if args.compare_dopamine:
        raise UsageError("--compare-dopamine times Dopamine's DER; use it with --algo der")
    report: dict[str, Any] = {
        "host": platform.node(),
        "cpu": cpu_description(),
        "cpu_count": os.cpu_count(),
        "load_avg_before": os.getloadavg()[0],
        "presets": list(presets),
    }
    update = bench_update(presets, args.updates, args.set)
    report.update({"update_s": update["update_s"], "update": update})
    env = bench_env(args.game, config.env, args.num_envs, args.env_steps)
    report.update(
        env_frames_per_s=env["env_frames_per_s"],
        raw_env_frames_per_s=env["raw_env_frames_per_s"],
        env_step_s=env["env_step_s"],
        env=env,
    )
    if args.compare_sheeprl:
        sheeprl = bench_sheeprl(args.updates, torch.get_num_threads())
        report["sheeprl"] = sheeprl
        report["update_ratio_vs_sheeprl"] = update["update_s"] / sheeprl["update_s"]
    report["load_avg_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(_describe(report))
    return 0


def _describe_value(result: dict[str, Any]) -> str:
    lines = [
        f"{result['impl']}: update {result['update_ms']:.1f} ms mean (min {result['update_min_ms']:.1f} ms) over "
        f"{counted(result['updates'], 'update')} of batch {result['batch']}; "
        f"acting step {result['act_step_ms']:.2f} ms "
        f"(forward + env step); {result['device']}, {counted(result['threads'], 'thread')}, torch {result['torch']}, "
        f"{result['cpu']}",
        f"  projected run: {result['run_steps']:,} agent steps and {result['run_updates']:,} updates = "
        f"{result['projected_run_h']:.2f} h (final evaluation excluded); {result['params']:,} parameters",
    ]
    if "dopamine" in result:
        dop = result["dopamine"]
        sampled = dop.get("agent_update_ms")
        lines.append(
            f"{dop['impl']} (jax {dop['jax']}), batch {dop['batch']}, {dop['actions']} actions, "
            f"{counted(dop['threads'], 'thread')}: update {dop['update_ms']:.1f} ms mean "
            f"(min {dop['update_min_ms']:.1f} ms; jitted train + "
            f"preprocessing + loss weights + priorities)"
            + (f", {sampled:.1f} ms with its replay sampling and priority write" if sampled is not None else "")
        )
        lines.append(
            f"  ours (with our replay sampling) / dopamine = {result['update_ratio_vs_dopamine']:.2f} mean, "
            f"{result['update_min_ratio_vs_dopamine']:.2f} min, {result['update_cpu_ratio_vs_dopamine']:.2f} CPU time "
            f"({result['update_cpu_ms']:.1f} vs {dop['update_cpu_ms']:.1f} ms); CPUs {result['affinity']}, "
            f"load average {result['load_avg_before']:.2f} -> {result['load_avg_after']:.2f}"
        )
    return "\n".join(lines)


def _describe(report: dict[str, Any]) -> str:
    update, env = report["update"], report["env"]
    lines = [
        f"update: {update['update_s']:.3f} s mean (min {update['update_min_s']:.3f} s) over "
        f"{counted(update['updates'], 'full update')} (world model + actor + critic), "
        f"batch {update['batch'][0]}x{update['batch'][1]}, "
        f"presets {'+'.join(report['presets'])}, {update['device']} {update['precision']}, "
        f"{counted(update['threads'], 'thread')}, torch {update['torch']}, {report['cpu']}",
        f"  first update (lazy optimiser state{', torch.compile' if update['compiled'] else ''}): "
        f"{update['first_update_s']:.1f} s",
        f"  acting step (1 env, sampled): {update['act_step_ms']:.2f} ms; projected run: {update['run_updates']:,} "
        f"updates + {update['run_acting_steps']:,} acting steps = {update['projected_run_min']:.1f} min "
        f"(env steps, benched below, evaluations and checkpoints excluded)",
        f"  work: {update['gflop_per_update']:.0f} GFLOP of matmul + conv per update (torch flop counter) = "
        f"{update['gflop_per_s']:.0f} GFLOP/s; fp32 {update['gemm_peak_gflop_per_s']:.0f} GFLOP/s in a 2048^2 "
        f"matmul here, so >= {update['gflop_per_update'] / update['gemm_peak_gflop_per_s']:.2f} s per update at fp32",
        f"  dispatched ops per update (forward, backward, optimisers; torch dispatch mode): "
        f"{update['ops_per_update']:,}, of which {update['non_view_ops_per_update']:,} not views (~ kernel launches "
        f"on a GPU)",
        f"  parameters: world model {update['params']['world_model']:,}, actor {update['params']['actor']:,}, "
        f"critic {update['params']['critic']:,}",
        f"env: {env['game']} x{env['num_envs']}, random actions, {env['steps']} batched steps: "
        f"{report['env_step_s'] * 1e3:.2f} ms per step batch; ours {report['env_frames_per_s']:,.0f} frames/s "
        f"(restorable AtariEnv), {env['fast_env_frames_per_s']:,.0f} frames/s (FastAtariEnv), "
        f"raw AtariVectorEnv {report['raw_env_frames_per_s']:,.0f} frames/s (same settings)",
    ]
    if "sheeprl" in report:
        lines.append(
            f"sheeprl 0.8.4 DreamerV2 at matched sizes: {report['sheeprl']['update_s']:.3f} s per update "
            f"({report['sheeprl'].get('gflop_per_update', float('nan')):.0f} GFLOP), "
            f"{report['sheeprl'].get('precision', '?')}; ours / sheeprl = {report['update_ratio_vs_sheeprl']:.2f}"
        )
    lines.append(f"load average before/after: {report['load_avg_before']:.2f} / {report['load_avg_after']:.2f}")
    return "\n".join(lines)


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the `bench` verb."""
    parser = verbs.add_parser("bench", help="time one training update and the env pipeline")
    parser.add_argument("--algo", default="dreamerv2", help="dreamerv2 (default), der or iqn")
    parser.add_argument("--preset", action="append", default=None, help="presets (default atari100k), e.g. paper")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--updates", type=int, default=5, help="timed updates after one warm-up (default 5)")
    parser.add_argument("--game", default="Pong", help="game of the env benchmark (default Pong)")
    parser.add_argument("--num-envs", type=int, default=16, help="parallel envs of the env benchmark")
    parser.add_argument("--env-steps", type=int, default=300, help="batched env steps timed (default 300)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--compare-sheeprl", action="store_true", help="also time sheeprl 0.8.4 (own venv)")
    parser.add_argument("--compare-dopamine", action="store_true",
                        help="with --algo der: also time Dopamine 4.1.2's DER update (own venv)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run_bench)

