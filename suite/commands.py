"""CLI verbs of `suite/`: `sweep`, `status`, `cancel` (registered by atari100k.cli).

Heavy imports stay inside handlers; `status` never imports torch.
"""

from __future__ import annotations

import argparse
import sys

from atari100k.suggest import budget_arg


def register(verbs: argparse._SubParsersAction) -> None:
    """Add this package's verbs to the `atari100k` parser."""
    sweep = verbs.add_parser(
        "sweep", help="train algorithms x games x seeds on Slurm (job arrays) or locally; re-run to finish the rest",
        description="Plan algorithms x games x seeds, skip runs that are done or queued, submit the rest. "
                    "Re-running the same command is safe: it submits only what is missing.",
    )
    what = sweep.add_argument_group("what to run")
    what.add_argument("--algos", help="algorithms, a comma list of dreamerv2, der, iqn (default dreamerv2; "
                                      "for an existing sweep: its algorithms)")
    what.add_argument("--games", help="all (the 26), dev (5), atari57, or a list: Pong,Breakout "
                                      "(default for an existing sweep: its runs)")
    what.add_argument("--seeds", help="a count (5 = seeds 0-4), a list (0,3,7) or a range (10-14)")
    what.add_argument("--preset", action="append", dest="presets", metavar="NAME",
                      help="config preset(s) of every algorithm, stacking in order (default: atari100k)")
    what.add_argument("--set", action="append", dest="overrides", default=[], metavar="KEY=VALUE",
                      help="config override for every algorithm, e.g. --set eval.episodes=10 (repeatable)")
    what.add_argument("--steps", type=budget_arg, help="override the budget in agent steps, e.g. 100k (smoke sweeps)")
    what.add_argument("--name", help="sweep name (default: the presets joined by '-', after the algorithms "
                                     "unless dreamerv2 alone: der-iqn-atari100k)")
    what.add_argument("--out", help="sweep folder (default: results/<name>)")
    how = sweep.add_argument_group("how to run")
    how.add_argument("--executor", choices=("slurm", "local"), default=None,
                     help="slurm (job arrays) or local (a bounded process pool); default: slurm if sbatch is found")
    how.add_argument("--max-parallel", type=int,
                     help="Slurm: array tasks at once (the array's %%N; each trains --runs-per-job runs); local: pool size")
    how.add_argument("--dry-run", action="store_true", help="print the plan; submit and write nothing")
    how.add_argument("--retry-failed", action="store_true", help="submit only the failed runs")
    how.add_argument("--wait", action="store_true", help="slurm: block until the runs end, with a progress bar")
    how.add_argument("--no-progress", action="store_true", help="no progress bar")
    slurm = sweep.add_argument_group("slurm resources (flags override --profile)")
    slurm.add_argument("--profile", help="site profile: NAME (slurm/profiles/NAME.toml) or a .toml path")
    slurm.add_argument("--partition")
    slurm.add_argument("--account")
    slurm.add_argument("--qos")
    slurm.add_argument("--runs-per-job", type=int, dest="runs_per_job",
                       help="runs trained at once by one array task, sharing its GPU (default 1)")
    slurm.add_argument("--gpus", type=int, help="GPUs per array task (shared by its runs)")
    slurm.add_argument("--cpus", type=int, help="CPUs per run")
    slurm.add_argument("--mem", help="memory per run, e.g. 16G")
    slurm.add_argument("--time", help="time limit per job, e.g. 12:00:00; runs requeue from their checkpoint when hit")
    slurm.add_argument("--signal-delay", type=int, dest="signal_delay_s", help="seconds before the limit to checkpoint")
    slurm.add_argument("--max-requeue", type=int, help="time-limit requeues allowed per run")
    slurm.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                       help="extra sbatch parameter, e.g. --sbatch constraint=a100 (repeatable)")
    slurm.add_argument("--snapshot", action="store_true", default=None,
                       help="run jobs (and their requeues) from a snapshot of the code at submission")
    sweep.set_defaults(handler=_sweep)

    status = verbs.add_parser("status", help="state, progress and errors of every run of a sweep",
                              description="One table of every run of a sweep: algorithm, game, seed, state, progress, "
                                          "throughput, ETA, job id, last error. Works from the run folders alone when "
                                          "Slurm is not reachable.")
    status.add_argument("sweep", help="sweep folder, or a sweep name under results/")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--no-slurm", action="store_true", help="do not ask Slurm; read the run folders only")
    status.set_defaults(handler=_status)

    cancel = verbs.add_parser("cancel", help="cancel the queued and running runs of a sweep")
    cancel.add_argument("sweep", help="sweep folder, or a sweep name under results/")
    cancel.set_defaults(handler=_cancel)

    prune = verbs.add_parser("prune", help="delete the checkpoints of finished runs (frees ~0.6-0.9 GB per run)",
                             description="Delete checkpoint.pt (replay and optimiser state, only needed to resume) "
                                         "from every finished run (DONE) under the given folders. Unfinished runs, "
                                         "and finished ones whose trainer still holds the folder, are left alone; "
                                         "run.json, the logs and DONE stay, so status and the analysis read the same.")
    prune.add_argument("folders", nargs="+", metavar="FOLDER", help="run folders, sweep folders, or folders of them")
    prune.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
    prune.set_defaults(handler=_prune)


