"""The run folder's files (docs/DESIGN.md, "The run folder"): run.json, the three logs, DONE.

Logs are append-only while training. A checkpoint records how many rows each log had when
it was taken; resuming first cuts every log back to those counts (an atomic rewrite), so a
finished run has each row exactly once, even when killed between a row and a checkpoint or
in the middle of writing a row (a partial last line is not a row).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import socket
from pathlib import Path
from typing import Any, Iterable

from agent.config import DEFAULT_ALGO, config_to_dict, describe_protocol
from agent.config import AnyConfig as Config
from agent.provenance import collect_provenance, cpu_description, git_state, slurm_job_id, utc_now
from agent.spec import RunSpec
from agent.tensorboard_log import TENSORBOARD_DIR
from atari100k.errors import UsageError
from atari100k.fileio import atomic_write_json, atomic_write_text, read_json

RUN_JSON = "run.json"
METRICS = "metrics.jsonl"
EPISODES = "episodes.csv"
EVAL = "eval.csv"
CHECKPOINT = "checkpoint.pt"
DONE = "DONE"
RUN_LOCK = ".train.lock"
"""Held (flock) by the one `atari100k train` training the folder; holds "pid N on HOST"."""

LAUNCH_KEYS = ("train.cuda_graphs", "train.compile")
"""Config keys that only change how the same update is launched (a CUDA graph, torch.compile; equal
to eager to rounding: benchmarks/gpu/check_graphs.py, tests/test_dreamer_compile.py). A run may
resume under another value, as it may on another device; the resume's entry in run.json records it."""

# Each log: file name -> header line ("" for JSON lines).
LOGS: dict[str, str] = {
    METRICS: "",
    EPISODES: "step,return,length",
    EVAL: "step,episode,return,length",
}


