"""Slurm site profiles: what to ask the scheduler for, from a TOML file and/or CLI flags.

A profile is a TOML file of the SlurmProfile fields, e.g. `slurm/profiles/gpu-example.toml`:

    partition = "gpu"
    gpus = 1
    cpus = 8
    mem = "32G"
    time = "12:00:00"
    [sbatch]            # free-form extra sbatch parameters
    constraint = "a100"

`--profile NAME` looks for `slurm/profiles/NAME.toml` in the project, `--profile PATH`
reads that file. Flags override the profile's fields.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atari100k.errors import UsageError
from suite.scheduler import parse_time_minutes

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]

PROFILE_DIR = Path(__file__).resolve().parent.parent / "slurm" / "profiles"


@dataclass(frozen=True)
class SlurmProfile:
    """Resources and options of every array task of a Slurm sweep."""

    partition: str | None = None
    """Partition (None = the cluster's default)."""
    account: str | None = None
    """Account to charge (sbatch --account)."""
    qos: str | None = None
    """Quality of service (sbatch --qos)."""
    gpus: int = 0
    """GPUs per array task (gpus_per_node), shared by its `runs_per_job` runs."""
    cpus: int = 1
    """CPUs per run: an array task asks for `runs_per_job` x this (cpus_per_task)."""
    mem: str = "4G"
    """Memory per run (`16G`, `8000M`): an array task asks for `runs_per_job` x this."""
    runs_per_job: int = 1
    """Runs trained at once by one array task (K): K processes sharing its GPU, `cpus` threads each."""
    time: str = "4:00:00"
    """Time limit per job. Always passed explicitly: Slurm's default may be minutes."""
    signal_delay_s: int = 120
    """SIGUSR2 this many seconds before the time limit: the run checkpoints and is requeued."""
    max_requeue: int = 20
    """How many time-limit requeues a run may use (submitit's slurm_max_num_timeout)."""
    max_parallel: int | None = None
    """Array tasks at once (`%N`; each trains `runs_per_job` runs); None = submitit's default."""
    setup: tuple[str, ...] = ()
    """Shell lines run before the job (e.g. `module load cuda`)."""
    sbatch: tuple[tuple[str, str], ...] = ()
    """Free-form extra sbatch parameters (`constraint=a100`), as --key=value."""
    snapshot: bool = False
    """Run jobs from a snapshot of the code at submission (git checkout needed)."""

    def mem_gb(self) -> float:
        """Memory in GB (submitit's mem_gb)."""
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", self.mem, re.IGNORECASE)
        if not match:
            raise UsageError(f"--mem {self.mem!r}: write it like 16G or 8000M")
        factor = {"": 1 / 1024, "K": 1 / 1024**2, "M": 1 / 1024, "G": 1, "T": 1024}[match.group(2).upper()]
        return float(match.group(1)) * factor

    def task_cpus(self) -> int:
        """CPUs of one array task: `cpus` for each of its runs."""
        return self.cpus * self.runs_per_job

    def task_mem_gb(self) -> float:
        """Memory of one array task in GB: `mem` for each of its runs."""
        return self.mem_gb() * self.runs_per_job

    def timeout_min(self) -> int:
        """Time limit in minutes."""
        return parse_time_minutes(self.time)

    def validate(self) -> "SlurmProfile":
        """UsageError on impossible values; returns self."""
        self.mem_gb()
        self.timeout_min()
        if self.gpus < 0 or self.cpus < 1:
            raise UsageError("--gpus must be >= 0 and --cpus >= 1")
        if self.runs_per_job < 1:
            raise UsageError("--runs-per-job must be >= 1")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise UsageError("--max-parallel must be >= 1")
        if self.signal_delay_s < 0 or self.max_requeue < 0:
            raise UsageError("--signal-delay and --max-requeue must be >= 0")
        if self.signal_delay_s >= self.timeout_min() * 60:
            raise UsageError(f"--signal-delay {self.signal_delay_s}s is not shorter than --time {self.time}")
        for key, value in self.sbatch:
            # As submitit writes it (`_` -> `-`); long names are case-insensitive, short ones not (-C is not -c).
            name = key.strip().lstrip("-").replace("_", "-")
            name = name.lower() if len(name) > 1 else name
            if name in MANAGED_SBATCH:
                raise UsageError(f"--sbatch {key}=...: {MANAGED_SBATCH[name]}")
            if name == "gres" and self.gpus and "gpu" in str(value).lower():
                raise UsageError(f"--sbatch {key}={value} asks for GPUs beside --gpus {self.gpus}: use one of them")
        return self

    def submitit_parameters(self) -> dict[str, Any]:
        """AutoExecutor.update_parameters(**...) for this profile."""
        params: dict[str, Any] = {
            "timeout_min": self.timeout_min(),
            "cpus_per_task": self.task_cpus(),
            "mem_gb": self.task_mem_gb(),
            "slurm_signal_delay_s": self.signal_delay_s,
            "tasks_per_node": 1,
            "nodes": 1,
        }
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.max_parallel:
            params["slurm_array_parallelism"] = self.max_parallel
        extra = dict(self.sbatch)
        if self.account:
            extra["account"] = self.account
        if self.qos:
            extra["qos"] = self.qos
        if extra:
            params["slurm_additional_parameters"] = extra
        if self.setup:
            params["slurm_setup"] = list(self.setup)
        return params


_FIELDS = {f.name for f in dataclasses.fields(SlurmProfile)}

_OWN = "the sweep sets it (job arrays, their logs and requeue are how runs are tracked and resumed)"
MANAGED_SBATCH: dict[str, str] = {
    **{key: _OWN for key in ("array", "a", "output", "o", "error", "e", "open-mode", "signal", "requeue",
                             "no-requeue", "wrap", "nodes", "N", "ntasks", "n", "ntasks-per-node", "ntasks-per-gpu",
                             "job-name", "J")},
    **{key: f"use {flag} instead" for keys, flag in [
        (("time", "t"), "--time"), (("mem", "mem-per-cpu", "mem-per-gpu"), "--mem (per run)"),
        (("cpus-per-task", "c", "cpus-per-gpu"), "--cpus (per run)"),
        (("gpus", "gpus-per-node", "gpus-per-task", "G"), "--gpus"), (("partition", "p"), "--partition"),
        (("account", "A"), "--account"), (("qos", "q"), "--qos")] for key in keys},
}
"""sbatch parameters an `--sbatch key=value` (or a profile's [sbatch]) may not set, and why."""


def load_profile(name_or_path: str | None) -> SlurmProfile:
    """The profile from `slurm/profiles/<name>.toml` or a path; defaults when None."""
    if not name_or_path:
        return SlurmProfile()
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))) or "none"
        raise UsageError(f"--profile {name_or_path!r}: no such file (profiles in slurm/profiles/: {known})")
    if tomllib is None:
        raise UsageError("--profile needs Python >= 3.11 (tomllib)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: bad TOML ({error})") from None
    unknown = set(data) - _FIELDS
    if unknown:
        raise UsageError(f"{path}: unknown fields {sorted(unknown)}; known: {', '.join(sorted(_FIELDS))}")
    if "sbatch" in data:
        data["sbatch"] = tuple((str(k), str(v)) for k, v in data["sbatch"].items())
    if "setup" in data:
        data["setup"] = tuple(data["setup"])
    if "time" in data:
        data["time"] = str(data["time"])
    try:
        return SlurmProfile(**data).validate()
    except TypeError as error:
        raise UsageError(f"{path}: {error}") from None


def with_flags(profile: SlurmProfile, **flags: Any) -> SlurmProfile:
    """Profile fields overridden by the flags that were given (None = not given)."""
    given = {k: v for k, v in flags.items() if v is not None and v != ()}
    if "sbatch" in given:
        pairs = []
        for item in given["sbatch"]:
            key, sep, value = str(item).partition("=")
            if not sep or not key.strip():
                raise UsageError(f"--sbatch {item!r}: write it as key=value, e.g. constraint=a100")
            pairs.append((key.strip().lstrip("-"), value.strip()))
        given["sbatch"] = tuple(dict(profile.sbatch, **dict(pairs)).items())
    return dataclasses.replace(profile, **given).validate()
