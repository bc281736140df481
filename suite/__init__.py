"""The sweep suite: algorithms x games x seeds -> run folders, on Slurm (job arrays) or a local pool.

Python API (the CLI verbs `sweep`, `status`, `cancel` call these). The quick start:

    from suite import local_sweep
    code = local_sweep("Pong,Breakout", 2, presets=["debug"], steps=300, out="results/demo",
                       algos="dreamerv2,der")   # -> results/demo/<algo>/<Game>/seed_<k>/

The general form:

    from suite import SweepOptions, make_request, run_sweep, sweep_status
    request, planned = make_request(games="Pong,Breakout", seeds=2, presets=["debug"], steps=300,
                                    out="results/demo", algos="der")
    code = run_sweep(request, planned, SweepOptions(executor="local", max_parallel=2))
    print(sweep_status("results/demo").totals)

Only `agent.RunSpec`/`agent.train_run` (the latter inside jobs), `agent.ALGORITHMS` (their
names) and `agent.config` are used from the agent; nothing here imports torch.
"""

from __future__ import annotations

from suite.plan import PlannedRun, SweepRequest, parse_algos, parse_seeds, plan_runs
from suite.state import STATES, RunStatus
from suite.status import SweepStatus, format_table, sweep_status
from suite.sweep import SweepOptions, cancel_sweep, local_sweep, make_request, run_sweep

__all__ = [
    "PlannedRun", "STATES", "RunStatus", "SweepOptions", "SweepRequest", "SweepStatus", "cancel_sweep", "local_sweep",
    "format_table", "make_request", "parse_algos", "parse_seeds", "plan_runs", "run_sweep", "sweep_status",
]
