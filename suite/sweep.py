"""`atari100k sweep`: plan, skip what is done or queued, submit the rest (Slurm or local).

Idempotent: re-running the same command submits only runs that are neither done nor
queued/running; `--retry-failed` submits only failed ones. Planning and submission happen
under a lock on the sweep folder, so two invocations cannot submit a run twice.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from atari100k.errors import UsageError
from atari100k.text import counted
from suite import local_pool, scheduler
from suite.job import DEFAULT_TRAINER
from suite.lock import sweep_lock
from suite.manifest import (RUN_DIR_PATTERNS, check_compatible, now_iso, read_manifest, recorded_algos,
                            recorded_runs, run_id, write_manifest)
from suite.plan import PlannedRun, RunId, SweepRequest, plan_runs
from suite.processes import is_recorded_process
from suite.profile import SlurmProfile
from suite.runfolder import read_run_folder
from suite.state import ACTIVE_STATES, RunStatus, sweep_states
from suite.status import format_table, sweep_status

EXECUTORS = ("slurm", "local")


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep (as opposed to what it is: SweepRequest)."""

    executor: str = "local"
    """`slurm` (job arrays) or `local` (a bounded pool on this machine)."""
    max_parallel: int | None = None
    """Runs at once: the array's %N on Slurm, pool size locally (None = default)."""
    profile: SlurmProfile = field(default_factory=SlurmProfile)
    """Slurm resources (ignored by the local executor)."""
    dry_run: bool = False
    """Print the plan, submit nothing, write nothing."""
    retry_failed: bool = False
    """Submit only the failed runs."""
    wait: bool = False
    """Slurm: block until the submitted runs end, with a progress bar."""
    progress: bool = True
    """Show a progress bar (local, or Slurm with wait)."""
    trainer: str = DEFAULT_TRAINER
    """The training entry point, `module:function` (tests only)."""


@dataclass(frozen=True)
class Selection:
    """Which planned runs to submit, and why the others are skipped."""

    submit: list[PlannedRun]
    skipped: list[tuple[PlannedRun, str]]


def select_runs(planned: list[PlannedRun], states: dict[str, RunStatus], retry_failed: bool) -> Selection:
    """Done and queued/running runs are never submitted; failed ones only with retry_failed;
    missing/cancelled ones only without it."""
    submit, skipped = [], []
    for run in planned:
        row = states[run.key]
        if row.state == "done":
            skipped.append((run, "done"))
        elif row.state in ACTIVE_STATES:
            skipped.append((run, f"{row.state} (job {row.job_id})"))
        elif row.state == "failed":
            if retry_failed:
                submit.append(run)
            else:
                skipped.append((run, "failed (resubmit with --retry-failed)"))
        elif retry_failed:
            skipped.append((run, f"{row.state}, not failed (--retry-failed submits failed runs only)"))
        else:
            submit.append(run)
    return Selection(submit, skipped)


def _seed_ranges(seeds: list[int]) -> str:
    seeds = sorted(seeds)
    parts, start = [], None
    for i, s in enumerate(seeds):
        if start is None:
            start = s
        if i + 1 == len(seeds) or seeds[i + 1] != s + 1:
            parts.append(str(start) if start == s else f"{start}-{s}")
            start = None
    return ",".join(parts)


def describe_runs(runs: list[PlannedRun]) -> str:
    """`dreamerv2: Pong seeds 0-4, Breakout seeds 0,2; der: Pong seeds 0-1` (compact, for 2,600 runs too)."""
    by_algo: dict[str, dict[str, list[int]]] = {}
    for run in runs:
        by_algo.setdefault(run.spec.algo, {}).setdefault(run.spec.game, []).append(run.spec.seed)
    return "; ".join(f"{algo}: " + ", ".join(f"{game} seeds {_seed_ranges(seeds)}" for game, seeds in games.items())
                     for algo, games in by_algo.items())


def describe_budgets(request: SweepRequest) -> str:
    """`budget 600 steps each`, or per algorithm when they differ: `budget dreamerv2 600, der 300 steps`."""
    budgets = {algo: request.budget_steps(algo) for algo in request.algos}
    if len(set(budgets.values())) == 1:
        return f"budget {next(iter(budgets.values()))} steps each"
    return "budget " + ", ".join(f"{algo} {steps}" for algo, steps in budgets.items()) + " steps"


