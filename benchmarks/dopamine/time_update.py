"""Time one training update of Dopamine's own DER (dopamine-rl 4.1.2, JAX) on the CPU.

Run it with the python of the separate Dopamine venv (see ``setup_venv.sh``), not the project's::

    .bench_venvs/dopamine/bin/python benchmarks/dopamine/time_update.py --updates 10 --threads 1

The agent is Dopamine's own ``dopamine.labs.atari_100k.atari_100k_rainbow_agent.Atari100kRainbowAgent``, built with
the bindings of Dopamine's ``labs/atari_100k/configs/DER.gin`` (``GIN_BINDINGS`` below: FullRainbowNetwork with
noisy=True, dueling=True, distributional C51 with 51 atoms on [-10, 10], double DQN, 10-step returns, prioritised
replay, Adam lr 1e-4 eps 1.5e-4, batch 32) for ``--actions`` actions (default 18, the full action set) and 84x84x4
uint8 states. Nothing
of Dopamine is copied here.

Two things are timed, each after ``--warmup`` untimed calls (the first compiles the jitted function), each call
ending in ``jax.block_until_ready`` so that the asynchronously dispatched work is really finished:

``update_ms`` (the number ``atari100k bench --compare-dopamine`` compares with): the gradient update proper on a
    batch already in memory, i.e. what ``Atari100kRainbowAgent._training_step_update`` does between sampling and the
    replay's priority write: the rng split and ``train_preprocess_fn`` (uint8 -> float32 / 255, no augmentation for
    DER) of states and next states, the loss weights ``1/sqrt(p + 1e-10)`` over their max, Dopamine's jitted
    ``full_rainbow_agent.train`` (online and target forward with one shared noise sample, the double-DQN C51 target
    projection, weighted cross-entropy, backward, optax Adam step) and the new priorities ``sqrt(loss + 1e-10)``.
    The batches (32 random uint8 states and next states, actions in [0, 18), rewards, terminals and sampling
    probabilities) come from the agent's own replay buffer holding random frames, drawn before the timed region.
    (The time of the replay's own ``sample`` for those batches is reported apart, as ``replay_sample_ms``.)

``agent_update_ms``: one whole ``agent._training_step_update()`` call, Dopamine's code unchanged: sampling 32
    transitions from its prioritised ``ReplayBuffer`` (which stores them snappy-compressed and unpacks them on
    sampling), all of the above, and the priority write-back into its sum tree. The replay holds ``--replay-size``
    random transitions (default 2,000, as ``atari100k bench --algo der`` uses).

Threads: XLA's CPU backend sizes its thread pools from the CPUs the process may run on, and Eigen's matmuls and
convolutions use a pool of their own. With ``--threads T`` the process is restricted, before jax is imported, to T
of its allowed CPUs with ``os.sched_setaffinity`` (only when T is fewer than it is allowed; the CPUs are not pinned
otherwise) and ``XLA_FLAGS`` gets ``--xla_cpu_multi_thread_eigen=false`` when T is 1 (Eigen runs in the calling
thread); ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``TF_NUM_INTRAOP_THREADS`` and ``TF_NUM_INTEROP_THREADS`` are set
too (TensorFlow is imported by Dopamine but does no work here). As evidence, the JSON reports how many of the
process's threads used CPU time during the timed updates (``busy_threads``, from /proc/self/task) and the process
CPU seconds per update next to the wall seconds.

The last line printed on stdout is one JSON object (``--json-out`` also writes it to a file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

# Dopamine's labs/atari_100k/configs/DER.gin, the bindings that matter for an update (the env and runner ones do not
# apply here). The replay bindings are those of DER.gin at dopamine HEAD, where the JAX agents use the new
# dopamine.jax.replay_memory (as dopamine-rl 4.1.2 does); max_capacity 1M = "unbounded" at 100k steps.
GIN_BINDINGS = [
    "JaxDQNAgent.gamma = 0.99",
    "JaxDQNAgent.update_horizon = 10",
    "JaxDQNAgent.min_replay_history = 1600",
    "JaxDQNAgent.update_period = 1",
    "JaxDQNAgent.target_update_period = 2000",
    "JaxDQNAgent.epsilon_train = 0.01",
    "JaxDQNAgent.epsilon_eval = 0.001",
    "JaxDQNAgent.epsilon_decay_period = 2000",
    "JaxDQNAgent.optimizer = 'adam'",
    "JaxFullRainbowAgent.noisy = True",
    "JaxFullRainbowAgent.dueling = True",
    "JaxFullRainbowAgent.double_dqn = True",
    "JaxFullRainbowAgent.num_atoms = 51",
    "JaxFullRainbowAgent.vmax = 10.",
    "JaxFullRainbowAgent.replay_scheme = 'prioritized'",
    "JaxFullRainbowAgent.num_updates_per_train_step = 1",
    "Atari100kRainbowAgent.data_augmentation = False",
    "create_optimizer.learning_rate = 0.0001",
    "create_optimizer.eps = 0.00015",
    "ReplayBuffer.max_capacity = 1000000",
    "ReplayBuffer.batch_size = 32",
    "PrioritizedSamplingDistribution.max_capacity = 1000000",
]



def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--updates", type=int, default=10, help="timed updates of each kind (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first; the first compiles (default 3)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for XLA (default 1)")
    p.add_argument("--actions", type=int, default=18,
                   help="actions of the head (default 18, the full set; `atari100k bench` passes its game's count)")
    p.add_argument("--replay-size", type=int, default=2000, help="random transitions in the replay (default 2000)")
    p.add_argument("--no-affinity", action="store_true",
                   help="do not restrict the CPU affinity (XLA then sizes its pools by all allowed CPUs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-agent-update", action="store_true", help="skip timing the whole _training_step_update")
    p.add_argument("--json-out", default=None, help="also write the JSON result to this file")
    return p.parse_args()


def limit_threads(threads: int, affinity: bool = True) -> str:
    """Restrict XLA (and the rest) to `threads` CPUs before jax is imported; returns how, in words."""
    how = []
    allowed = sorted(os.sched_getaffinity(0))
    if affinity and threads < len(allowed):
        os.sched_setaffinity(0, allowed[:threads])
        how.append(f"sched_setaffinity to CPUs {allowed[:threads]} of {allowed}")
    else:
        how.append(f"no affinity change (CPUs allowed: {allowed})")
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        flags = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    os.environ["XLA_FLAGS"] = flags
    how.append(f"XLA_FLAGS='{flags}'")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    how.append(f"OMP/MKL/OPENBLAS/TF_NUM_INTRAOP_THREADS={threads}, TF_NUM_INTEROP_THREADS=1")
    return "; ".join(how)


def thread_cpu_ticks() -> dict[int, int]:
    """utime + stime clock ticks of every thread of this process (empty where /proc is unavailable)."""
    out = {}
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out[int(tid)] = int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
            except (OSError, IndexError, ValueError):
                pass
    except OSError:
        pass
    return out


def busy_threads(before: dict[int, int], after: dict[int, int], min_share: float = 0.05) -> tuple[int, int]:
    """(threads with >= min_share of the process's CPU ticks between the snapshots, threads that exist)."""
    deltas = {t: after[t] - before.get(t, 0) for t in after}
    total = sum(deltas.values())
    if total <= 0:
        return 0, len(after)
    return sum(1 for d in deltas.values() if d >= min_share * total), len(after)


def main() -> None:
    args = parse_args()
    if args.updates < 1 or args.warmup < 1 or args.threads < 1:
        sys.exit("--updates, --warmup and --threads must be >= 1")
    threads_how = limit_threads(args.threads, not args.no_affinity)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import importlib.metadata as md

    import numpy as np
    import gin
    import jax
    import jax.numpy as jnp
    import jaxlib

    from absl import logging as absl_logging
    from dopamine.jax.agents.full_rainbow import full_rainbow_agent
    from dopamine.jax.replay_memory import samplers
    from dopamine.labs.atari_100k import atari_100k_rainbow_agent

    absl_logging.set_verbosity(absl_logging.WARNING)
    assert jax.default_backend() == "cpu", jax.default_backend()

    gin.parse_config(GIN_BINDINGS)
    agent = atari_100k_rainbow_agent.Atari100kRainbowAgent(num_actions=args.actions, seed=args.seed)
    # dopamine-rl 4.1.2 quirk: JaxFullRainbowAgent stores replay_scheme='prioritized' and then calls
    # JaxDQNAgent.__init__, which sets self._replay_scheme = 'uniform' (dqn_agent.py l.386). Its replay keeps the
    # PrioritizedSamplingDistribution (built from full_rainbow's own _build_replay_buffer), but _training_step_update
    # then uses unit loss weights and never writes priorities. DER.gin asks for prioritized replay (and so does
    # ours), so the attribute is set back to what the constructor was given: the update then does the loss-weight
    # and priority work DER is meant to do.
    replay_scheme_as_built = agent._replay_scheme
    agent._replay_scheme = "prioritized"
    assert isinstance(agent._replay._sampling_distribution, samplers.PrioritizedSamplingDistribution)
    assert agent._noisy and agent._dueling and agent._double_dqn and agent._distributional
    assert agent._num_atoms == 51 and float(agent._support[-1]) == 10.0 and agent._replay_scheme == "prioritized"
    assert agent.network_def.__class__.__name__ == "FullRainbowNetwork" and not agent._data_augmentation
    params = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(agent.online_params))

    # The replay: random frames, 1% episode ends, stored as the agent stores them (max priority so far)
    rng = np.random.default_rng(args.seed)
    shape = agent.observation_shape  # (84, 84)
    for _ in range(args.replay_size):
        end = bool(rng.random() < 0.01)
        agent._store_transition(rng.integers(0, 256, shape, dtype=np.uint8), int(rng.integers(args.actions)),
                                float(np.clip(rng.normal(), -1, 1)), end, episode_end=end)

    def sample() -> dict:
        agent._sample_from_replay_buffer()
        return dict(agent.replay_elements)

    probe = sample()
    batch_shapes = {k: [list(np.shape(v)), str(np.asarray(v).dtype)] for k, v in probe.items()}
    assert tuple(np.shape(probe["state"])) == (32, 84, 84, 4) and np.asarray(probe["state"]).dtype == np.uint8

    def gradient_update(elems: dict) -> object:
        """What `_training_step_update` does between sampling and the priority write (Dopamine's functions)."""
        agent._rng, rng1, rng2 = jax.random.split(agent._rng, num=3)
        states = agent.train_preprocess_fn(elems["state"], rng=rng1)
        next_states = agent.train_preprocess_fn(elems["next_state"], rng=rng2)
        loss_weights = 1.0 / jnp.sqrt(elems["sampling_probabilities"] + 1e-10)
        loss_weights /= jnp.max(loss_weights)
        (agent.optimizer_state, agent.online_params, loss, mean_loss, agent._rng) = full_rainbow_agent.train(
            agent.network_def, agent.online_params, agent.target_network_params, agent.optimizer,
            agent.optimizer_state, states, elems["action"], next_states, elems["reward"], elems["terminal"],
            loss_weights, agent._support, agent.cumulative_gamma, agent._double_dqn, agent._distributional,
            agent._mse_loss, agent._rng)
        priorities = jnp.sqrt(loss + 1e-10)
        return jax.block_until_ready((agent.online_params, agent.optimizer_state, priorities, mean_loss))

    def whole_update() -> object:
        agent._training_step_update()
        return jax.block_until_ready((agent.online_params, agent.optimizer_state))

    def timed(call, batches: list | None, n: int, label: str) -> dict:
        walls, cpus = [], []
        ticks0 = thread_cpu_ticks()
        for i in range(n):
            arg = (batches[i],) if batches is not None else ()
            c0, t0 = time.process_time(), time.perf_counter()
            call(*arg)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            print(f"# {label} {i + 1}/{n}: {walls[-1] * 1e3:.1f} ms (cpu {cpus[-1] * 1e3:.1f} ms)", file=sys.stderr)
        busy, nthreads = busy_threads(ticks0, thread_cpu_ticks())
        t = np.array(walls)
        return {"mean_ms": float(t.mean() * 1e3), "min_ms": float(t.min() * 1e3),
                "median_ms": float(np.median(t) * 1e3), "max_ms": float(t.max() * 1e3),
                "cpu_ms": float(np.mean(cpus) * 1e3),
                "times_ms": [round(x * 1e3, 2) for x in walls], "busy_threads": busy, "process_threads": nthreads}

    load_before = os.getloadavg()[0]
    warm_batches = [sample() for _ in range(args.warmup)]
    t0 = time.perf_counter()
    for i, b in enumerate(warm_batches):
        gradient_update(b)
        if i == 0:
            compile_s = time.perf_counter() - t0
    print(f"# warm-up: {args.warmup} updates, the first (jit compile) {compile_s:.2f} s", file=sys.stderr)
    sample_s = time.perf_counter()
    batches = [sample() for _ in range(args.updates)]  # outside the update's timed region
    sample_ms = (time.perf_counter() - sample_s) / args.updates * 1e3
    update = timed(gradient_update, batches, args.updates, "update")
    agent_update = None
    if not args.no_agent_update:
        for _ in range(max(args.warmup, 1)):
            whole_update()
        agent_update = timed(whole_update, None, args.updates, "agent._training_step_update")
    load_after = os.getloadavg()[0]

    # Sanity: the update ran and produced finite weights
    assert all(bool(jnp.isfinite(x).all()) for x in jax.tree_util.tree_leaves(agent.online_params))

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    result = {
        "impl": f"dopamine {md.version('dopamine-rl')} DER",
        "update_ms": update["mean_ms"],
        "update_min_ms": update["min_ms"],
        "update_median_ms": update["median_ms"],
        "update_cpu_ms": update["cpu_ms"],
        "update_times_ms": update["times_ms"],
        "busy_threads": update["busy_threads"],
        "process_threads": update["process_threads"],
        "replay_sample_ms": sample_ms,
        "agent_update_ms": agent_update["mean_ms"] if agent_update else None,
        "agent_update_min_ms": agent_update["min_ms"] if agent_update else None,
        "agent_update_cpu_ms": agent_update["cpu_ms"] if agent_update else None,
        "agent_busy_threads": agent_update["busy_threads"] if agent_update else None,
        "replay_scheme_as_built": replay_scheme_as_built,
        "replay_scheme_used": agent._replay_scheme,
        "compile_s": compile_s,
        "updates": args.updates,
        "warmup": args.warmup,
        "threads": args.threads,
        "threads_limited_by": threads_how,
        "affinity": sorted(os.sched_getaffinity(0)),
        "batch": 32,
        "batch_shapes": batch_shapes,
        "actions": args.actions,
        "replay_size": args.replay_size,
        "params": params,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": md.version("flax"),
        "optax": md.version("optax"),
        "backend": jax.default_backend(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
    }
    line = json.dumps(result)
    print(line, flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
