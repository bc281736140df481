"""Time one training update of sheeprl 0.8.4's DreamerV2 on the CPU, at the DreamerV2 paper's Atari sizes.

Run it with the python of the separate sheeprl venv (see ``setup_venv.sh``), not the project's::

    .bench_venvs/sheeprl/bin/python benchmarks/sheeprl/time_update.py --updates 10 --warmup 2 --threads 2

What is timed is sheeprl's own ``sheeprl.algos.dreamer_v2.dreamer_v2.train(...)``, the whole gradient step of its
training loop: world-model loss + backward + clip + Adam step, imagination (horizon 15 from all 16x50 posterior
states), actor loss (REINFORCE for discrete actions) + step, critic loss + step. The agent (world model, actor,
critic, target critic, optimizers) is built with sheeprl's own ``build_agent`` / ``build_optimizer`` from sheeprl's
own hydra configs (``exp=dreamer_v2``) with the overrides in ``OVERRIDES`` below. The batch is random data of the
shapes sheeprl's replay buffer hands to ``train`` (``[T=50, B=16, ...]``, images uint8 values cast to float as
``sample_batches`` does). The batch is built outside the timed region. Nothing of sheeprl is copied here.

The last line printed on stdout is one JSON object (``--json-out`` also writes it to a file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

# The sheeprl config keys set on top of `exp=dreamer_v2` (which already selects `algo=dreamer_v2` and `env=atari`).
# Sizes: they are the defaults of sheeprl's algo/dreamer_v2.yaml, written out so that the measurement does not depend
# on them silently. Training hyper-parameters: the official DreamerV2 Atari config (danijar/dreamerv2 configs.yaml,
# `atari` section), as sheeprl's own exp/dreamer_v2_ms_pacman.yaml sets them; they do not change the cost of an update
# except `use_continues` (the discount head, `pred_discount: True` in the paper's Atari config).
OVERRIDES = [
    "exp=dreamer_v2",
    "env=atari",
    "env.id=PongNoFrameskip-v4",
    "env.grayscale=True",
    "env.screen_size=64",
    "env.frame_stack=1",
    "env.num_envs=1",
    "algo.cnn_keys.encoder=[rgb]",
    "algo.cnn_keys.decoder=[rgb]",
    "algo.mlp_keys.encoder=[]",
    "algo.mlp_keys.decoder=[]",
    "algo.per_rank_batch_size=16",
    "algo.per_rank_sequence_length=50",
    "algo.horizon=15",
    "algo.gamma=0.999",
    "algo.lmbda=0.95",
    "algo.layer_norm=False",
    "algo.dense_units=400",
    "algo.mlp_layers=4",
    "algo.dense_act=torch.nn.ELU",
    "algo.cnn_act=torch.nn.ELU",
    "algo.world_model.stochastic_size=32",
    "algo.world_model.discrete_size=32",
    "algo.world_model.encoder.cnn_channels_multiplier=48",
    "algo.world_model.recurrent_model.recurrent_state_size=600",
    "algo.world_model.transition_model.hidden_size=600",
    "algo.world_model.representation_model.hidden_size=600",
    "algo.world_model.use_continues=True",
    "algo.world_model.discount_scale_factor=5.0",
    "algo.world_model.kl_regularizer=0.1",
    "algo.world_model.kl_free_nats=0.0",
    "algo.world_model.kl_balancing_alpha=0.8",
    "algo.world_model.clip_gradients=100.0",
    "algo.world_model.optimizer.lr=2e-4",
    "algo.world_model.optimizer.eps=1e-5",
    "algo.world_model.optimizer.weight_decay=1e-6",
    "algo.actor.objective_mix=1.0",  # pure REINFORCE (= what `null`/auto picks for discrete actions)
    "algo.actor.ent_coef=1e-3",
    "algo.actor.clip_gradients=100.0",
    "algo.actor.optimizer.lr=4e-5",
    "algo.actor.optimizer.eps=1e-5",
    "algo.actor.optimizer.weight_decay=1e-6",
    "algo.critic.clip_gradients=100.0",
    "algo.critic.optimizer.lr=1e-4",
    "algo.critic.optimizer.eps=1e-5",
    "algo.critic.optimizer.weight_decay=1e-6",
    "algo.compile.enabled=False",  # eager, as sheeprl runs by default
    "distribution.type=auto",
    "distribution.validate_args=False",
    "fabric.accelerator=cpu",
    "fabric.devices=1",
    "fabric.precision=32-true",
    "model_manager.disabled=True",
]

N_ACTIONS = 6  # Pong's minimal action set
PAPER_PARAMS = {"world_model": 20e6, "actor": 1e6, "critic": 1e6}  # DreamerV2 paper, approximate


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--updates", type=int, default=10, help="timed updates (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up updates first (default 2)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--matmul-precision",
        default="highest",
        choices=["highest", "high", "medium"],
        help="torch.set_float32_matmul_precision. Default 'highest' = strict fp32. sheeprl's CLI sets its config "
        "default 'high', which on this CPU maps oneDNN matmuls to 'tf32' (see README)",
    )
    p.add_argument(
        "--metrics",
        action="store_true",
        help="pass a MetricAggregator to train() as a sheeprl run with metric.log_level=1 does (adds the entropy "
        "metrics and torchmetrics updates); default: aggregator=None, the bare update",
    )
    p.add_argument("--json-out", default=None, help="also write the JSON result to this file")
    p.add_argument("--print-model", action="store_true", help="print the world model, actor and critic to stderr")
    p.add_argument("--override", action="append", default=[], help="extra hydra override (repeatable)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    # Threads: set before torch is imported, so that OpenMP/MKL pools start at that size.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_float32_matmul_precision(args.matmul_precision)

    import gymnasium as gym
    import hydra
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf
    from torch.distributions import Distribution

    import sheeprl
    from sheeprl.algos.dreamer_v2 import dreamer_v2 as dv2
    from sheeprl.algos.dreamer_v2.agent import build_agent
    from sheeprl.algos.dreamer_v2.utils import build_optimizer
    from sheeprl.utils.utils import dotdict

    with initialize_config_module(config_module="sheeprl.configs", version_base="1.3"):
        hcfg = compose(config_name="config", overrides=OVERRIDES + list(args.override))
    cfg = dotdict(OmegaConf.to_container(hcfg, resolve=True, throw_on_missing=False))

    # What sheeprl's cli.run_algorithm does before launching the algorithm
    Distribution.set_default_validate_args(cfg.distribution.validate_args)
    fabric_cfg = dict(cfg.fabric)
    fabric_cfg.pop("callbacks", None)  # checkpoint callback: irrelevant here
    fabric = hydra.utils.instantiate(fabric_cfg, _convert_="all")  # lightning.fabric.Fabric(accelerator="cpu", ...)
    fabric.seed_everything(args.seed, verbose=False)

    T, B = cfg.algo.per_rank_sequence_length, cfg.algo.per_rank_batch_size
    size = cfg.env.screen_size
    channels = 1 if cfg.env.grayscale else 3
    obs_space = gym.spaces.Dict({"rgb": gym.spaces.Box(0, 255, (channels, size, size), np.uint8)})
    actions_dim = (N_ACTIONS,)

    world_model, actor, critic, target_critic, _player = build_agent(
        fabric, actions_dim, False, cfg, obs_space
    )
    world_optimizer = build_optimizer(cfg.algo.world_model.optimizer, world_model.parameters())
    actor_optimizer = build_optimizer(cfg.algo.actor.optimizer, actor.parameters())
    critic_optimizer = build_optimizer(cfg.algo.critic.optimizer, critic.parameters())
    world_optimizer, actor_optimizer, critic_optimizer = fabric.setup_optimizers(
        world_optimizer, actor_optimizer, critic_optimizer
    )

    aggregator = None
    if args.metrics:
        from sheeprl.algos.dreamer_v2.utils import AGGREGATOR_KEYS
        from sheeprl.utils.metric import MetricAggregator

        metrics_cfg = dict(cfg.metric.aggregator)
        metrics_cfg["metrics"] = {k: v for k, v in metrics_cfg["metrics"].items() if k in AGGREGATOR_KEYS}
        MetricAggregator.disabled = False
        aggregator = hydra.utils.instantiate(metrics_cfg, _convert_="all").to(fabric.device)

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    wm_parts = {
        "encoder": count(world_model.encoder),
        "rssm.recurrent_model": count(world_model.rssm.recurrent_model),
        "rssm.representation_model": count(world_model.rssm.representation_model),
        "rssm.transition_model": count(world_model.rssm.transition_model),
        "observation_model": count(world_model.observation_model),
        "reward_model": count(world_model.reward_model),
        "continue_model": count(world_model.continue_model) if world_model.continue_model else 0,
    }
    params = {"world_model": count(world_model), "actor": count(actor), "critic": count(critic)}
    assert params["world_model"] == sum(wm_parts.values()), (params, wm_parts)
    print(f"# params: {json.dumps(params)}", file=sys.stderr)
    print(f"# world model parts: {json.dumps(wm_parts)}", file=sys.stderr)
    if args.print_model:
        for name, module in (("world model", world_model), ("actor", actor), ("critic", critic)):
            print(f"# {name}:\n{module}", file=sys.stderr)

    # Sanity: the decoder reconstructs images of the observation's shape, so the update is at the paper's sizes
    with torch.no_grad():
        latent = torch.zeros(1, 1, cfg.algo.world_model.recurrent_model.recurrent_state_size
                             + cfg.algo.world_model.stochastic_size * cfg.algo.world_model.discrete_size)
        rec = world_model.observation_model(latent)["rgb"]
    assert tuple(rec.shape) == (1, 1, channels, size, size), rec.shape

    gen = torch.Generator().manual_seed(args.seed)

    def random_batch() -> dict:
        """A batch as `sample_batches` gives it to `train`: [T, B, ...] float32 tensors (images hold 0..255)."""
        obs = torch.randint(0, 256, (T, B, channels, size, size), generator=gen, dtype=torch.uint8)
        act = torch.randint(0, N_ACTIONS, (T, B), generator=gen)
        actions = torch.nn.functional.one_hot(act, N_ACTIONS)
        rewards = torch.randint(-1, 2, (T, B, 1), generator=gen) * (torch.rand(T, B, 1, generator=gen) < 0.05)
        terminated = (torch.rand(T, B, 1, generator=gen) < 0.01).to(torch.uint8)
        truncated = torch.zeros(T, B, 1, dtype=torch.uint8)
        is_first = torch.zeros(T, B, 1, dtype=torch.uint8)
        is_first[1:] = (terminated[:-1] | truncated[:-1])
        is_first[0] = 1
        batch = {
            "rgb": obs,
            "actions": actions,
            "rewards": rewards,
            "terminated": terminated,
            "truncated": truncated,
            "is_first": is_first,
        }
        return {k: v.float().to(fabric.device) for k, v in batch.items()}

    def busy_cpu_s() -> float:
        """CPU seconds the whole machine has been busy (all processes), from /proc/stat; nan where unavailable."""
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return float("nan")
        # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait (and guest, in user)
        busy = sum(fields[:8]) - fields[3] - fields[4]
        return busy / os.sysconf("SC_CLK_TCK")

    def one_update(data: dict) -> float:
        b0 = busy_cpu_s()
        c0 = time.process_time()
        t0 = time.perf_counter()
        dv2.train(
            fabric,
            world_model,
            actor,
            critic,
            target_critic,
            world_optimizer,
            actor_optimizer,
            critic_optimizer,
            data,
            aggregator,
            cfg,
            actions_dim,
        )
        wall = time.perf_counter() - t0
        cpu_times.append(time.process_time() - c0)
        # CPU time the rest of the machine used meanwhile: the contention this update saw (0 on a quiet machine)
        others_cpu.append(max(0.0, busy_cpu_s() - b0 - cpu_times[-1]))
        loads.append(loadavg()[0] if loadavg() else None)
        return wall

    def loadavg() -> list:
        try:
            return [round(x, 2) for x in os.getloadavg()]
        except OSError:
            return []

    load_before = loadavg()
    cpu_times: list = []  # process CPU seconds of every update (all threads)
    loads: list = []  # 1-minute load average after every update
    others_cpu: list = []  # CPU seconds used by other processes during every update
    warm = []
    for i in range(args.warmup):
        warm.append(one_update(random_batch()))
        print(f"# warm-up {i + 1}/{args.warmup}: {warm[-1]:.3f} s", file=sys.stderr)
    del cpu_times[:], loads[:], others_cpu[:]
    times = []
    for i in range(args.updates):
        data = random_batch()
        times.append(one_update(data))
        print(
            f"# update {i + 1}/{args.updates}: {times[-1]:.3f} s (own cpu {cpu_times[-1]:.2f} s, "
            f"others' cpu {others_cpu[-1]:.2f} s, load {loads[-1]})",
            file=sys.stderr,
        )
    load_after = loadavg()

    # The work of one update: matmul + conv FLOPs of one more (untimed) update, by torch's own flop counter,
    # the same counter `atari100k bench` uses for ours
    from torch.utils.flop_counter import FlopCounterMode

    flop_counter = FlopCounterMode(display=False)
    with flop_counter:
        one_update(random_batch())
    gflop = flop_counter.get_total_flops() / 1e9
    del cpu_times[-1], others_cpu[-1], loads[-1]  # keep the per-update lists to the timed updates

    # Sanity: the update did run and produced finite weights
    assert all(torch.isfinite(p).all() for p in world_model.parameters())

    t = np.array(times) if times else np.array([float("nan")])
    # The updates during which other processes kept less than 10% of the machine busy: on a shared machine their mean
    # is the uncontended time (the JSON's `update_s` is the mean of all of them, contended or not)
    ncpu = os.cpu_count() or 1
    quiet = [w for w, o in zip(times, others_cpu) if o < 0.10 * w * ncpu]
    result = {
        "impl": f"sheeprl-{sheeprl.__version__} dreamer_v2",
        "update_s": float(t.mean()),
        "updates": args.updates,
        "warmup": args.warmup,
        "batch": [B, T],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gflop_per_update": gflop,
        "median_s": float(np.median(t)),
        "min_s": float(t.min()),
        "max_s": float(t.max()),
        "std_s": float(t.std()),
        "times_s": [round(x, 4) for x in times],
        "warmup_s": [round(x, 4) for x in warm],
        "cpu_s_per_update": float(np.mean(cpu_times)) if cpu_times else float("nan"),
        "cpu_times_s": [round(x, 3) for x in cpu_times],
        "loadavg_1m_per_update": loads,
        "others_cpu_s": [round(x, 2) for x in others_cpu],
        "quiet_updates": len(quiet),
        "quiet_mean_s": float(np.mean(quiet)) if quiet else None,
        # Contention: the fraction of the machine's cores (os.cpu_count()) that other processes kept busy
        "others_cpu_frac": float(sum(others_cpu) / max(sum(times), 1e-9) / ncpu),
        "params": params,
        "world_model_params": wm_parts,
        "obs": [channels, size, size],
        "actions": N_ACTIONS,
        "horizon": cfg.algo.horizon,
        "precision": cfg.fabric.precision,
        "matmul_precision": args.matmul_precision,
        "compile": bool(cfg.algo.compile.enabled),
        "metrics": bool(args.metrics),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "nproc": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    line = json.dumps(result)
    print(line, flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