def _flat(spec: RunSpec | dict[str, Any], config: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`algo`, `game`, `seed` and every dotted config key, in a stable order, for comparisons."""
    data = spec.to_dict() if isinstance(spec, RunSpec) else spec
    flat: dict[str, Any] = {"algo": data.get("algo", DEFAULT_ALGO), "game": data["game"], "seed": data["seed"]}
    for section, values in config.items():
        for key, value in values.items():
            flat[f"{section}.{key}"] = value
    return flat


def _how_asked(made: dict[str, Any], spec: RunSpec) -> str:
    """" (that run: --preset debug; this command: --preset atari100k --set ...)" when the presets or
    overrides that resolved the two configs differ, else ""."""
    def flags(presets: Any, overrides: Any, steps: Any) -> str:
        parts = [f"--preset {p}" for p in presets or ()] + [f"--set {o}" for o in overrides or ()]
        parts += [f"--steps {steps}"] if steps is not None else []
        return " ".join(parts) or "no presets or overrides"

    then = flags(made.get("presets"), made.get("overrides"), made.get("steps"))
    now = flags(spec.presets, spec.overrides, spec.steps)
    return "" if then == now else f" (that run: {then}; this command: {now})"


def is_agent_run_json(data: Any) -> bool:
    """Whether parsed run.json content is the agent's: an object with its `spec` and `config`
    objects (another tool's run.json is not; `prune` and `sweep` leave such folders alone)."""
    return isinstance(data, dict) and isinstance(data.get("spec"), dict) and isinstance(data.get("config"), dict)


def _json_safe(value: Any) -> Any:
    """NaN/inf -> None (JSON has no NaN), numpy scalars -> Python numbers."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunFolder:
    """One run's folder. Nothing is written until `start`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    # --------------------------------------------------------------- state
    def is_done(self) -> bool:
        return self.file(DONE).exists()

    def read_done(self) -> dict[str, Any]:
        """DONE's summary; UsageError (one line) when it is damaged: the run is finished either way."""
        try:
            done = read_json(self.file(DONE))
        except (OSError, ValueError) as error:
            raise UsageError(f"{self.file(DONE)}: the run is finished but its summary cannot be read ({error}); "
                             f"nothing was trained (remove DONE only to train the run again)") from error
        if not isinstance(done, dict):
            raise UsageError(f"{self.file(DONE)}: the run is finished but its summary is not a JSON object; "
                             f"nothing was trained (remove DONE only to train the run again)")
        return done

    def has_checkpoint(self) -> bool:
        return self.file(CHECKPOINT).exists()

    def read_run_json(self) -> dict[str, Any] | None:
        return read_json(self.file(RUN_JSON)) if self.file(RUN_JSON).exists() else None

    def check_compatible(self, spec: RunSpec, config: Config) -> None:
        """Raise UsageError if this folder holds another run (read-only).

        Compares the algorithm, the game, the seed and every resolved config key but the LAUNCH_KEYS;
        presets/overrides spelled differently but resolving to the same config are the same run.
        """
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"run folder {self.path} is a file; use another --out")
        existing = self._readable_run_json() if self.path.is_dir() else None
        if existing is None:
            # The agent writes run.json before any of its other files: without it, these are someone
            # else's (or a copy's), and training here would overwrite the logs.
            ours = [name for name in (CHECKPOINT, DONE, *LOGS, TENSORBOARD_DIR) if self.file(name).exists()]
            if ours:
                raise UsageError(f"{self.path} holds {', '.join(ours)} but no {RUN_JSON}: not a run folder of "
                                 f"this suite (training would overwrite them); use another --out")
            return
        old = _flat(existing["spec"], existing["config"])
        new = _flat(spec, config_to_dict(config))
        # A key the folder's run.json lacks was added to the code after the run started; the
        # code then behaved as the key's default does (a rule for new fields: their default
        # keeps the old behaviour), so the folder holds the same run when we ask the default.
        defaults = _flat(spec, config_to_dict(type(config)()))
        for key in [k for k in new if k not in old and new[k] == defaults.get(k, "<unset>")]:
            old[key] = new[key]
        for key in list(old) + [k for k in new if k not in old]:
            if key not in LAUNCH_KEYS and old.get(key, "<unset>") != new.get(key, "<unset>"):
                raise UsageError(
                    f"run folder {self.path} was made with {key}={old.get(key, '<unset>')}, "
                    f"this command asks {new.get(key, '<unset>')}{_how_asked(existing['spec'], spec)}; "
                    f"use another --out or the same settings"
                )

    def _readable_run_json(self) -> dict[str, Any] | None:
        """run.json, checked to be the agent's (an object with `spec` and `config`); None without one."""
        try:
            existing = self.read_run_json()
        except (OSError, ValueError) as error:
            raise UsageError(f"{self.file(RUN_JSON)} cannot be read ({error}); use another --out") from error
        if existing is not None and not (is_agent_run_json(existing) and {"game", "seed"} <= set(existing["spec"])):
            raise UsageError(f"{self.file(RUN_JSON)} is not an atari100k run.json (no spec with game and seed, "
                             f"or no config); use another --out")
        return existing

    # --------------------------------------------------------------- writing
    def start(self, spec: RunSpec, config: Config, resumed_from_step: int | None) -> None:
        """Write run.json (fresh run) or append to its `resumes` (restart / resume).

        The original provenance is never rewritten: a resume adds when, where and with
        which code it continued, and from which checkpointed step (None = from scratch,
        i.e. an earlier attempt died before its first checkpoint).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        existing = self.read_run_json()
        if existing is None:
            atomic_write_json(self.file(RUN_JSON), {
                "spec": spec.to_dict(),
                "config": config_to_dict(config),
                "protocol": describe_protocol(config),
                "budget_steps": config.train.steps,
                "provenance": collect_provenance(),
                "resumes": [],
            })
            return
        commit, dirty = git_state()
        made, now = _flat(existing["spec"], existing["config"]), _flat(spec, config_to_dict(config))
        # A launch key the run.json lacks predates it: that run launched its updates eagerly (False).
        launch = {key: now[key] for key in LAUNCH_KEYS if key in now and made.get(key, False) != now[key]}
        existing.setdefault("resumes", []).append({
            "resumed_at": utc_now(),
            "from_step": resumed_from_step,
            "host": socket.gethostname(),
            "cpu": cpu_description(),
            "slurm_job_id": slurm_job_id(),
            "git_commit": commit,
            "git_dirty": dirty,
            **({"launch": launch} if launch else {}),  # LAUNCH_KEYS that differ from run.json's config
        })
        atomic_write_json(self.file(RUN_JSON), existing)

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl."""
        line = json.dumps({k: _json_safe(v) for k, v in row.items()}) + "\n"
        self._append(METRICS, line)

    def heartbeat(self) -> None:
        """Touch metrics.jsonl: `atari100k status` takes a run whose metrics changed in the last 15
        minutes as alive where nothing else tells (no Slurm, another host), and an evaluation writes
        no row for up to an hour (100 Breakout episodes)."""
        try:
            os.utime(self.file(METRICS))
        except FileNotFoundError:
            pass

    def append_episodes(self, rows: Iterable[tuple[int, float, int]]) -> None:
        """Append (step, return, length) rows to episodes.csv."""
        self._append_csv(EPISODES, rows)

    def append_eval(self, rows: Iterable[tuple[int, int, float, int]]) -> None:
        """Append (step, episode, return, length) rows to eval.csv."""
        self._append_csv(EVAL, rows)

    def _append_csv(self, name: str, rows: Iterable[tuple[Any, ...]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([[_json_safe(v) for v in row] for row in rows])
        if buffer.getvalue():
            self._append(name, buffer.getvalue())

    def _append(self, name: str, text: str) -> None:
        path = self.file(name)
        if not path.exists():
            self._rewrite(name, [])
        # One write call per batch of rows; the file is closed (flushed) right after, so a
        # checkpoint taken later counts only rows that are on disk.
        with open(path, "a") as handle:
            handle.write(text)

    # ------------------------------------------------------------ row counts
    def _rows(self, name: str) -> list[str]:
        """Complete data lines of a log (header and a partial last line excluded)."""
        path = self.file(name)
        if not path.exists():
            return []
        lines = path.read_text().split("\n")[:-1]  # the part after the last "\n" is partial
        return lines[1:] if LOGS[name] else [line for line in lines if line]

    def row_counts(self) -> dict[str, int]:
        """Data rows in each log now (what a checkpoint records)."""
        return {name: len(self._rows(name)) for name in LOGS}

    def truncate_logs(self, counts: dict[str, int] | None) -> None:
        """Cut each log back to `counts` rows (None or a missing name: to zero rows).

        Rows a log lacks cannot be invented: if a log holds fewer rows than recorded, it
        is kept as it is (the files were edited by hand).
        """
        for name in LOGS:
            rows = self._rows(name)
            keep = (counts or {}).get(name, 0)
            current = self.file(name).read_text() if self.file(name).exists() else None
            wanted = self._text(name, rows[:keep])
            if current != wanted:
                self._rewrite(name, rows[:keep])

    def _text(self, name: str, rows: list[str]) -> str:
        header = LOGS[name]
        return "".join(f"{line}\n" for line in ([header] if header else []) + rows)

    def _rewrite(self, name: str, rows: list[str]) -> None:
        atomic_write_text(self.file(name), self._text(name, rows))

    def read_csv(self, name: str) -> list[dict[str, str]]:
        """Rows of episodes.csv or eval.csv as dicts of strings."""
        path = self.file(name)
        if not path.exists():
            return []
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))

    def read_metrics(self) -> list[dict[str, Any]]:
        """Rows of metrics.jsonl."""
        return [json.loads(line) for line in self._rows(METRICS)]

    def write_done(self, summary: dict[str, Any]) -> None:
        """Write DONE (JSON); this is the last file a finished run writes."""
        atomic_write_json(self.file(DONE), {k: _json_safe(v) for k, v in summary.items()})