def slurm_only_flags(args: argparse.Namespace) -> list[tuple[str, object]]:
    """(flag, value) of the sweep flags that only a Slurm submission uses (--wait is not one: the
    local pool always waits)."""
    return [("--profile", args.profile), ("--partition", args.partition), ("--account", args.account),
            ("--qos", args.qos), ("--runs-per-job", args.runs_per_job), ("--gpus", args.gpus), ("--cpus", args.cpus),
            ("--mem", args.mem), ("--time", args.time), ("--signal-delay", args.signal_delay_s),
            ("--max-requeue", args.max_requeue), ("--sbatch", args.sbatch), ("--snapshot", args.snapshot)]


def _sweep(args: argparse.Namespace) -> int:
    import shutil

    from atari100k.errors import UsageError
    from suite.profile import load_profile, with_flags
    from suite.sweep import SweepOptions, make_request, run_sweep

    executor = args.executor or ("slurm" if shutil.which("sbatch") else "local")
    if executor == "local":
        # The local pool runs on this machine: Slurm's resources would be silently ignored.
        given = [flag for flag, value in slurm_only_flags(args)
                 if value is not None and value is not False and value not in ([], ())]  # 0 is given
        if given:
            how = "--executor local" if args.executor else "no sbatch here, so the local executor"
            raise UsageError(f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to Slurm, and {how} runs "
                             f"on this machine: drop {'them' if len(given) > 1 else 'it'} or use --executor slurm")
    request, planned = make_request(args.games, args.seeds, args.presets, args.overrides, args.steps,
                                    args.name, args.out, algos=args.algos)
    profile = with_flags(
        load_profile(args.profile),
        partition=args.partition, account=args.account, qos=args.qos, gpus=args.gpus, cpus=args.cpus,
        mem=args.mem, time=args.time, signal_delay_s=args.signal_delay_s, max_requeue=args.max_requeue,
        sbatch=tuple(args.sbatch), snapshot=args.snapshot, runs_per_job=args.runs_per_job,
    )
    options = SweepOptions(executor=executor, max_parallel=args.max_parallel, profile=profile,
                           dry_run=args.dry_run, retry_failed=args.retry_failed, wait=args.wait,
                           progress=not args.no_progress)
    return run_sweep(request, planned, options)


def _status(args: argparse.Namespace) -> int:
    from suite.status import format_json, format_table, sweep_status

    status = sweep_status(args.sweep, use_slurm=not args.no_slurm)
    print(format_json(status) if args.json else format_table(status))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from suite.sweep import cancel_sweep

    return cancel_sweep(args.sweep)


def _prune(args: argparse.Namespace) -> int:
    from suite.prune import format_report, prune

    report = prune(args.folders, dry_run=args.dry_run)
    print(format_report(report, args.dry_run))
    if report.errors:
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        print(f"atari100k prune: error: {report.errors[0]}{more}", file=sys.stderr)
        return 2
    return 0