def format_plan(request: SweepRequest, selection: Selection, options: SweepOptions,
                limits: scheduler.ClusterLimits | None) -> str:
    """The plan as printed by --dry-run (and before every submission). `limits`: the cluster's,
    or None off the cluster (Slurm's default MaxArraySize is assumed)."""
    total = len(selection.submit) + len(selection.skipped)
    lines = [f"sweep {request.name} -> {request.out}: {counted(total, 'run')}, algos {','.join(request.algos)}, "
             f"{describe_budgets(request)}, presets {','.join(request.presets)}"
             + (f", overrides {' '.join(request.overrides)}" if request.overrides else "")]
    lines.append(f"  submit {len(selection.submit)}" + (f": {describe_runs(selection.submit)}" if selection.submit else ""))
    reasons: dict[str, list[PlannedRun]] = {}
    for run, why in selection.skipped:
        reasons.setdefault(why.split(" (job")[0], []).append(run)
    for why, runs in reasons.items():
        lines.append(f"  skip {len(runs)} {why}: {describe_runs(runs)}")
    if options.executor == "slurm":
        p = options.profile
        tasks = -(-len(selection.submit) // p.runs_per_job)
        max_array = limits.max_array_size if limits else scheduler.DEFAULT_MAX_ARRAY_SIZE
        arrays = -(-tasks // max_array)
        per_task = (f"{p.gpus} GPU, {p.cpus} CPU, {p.mem} per array task" if p.runs_per_job == 1 else
                    f"{p.runs_per_job} runs per array task sharing {p.gpus} GPU, {p.task_cpus()} CPU "
                    f"({p.cpus} per run), {p.task_mem_gb():g}G ({p.mem} per run)")
        lines.append(f"  slurm: partition {p.partition or '(default)'}, {per_task}, time {p.time}; "
                     f"{counted(tasks, 'array task')} in {counted(arrays, 'array')}, at most {p.max_parallel or '(no cap)'} at once"
                     + (f", account {p.account}" if p.account else "") + (f", qos {p.qos}" if p.qos else ""))
    else:
        lines.append(f"  local: {options.max_parallel or local_pool.default_parallelism()} at a time")
    return "\n".join(lines)


def _fill_from_manifest(request_args: dict, out: Path | None, results_root: str) -> dict:
    """Omitted algos/games/seeds/presets come from an existing sweep folder's manifest."""
    args = dict(request_args)
    folder = Path(out) if out is not None else (Path(results_root) / args["name"] if args.get("name") else None)
    manifest = read_manifest(folder) if folder is not None else None
    if manifest is not None:
        settings = manifest.get("settings", {})
        if args.get("presets") is None:
            args["presets"] = settings.get("presets")
            if args.get("overrides") in (None, (), []):
                args["overrides"] = settings.get("overrides", [])
            if args.get("steps") is None:
                args["steps"] = settings.get("steps")
        runs = recorded_runs(manifest)
        if args.get("algos") is None:
            args["algos"] = recorded_algos(manifest) or None
        if args.get("games") is None:
            args["games"] = list(dict.fromkeys(r["game"] for r in runs))
        if args.get("seeds") is None:
            args["seeds"] = list(dict.fromkeys(r["seed"] for r in runs))
        if args.get("name") is None and out is None:
            args["name"] = manifest.get("name")
    if args.get("games") is None or args.get("seeds") is None:
        raise UsageError("a new sweep needs --games (e.g. all, or Pong,Breakout) and --seeds (e.g. 5)")
    return args


def rerun_ids(recorded: list[dict], algos: tuple[str, ...], same_algos: bool) -> set[RunId]:
    """The runs a re-run without --games/--seeds plans: the manifest's own, or with --algos
    its (game, seed) pairs for each of those algorithms."""
    if same_algos:
        return {run_id(run) for run in recorded}
    pairs = {(run["game"], run["seed"]) for run in recorded}
    return {(algo, game, seed) for algo in algos for game, seed in pairs}


def make_request(games=None, seeds=None, presets=None, overrides=(), steps=None, name=None, out=None,
                 results_root: str = "results", algos=None) -> tuple[SweepRequest, list[PlannedRun]]:
    """Validate the request (filling omissions from an existing folder) and plan its runs.

    Runs already in the folder's manifest keep their recorded folders.
    """
    args = _fill_from_manifest(
        {"algos": algos, "games": games, "seeds": seeds, "presets": presets, "overrides": overrides or (),
         "steps": steps, "name": name},
        out, results_root)
    request = SweepRequest.make(args["games"], args["seeds"], args["presets"], tuple(args["overrides"] or ()),
                                args["steps"], args.get("name"), out, results_root, args["algos"])
    recorded = recorded_runs(read_manifest(request.out))
    planned = plan_runs(request, {run_id(run): run["dir"] for run in recorded})
    if recorded and games is None and seeds is None:
        keep = rerun_ids(recorded, request.algos, same_algos=algos is None)
        planned = [run for run in planned if run.id in keep]
    return request, planned


def _states(request: SweepRequest, planned: list[PlannedRun], use_slurm: bool) -> dict[str, RunStatus]:
    rows = [{"algo": r.spec.algo, "game": r.spec.game, "seed": r.spec.seed, "dir": r.rel_dir} for r in planned]
    budgets = {r.spec.algo: r.budget_steps for r in planned}
    states, _ = sweep_states(request.out, rows, budgets, use_slurm=use_slurm)
    return {row.dir: row for row in states}


def check_existing_runs(request: SweepRequest, planned: list[PlannedRun]) -> None:
    """UsageError if a planned run's folder already holds another run (other config, algorithm,
    game or seed), as `atari100k train` refuses it. Only needed without a manifest (folders
    trained by hand, or copied in): a manifest's settings are checked as a whole (`check_compatible`)."""
    if read_manifest(request.out) is not None:
        return
    from agent.run_folder import RunFolder, is_agent_run_json

    configs: dict[str, object] = {}
    for run in planned:
        folder = RunFolder(request.out / run.rel_dir)
        try:
            existing = folder.read_run_json() if folder.path.is_dir() else None
        except (OSError, ValueError):
            existing = None
        if not is_agent_run_json(existing):
            continue  # nothing to compare (or a broken folder: its own job reports that, as before)
        if run.spec.algo not in configs:
            configs[run.spec.algo] = run.spec.config()
        folder.check_compatible(run.spec, configs[run.spec.algo])


def _fit_packing(options: SweepOptions, selection: Selection) -> SweepOptions:
    """Fewer runs to submit than `--runs-per-job` (re-submitting one failed run, say): pack only
    those, so the array task does not ask for the resources of runs it will never train."""
    wanted = options.profile.runs_per_job
    if options.executor != "slurm" or not selection.submit or len(selection.submit) >= wanted:
        return options
    return replace(options, profile=replace(options.profile, runs_per_job=len(selection.submit)))


def run_sweep(request: SweepRequest, planned: list[PlannedRun], options: SweepOptions, out: TextIO | None = None) -> int:
    """Plan and submit (or run) a sweep. Returns the exit code.

    Slurm: 0 once submitted (with `wait`: 0 iff every submitted run ended done).
    Local: blocks; 0 iff every planned run is done, else 1 (the status table is printed).
    Bad input raises UsageError before anything is written or submitted.
    """
    out = out or sys.stdout
    if options.executor not in EXECUTORS:
        raise UsageError(f"--executor {options.executor!r}: choose slurm or local")
    if options.max_parallel is not None and options.max_parallel < 1:
        raise UsageError("--max-parallel must be >= 1")
    check_compatible(read_manifest(request.out), request)
    check_existing_runs(request, planned)
    limits = None
    profile = options.profile
    unreachable = scheduler.slurm_reachable()
    use_slurm = unreachable is None
    if options.executor == "slurm":
        if options.max_parallel is not None:
            import dataclasses
            profile = dataclasses.replace(profile, max_parallel=options.max_parallel)
        if unreachable is None:
            limits = scheduler.cluster_limits()
            from suite.slurm_executor import check_profile

            check_profile(profile, limits)
        elif not options.dry_run:  # a dry run plans off the cluster; only submitting needs it
            raise scheduler.unreachable_error(unreachable)
    options_eff = SweepOptions(**{**options.__dict__, "profile": profile})

    if options.dry_run:
        selection = select_runs(planned, _states(request, planned, use_slurm), options.retry_failed)
        options_eff = _fit_packing(options_eff, selection)
        print(format_plan(request, selection, options_eff, limits), file=out)
        if options.executor == "slurm" and limits is None:
            print(f"  (Slurm is not reachable from here: {unreachable}. Arrays are sized for Slurm's default "
                  f"MaxArraySize {scheduler.DEFAULT_MAX_ARRAY_SIZE}; the partition and time limit are checked "
                  "when you submit.)", file=out)
        print("dry run: nothing submitted", file=out)
        return 0

    created = not request.out.exists()
    try:
        with sweep_lock(request.out):
            selection = select_runs(planned, _states(request, planned, use_slurm), options.retry_failed)
            options_eff = _fit_packing(options_eff, selection)
            profile = options_eff.profile
            print(format_plan(request, selection, options_eff, limits), file=out)
            submission = None
            if options.executor == "slurm" and selection.submit:
                from suite.slurm_executor import submit_slurm

                jobs, folder = submit_slurm(selection.submit, request.out, request.name, profile, limits, options.trainer)
                masters = sorted({str(j.job_id).split("_")[0] for j in jobs})
                submission = {"time": now_iso(), "executor": "slurm", "runs": len(selection.submit),
                              "array_tasks": len(jobs), "runs_per_job": profile.runs_per_job,
                              "arrays": masters, "submitit_folder": str(folder)}
                packing = f" in {len(jobs)} array tasks" if profile.runs_per_job > 1 else ""
                print(f"submitted {counted(len(selection.submit), 'run')}{packing} as job array{'s' if len(masters) > 1 else ''} {', '.join(masters)}; "
                      f"follow with: atari100k status {request.out}", file=out)
            elif options.executor == "local" and selection.submit:
                log_dir = local_pool.claim_local(selection.submit, request.out, request.name)
                submission = {"time": now_iso(), "executor": "local", "runs": len(selection.submit),
                              "log_folder": str(log_dir)}
            else:
                print("nothing to submit", file=out)
            write_manifest(request, planned, submission)
    except BaseException:
        # Bad input (e.g. sbatch refused the resources) leaves nothing behind; a folder with
        # queued runs (job.json) is kept whatever happened.
        if created and not any(any(request.out.glob(f"{pattern}/job.json")) for pattern in RUN_DIR_PATTERNS):
            shutil.rmtree(request.out, ignore_errors=True)
        raise

    if options.executor == "local":
        if selection.submit:
            local_pool.run_local(selection.submit, request.out, request.name,
                                 options.max_parallel or local_pool.default_parallelism(),
                                 log_dir, options.progress, options.trainer)
        return _report(request, planned, use_slurm, out)
    if options.wait and selection.submit:
        wait_for(request, selection.submit, options.progress)
        return _report(request, selection.submit, True, out)
    return 0


def _report(request: SweepRequest, runs: list[PlannedRun], use_slurm: bool, out: TextIO) -> int:
    """Print the sweep's status table; 0 iff every run in `runs` is done."""
    status = sweep_status(request.out, use_slurm=use_slurm)
    print(format_table(status), file=out)
    keys = {r.key for r in runs}
    return 0 if all(row.state == "done" for row in status.rows if row.dir in keys) else 1


def wait_for(request: SweepRequest, runs: list[PlannedRun], progress: bool = True, poll_s: float = 5.0) -> None:
    """Block until none of `runs` is pending/running/requeued, with a progress bar."""
    from tqdm import tqdm

    budgets = {run.key: run.budget_steps for run in runs}
    bar = tqdm(total=sum(budgets.values()), unit="step", desc=request.name, disable=not progress, dynamic_ncols=True)
    try:
        while True:
            states = _states(request, runs, True)
            bar.n = min(bar.total, sum(min(row.step, budgets[key]) for key, row in states.items()))
            counts = {s: sum(r.state == s for r in states.values()) for s in ("done", "running", "failed")}
            bar.set_description(f"{request.name} ({counts['done']}/{len(runs)} done, {counts['running']} running"
                                + (f", {counts['failed']} failed" if counts["failed"] else "") + ")")
            bar.refresh()
            if not any(r.state in ACTIVE_STATES for r in states.values()):
                return
            time.sleep(poll_s)
    finally:
        bar.close()


def cancel_sweep(sweep: str | Path, results_root: str = "results", out: TextIO | None = None) -> int:
    """Cancel every queued/running run of a sweep (scancel; SIGTERM to a local pool)."""
    import os
    import signal
    import socket

    out = out or sys.stdout

    status = sweep_status(sweep, results_root=results_root)
    active = [r for r in status.rows if r.state in ACTIVE_STATES]
    slurm_ids = [r.job_id for r in active if r.executor == "slurm" and r.job_id]
    if slurm_ids:
        scheduler.cancel_jobs(slurm_ids)
    pools = set()
    for row in active:
        if row.executor == "local":
            record = read_run_folder(status.sweep_dir / row.dir).job or {}
            # Only the pool that wrote the record: its pid may since belong to another process.
            if record.get("host") == socket.gethostname() and is_recorded_process(
                    record.get("pid"), record.get("pid_identity"), strict=True, recorded_at=record.get("submitted_at")):
                pools.add(int(record["pid"]))
    for pid in pools:
        try:
            os.kill(pid, signal.SIGTERM)  # the pool checkpoints and stops its workers
        except ProcessLookupError:
            pass
    print(f"cancelled {counted(len(active), 'run')} ({counted(len(slurm_ids), 'Slurm job')}, "
          f"{counted(len(pools), 'local pool')})", file=out)
    return 0


def local_sweep(games: str, seeds: str | int, presets: list[str] | tuple[str, ...] | str | None = None,
                steps: int | None = None, out: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                max_parallel: int | None = None, progress: bool = True, name: str | None = None,
                algos: str | list[str] | tuple[str, ...] | None = None) -> int:
    """The quick start's one call: train algorithms x games x seeds on this machine, resumably.

    Same as `atari100k sweep --executor local ...`: prints the plan, a progress bar, then
    the status table; returns 0 iff every run is done (1 if any failed). Re-running it
    skips finished runs and resumes interrupted ones.
    """
    request, planned = make_request(games, str(seeds), presets, overrides, steps, name, out, algos=algos)
    return run_sweep(request, planned, SweepOptions(executor="local", max_parallel=max_parallel, progress=progress))
