"""Load run folders, sweep folders and CSVs into the long score table.

The long table (docs/DESIGN.md): one row per (algorithm, game, seed, step) with columns
`algorithm, game, seed, step, score` (raw game score; `step` in agent steps, frames = 4 x
steps; NaN step = a final score of unknown step) plus `done` (False for a run folder without
`DONE`). Protocols travel beside the table, per algorithm: run folders' from run.json, CSVs'
as declared by a sidecar `<file>.protocol.json`, by `--protocol KEY=VALUE`, or by the protocol
rows of a table's own CSV export (`analysis.protocol` defines the fields).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from atari100k.errors import UsageError
from atari100k.fileio import read_json
from atari100k.games import canonical_game
from atari100k.text import counted

COLUMNS = ["algorithm", "game", "seed", "step", "score", "done"]

# How run folders are named in tables and figures: run.json's `spec.algo` -> label, shown as
# "<label> (ours)" so our runs never read as a published baseline of the same short name
# (the published DER is "DER (Dopamine, Agarwal et al.)"). Mirrors the `label` of
# agent.algorithms.ALGORITHMS, written out here because analysis/ never imports agent/
# (tests/test_analysis_algorithms.py checks that the two agree). Run folders older than
# `spec.algo` are DreamerV2's.
ALGORITHM_LABELS: dict[str, str] = {"dreamerv2": "DreamerV2", "der": "DER", "iqn": "IQN"}
DEFAULT_ALGO = "dreamerv2"
OURS_SUFFIX = " (ours)"
DEFAULT_NAME = ALGORITHM_LABELS[DEFAULT_ALGO] + OURS_SUFFIX
"""The label of a run folder without `spec.algo`."""


# Presets that keep an algorithm's default recipe: its default (`atari100k`) and the pipeline-check
# size (`debug`). Any other preset (DreamerV2's `paper`, DER's `dopamine2021`) changes the
# recipe, so its runs carry its name ("DreamerV2 (ours, paper)") and never merge with the
# default runs.
RECIPE_PRESETS = ("atari100k", "debug")

# `--set` overrides that leave the recipe as it is, so a run made with them keeps its label: where
# and how it ran (device, determinism, checkpoint and log cadence, evaluation batching and
# interim evaluations; `train.compile` and `train.cuda_graphs` replay the same update, checked equal
# to eager by tests and benchmarks/gpu), and the protocol's own keys (the budget, evaluation
# episodes, the `env` section but its number of training envs), which run.json's `protocol`
# records: runs of one label that differ there merge into a protocol no baseline matches, so
# `compare` refuses them and `table` says so. Any other override (`der.lr=3e-4`) changes what is
# learned: its runs are named after it, "DER (ours, der.lr=0.0003)".
# tests/test_analysis_algorithms.py checks that these keys exist.
SAME_RECIPE_KEYS = ("train.device", "train.deterministic", "train.checkpoint_every", "train.log_every",
                    "train.compile", "train.cuda_graphs", "eval.num_envs", "eval.every",
                    "eval.episodes_during_training", "train.steps", "eval.episodes")


def changes_recipe(override: str) -> bool:
    """Whether a `key=value` override of run.json's `spec.overrides` changes what the run learns."""
    key = override.split("=", 1)[0].strip()
    if key in SAME_RECIPE_KEYS:
        return False
    return not (key.startswith("env.") and key != "env.num_envs")


def recipe_overrides(overrides: Sequence[str], config: Any) -> list[str]:
    """The overrides that change the recipe, as `key=value` with the value as the run resolved it
    (run.json's `config`), sorted by key: `der.lr=3e-4`, `der.lr=0.0003` and `der.lr=3E-4` are one
    recipe, `der.lr=0.0003`. A key `config` lacks keeps its text."""
    out = {}
    for override in overrides:
        if not changes_recipe(override):
            continue
        key, _, text = (part.strip() for part in override.partition("="))
        section, _, name = key.partition(".")
        value = config.get(section, {}).get(name, text) if isinstance(config, dict) else text
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, float):
            value = repr(value)  # exact and canonical: 3e-4 -> 0.0003
        out[key] = f"{key}={value}"
    return [out[key] for key in sorted(out)]


def algorithm_label(algo: str | None, presets: Sequence[str] | None = None,
                    overrides: Sequence[str] | None = None, config: Any = None) -> str:
    """Table/figure name of our runs of `algo` (`spec.algo`; None = DreamerV2) with `presets`
    (`spec.presets`) and `overrides` (`spec.overrides`, spelled as `config`, run.json's, resolved them).

    `"der"` -> `"DER (ours)"`; `("der", ["atari100k", "dopamine2021"])` ->
    `"DER (ours, dopamine2021)"`; `("der", ["atari100k"], ["der.lr=3e-4", "train.device=cuda"],
    {"der": {"lr": 0.0003}})` -> `"DER (ours, der.lr=0.0003)"`; an algorithm this map does not know
    keeps its own name: `"ppo"` -> `"ppo (ours)"`.
    """
    algo = DEFAULT_ALGO if algo is None else str(algo)
    stacked = "+".join(str(p) for p in presets or () if str(p) not in RECIPE_PRESETS)
    variants = [stacked] if stacked else []
    variants += recipe_overrides([str(o) for o in overrides or ()], config)
    suffix = f" (ours, {', '.join(variants)})" if variants else OURS_SUFFIX
    return ALGORITHM_LABELS.get(algo, algo) + suffix


@dataclass
class ScoreData:
    """The long score table and what travels with it."""

    frame: pd.DataFrame
    """Columns COLUMNS; one row per (algorithm, game, seed, step)."""
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)
    """algorithm -> protocol of its run folders (run.json's `protocol` plus `algo`, merged over runs)."""
    notes: list[str] = field(default_factory=list)
    """Human-readable remarks on what was loaded (printed under tables)."""
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)
    """algorithm -> protocol fields declared for its CSV rows (`analysis.protocol` keys: sidecar
    `<file>.protocol.json`, then the table export's protocol rows, then --protocol); absent = none declared."""
    declared_sources: dict[str, str] = field(default_factory=dict)
    """algorithm -> where its declared protocol comes from."""


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                         zip(COLUMNS, ["object", "object", "int64", "float64", "float64", "bool"])})


def is_run_folder(path: Path) -> bool:
    """A run folder holds `run.json` and `eval.csv` (made by `agent/`)."""
    return (path / "run.json").is_file() and (path / "eval.csv").is_file()


def find_run_folders(root: Path) -> list[Path]:
    """Every run folder at or below `root`, sorted, at any depth: a sweep is
    `<sweep>/<algo>/<Game>/seed_<k>/` (older sweeps: `<sweep>/<Game>/seed_<k>/`)."""
    if is_run_folder(root):
        return [root]
    return sorted(p.parent for p in root.rglob("run.json") if is_run_folder(p.parent))


def load_run_folder(path: Path, algorithm: str | None = None) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """One run folder as long-table rows: the mean evaluation return at each `step` of eval.csv.

    Args:
      path: the run folder.
      algorithm: the name its rows carry (--name); None = `algorithm_label(spec.algo, spec.presets,
        spec.overrides)`, e.g. "DER (ours)", "DER (ours, dopamine2021)", or "DreamerV2 (ours)" for a folder
        without `spec.algo`.
    Returns:
      (rows, protocol, name): rows have COLUMNS (`done` = `DONE` exists); protocol is run.json's
      `protocol` with `eval_episodes_found` (episodes at the last step) and `algo`
      (`spec.algo`, "dreamerv2" when absent) added; name is the algorithm name of the rows.
    """
    try:
        info = read_json(path / "run.json")
        spec = info["spec"]
        game, seed = canonical_game(str(spec["game"])), spec["seed"]
        algo = spec.get("algo", DEFAULT_ALGO)
        presets = spec.get("presets") or []
        overrides = spec.get("overrides") or []
    except UsageError as error:
        raise UsageError(f"{path}: {error}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise UsageError(f"{path}/run.json is not a run description (needs spec.game and spec.seed)") from None
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UsageError(f"{path}/run.json: seed {seed!r} must be a non-negative integer")
    if not isinstance(algo, str) or not algo.strip():
        raise UsageError(f"{path}/run.json: spec.algo {algo!r} must be an algorithm name such as "
                         f"{', '.join(ALGORITHM_LABELS)}")
    if not isinstance(presets, list) or not all(isinstance(p, str) for p in presets):
        raise UsageError(f"{path}/run.json: spec.presets {presets!r} must be a list of preset names")
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise UsageError(f"{path}/run.json: spec.overrides {overrides!r} must be a list of KEY=VALUE strings")
    algorithm = algorithm or algorithm_label(algo, presets, overrides, info.get("config"))
    text = (path / "eval.csv").read_text(errors="replace")
    if text and not text.endswith("\n"):
        # A crash mid-append leaves a partial last line; the agent truncates it on resume.
        text = text[: text.rfind("\n") + 1]
    try:
        evals = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}/eval.csv is malformed ({str(error).splitlines()[0]})") from None
    if not {"step", "return"} <= set(evals.columns):
        raise UsageError(f"{path}/eval.csv needs the header step,episode,return,length; found {','.join(evals.columns)}")
    steps = pd.to_numeric(evals["step"], errors="coerce")
    returns = pd.to_numeric(evals["return"], errors="coerce")
    if steps.isna().any() or returns.isna().any() or (steps < 0).any():
        line = int(np.flatnonzero(steps.isna() | returns.isna() | (steps < 0))[0]) + 2
        raise UsageError(f"{path}/eval.csv line {line}: step and return must be numbers, step >= 0")
    means = returns.groupby(steps).agg(["mean", "size"])
    rows = pd.DataFrame({
        "algorithm": algorithm, "game": game, "seed": seed,
        "step": means.index.astype(float), "score": means["mean"].to_numpy(),
        "done": (path / "DONE").exists(),
    })
    protocol = dict(info.get("protocol") or {})
    if len(means):
        protocol["eval_episodes_found"] = int(means["size"].iloc[-1])
    protocol["algo"] = algo
    return rows[COLUMNS], protocol, algorithm


def _read_table_export(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """A `table --format csv` export: its per-run rows (kind `run`) as a long CSV, and its protocol rows."""
    from analysis.protocol import DECLARABLE, check_fields, import_value

    runs = frame[frame["kind"] == "run"]
    if runs.empty:
        raise UsageError(f"{path}: a table export without per-run rows (kind 'run'); write it again with "
                         f"`atari100k table ... --format csv`")
    long = pd.DataFrame({"algorithm": runs["algorithm"], "game": runs["name"], "seed": runs["seed"],
                         "step": runs["step"] if "step" in runs else np.nan, "score": runs["value"]})
    declared: dict[str, dict[str, Any]] = {}
    for row in frame[frame["kind"] == "protocol"].itertuples():
        key, value = str(row.name), "" if pd.isna(row.value) else str(row.value)
        if key in DECLARABLE and value != "":
            declared.setdefault(str(row.algorithm), {})[key] = import_value(key, value)
    return long.reset_index(drop=True), {a: check_fields(d, str(path)) for a, d in declared.items()}


def load_csv(path: Path, algorithm: str | None = None) -> pd.DataFrame:
    """A long CSV `algorithm,game,seed[,step],score` (raw scores) as long-table rows.

    `algorithm` (from --name) fills or overrides the algorithm column. No `step` column means
    final scores (step NaN). A table's own CSV export (`kind,name,algorithm,value,...`) is read
    through its per-run rows. Raises UsageError naming the file and line of the first bad value.
    """
    return read_csv_input(path, algorithm)[0]


def read_csv_input(path: Path, algorithm: str | None = None) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """`load_csv`, plus the protocol a table export declares per algorithm ({} for a plain long CSV)."""
    try:
        frame = pd.read_csv(path, skipinitialspace=True, dtype={"value": object})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not a readable CSV ({str(error).splitlines()[0]})") from None
    exported: dict[str, dict[str, Any]] = {}
    if {"kind", "name", "algorithm", "value"} <= set(frame.columns):
        frame, exported = _read_table_export(frame, path)
    needed = {"game", "seed", "score"} | (set() if algorithm else {"algorithm"})
    missing = needed - set(frame.columns)
    if missing:
        raise UsageError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                         f"expected algorithm,game,seed,step,score (step optional)")
    if frame.empty:
        raise UsageError(f"{path}: no rows")
    if algorithm:
        frame["algorithm"] = algorithm
    if "step" not in frame.columns:
        frame["step"] = np.nan

    def bad(mask: pd.Series, what: str) -> None:
        if mask.any():
            line = int(np.flatnonzero(mask.to_numpy())[0]) + 2
            raise UsageError(f"{path} line {line}: {what}")

    seeds = pd.to_numeric(frame["seed"], errors="coerce")
    bad(seeds.isna() | (seeds % 1 != 0), "seed must be an integer")
    bad(seeds < 0, "seed must be >= 0")
    scores = pd.to_numeric(frame["score"], errors="coerce")
    bad(scores.isna() | ~np.isfinite(scores.fillna(0)), "score must be a finite number")
    steps = pd.to_numeric(frame["step"], errors="coerce")
    bad(steps.isna() & frame["step"].notna(), "step must be a number (or empty for a final score)")
    bad(steps < 0, "step must be >= 0")
    bad(frame["algorithm"].isna() | (frame["algorithm"].astype(str).str.strip() == ""), "algorithm is empty")
    games = {}
    for name in frame["game"].astype(str).unique():
        try:
            games[name] = canonical_game(name)
        except UsageError as error:
            raise UsageError(f"{path}: {error}") from None
    out = pd.DataFrame({
        "algorithm": frame["algorithm"].astype(str).str.strip(),
        "game": frame["game"].astype(str).map(games),
        "seed": seeds.astype("int64"), "step": steps.astype(float), "score": scores.astype(float),
        "done": True,
    })
    duplicated = out.duplicated(["algorithm", "game", "seed", "step"])
    bad(duplicated, "duplicate (algorithm, game, seed, step) row")
    if algorithm and exported:
        merged: dict[str, Any] = {}
        for fields in exported.values():
            merged.update(fields)
        exported = {algorithm: merged}
    return out[COLUMNS], exported


def load_inputs(inputs: Sequence[str | Path], names: Sequence[str] | None = None,
                protocol: dict[str, Any] | None = None) -> ScoreData:
    """Load run folders, sweep folders and CSV files into one ScoreData.

    Args:
      inputs: paths; folders are searched recursively for run folders (any layout, e.g.
        `<sweep>/<algo>/<Game>/seed_<k>/` or `<sweep>/<Game>/seed_<k>/`), files are long CSVs.
      names: algorithm names: none (each run folder -> `algorithm_label` of its spec, e.g.
        "DER (ours)", so a folder of several algorithms gives one name per algorithm; CSVs ->
        their column), one (applies to every input) or one per input.
      protocol: protocol fields for every CSV input (`--protocol`, validated by
        `analysis.protocol.parse_protocol_items`); they override a CSV's sidecar
        `<file>.protocol.json` field by field. Run folders record theirs in run.json: refused.
    Returns:
      ScoreData with the long table (raw scores), per-algorithm protocols (run folders),
      declared protocols (CSVs) and notes.
    """
    from analysis.protocol import read_sidecar, sidecar_path

    names = list(names or [])
    if len(names) not in (0, 1, len(inputs)):
        raise UsageError(f"give --name once or once per input ({len(inputs)} inputs, {len(names)} names)")
    parts: list[pd.DataFrame] = []
    sources: list[str] = []  # per part: where its rows came from (for the duplicate message)
    protocols: dict[str, list[dict[str, Any]]] = {}
    declared: dict[str, list[dict[str, Any]]] = {}
    declared_sources: dict[str, list[str]] = {}
    notes: list[str] = []
    csv_inputs = [Path(raw) for raw in inputs if Path(raw).is_file()]
    if protocol and not csv_inputs:
        raise UsageError("--protocol applies to CSV inputs; run folders record their protocol in run.json")
    for index, raw in enumerate(inputs):
        path = Path(raw)
        name = names[index] if len(names) == len(inputs) and names else (names[0] if names else None)
        if path.is_dir():
            runs = find_run_folders(path)
            if not runs:
                raise UsageError(f"{path}: no run folders (folders with run.json and eval.csv) found")
            for run in runs:
                rows, protocol, label = load_run_folder(run, name)
                parts.append(rows)
                sources.append(f"{run} ({protocol['algo']})")
                protocols.setdefault(label, []).append(protocol)
        elif path.is_file():
            rows, exported = read_csv_input(path, name)
            parts.append(rows)
            sources.append(str(path))
            sidecar = read_sidecar(path)
            for algorithm in dict.fromkeys(rows["algorithm"]):
                # Later sources override earlier ones field by field: sidecar, table export, --protocol.
                layers = ((sidecar, str(sidecar_path(path))), (exported.get(algorithm), f"{path} (table export)"),
                          (protocol, "--protocol"))
                fields: dict[str, Any] = {}
                for found, where in layers:
                    if found:
                        fields.update(found)
                        known = declared_sources.setdefault(algorithm, [])
                        known.extend([where] if where not in known else [])
                if fields:
                    declared.setdefault(algorithm, []).append(fields)
        else:
            raise UsageError(f"{path}: no such file or folder")
    frame = pd.concat(parts, ignore_index=True) if parts else _empty()
    _refuse_duplicates(frame, sources, [len(part) for part in parts])
    for algorithm, found in protocols.items():
        algos = sorted({str(p["algo"]) for p in found})
        if len(algos) > 1:
            notes.append(f"{algorithm}: one --name over run folders of several algorithms ({', '.join(algos)}); "
                         f"without --name each has its own ({', '.join(map(algorithm_label, algos))})")
    merged = {algorithm: _merge_protocols(algorithm, found, notes) for algorithm, found in protocols.items()}
    for algorithm in declared:
        if algorithm in merged:
            notes.append(f"{algorithm}: rows from run folders and from CSVs under one name; the table uses the run "
                         f"folders' protocol (run.json)")
    said = {algorithm: _merge_protocols(algorithm, found, notes) for algorithm, found in declared.items()
            if algorithm not in merged}
    return ScoreData(frame, merged, notes, said,
                     {a: ", ".join(declared_sources[a]) for a in said})


def _refuse_duplicates(frame: pd.DataFrame, sources: list[str], lengths: list[int]) -> None:
    """UsageError naming where, when one (algorithm, game, seed, step) appears twice.

    Args:
      frame: the concatenated long table.
      sources: per concatenated part, where it came from (a CSV, or a run folder and its algo).
      lengths: rows per part (frame = the parts in order).
    """
    key = frame[["algorithm", "game", "seed"]].assign(step=frame["step"].fillna(-1.0))
    duplicated = key.duplicated(keep=False)
    if not duplicated.any():
        return
    first = key[duplicated].iloc[0]
    row_sources = np.repeat(np.array(sources, dtype=object), lengths)
    where = sorted(set(row_sources[(key == first).all(axis=1).to_numpy()]))
    where_text = " and ".join(where[:2]) if len(where) > 1 else f"{where[0]}, twice"
    raise UsageError(f"{first.algorithm} {first.game} seed {first.seed} appears twice ({where_text}); "
                     f"give the inputs different --name values, or leave one out")


def _merge_protocols(algorithm: str, found: list[dict[str, Any]], notes: list[str]) -> dict[str, Any]:
    """One protocol per algorithm; differing fields are reported, not hidden."""
    keys = sorted({k for p in found for k in p})
    merged: dict[str, Any] = {}
    for key in keys:
        values = sorted({str(p.get(key)) for p in found})
        if len(values) == 1:
            merged[key] = found[0].get(key)
        else:
            merged[key] = " | ".join(values)
            if key not in ("eval_episodes_found", "algo"):  # algo: said by load_inputs
                notes.append(f"{algorithm}: runs differ in protocol field {key}: {', '.join(values)}")
    return merged


def final_scores(frame: pd.DataFrame, step: int | None = None, allow_partial: bool = False,
                 notes: list[str] | None = None) -> pd.DataFrame:
    """One score per (algorithm, game, seed): the latest step, or exactly `step`.

    Unfinished runs (`done` False) are left out unless `allow_partial`, where their latest
    evaluation is used; both cases are added to `notes`.
    Returns:
      DataFrame `algorithm, game, seed, step, score`.
    """
    notes = notes if notes is not None else []
    rows = frame
    unfinished = rows.loc[~rows["done"].astype(bool), ["algorithm", "game", "seed"]].drop_duplicates()
    if len(unfinished):
        listed = ", ".join(f"{r.game}/seed_{r.seed}" for r in unfinished.head(8).itertuples())
        more = "" if len(unfinished) <= 8 else f" and {len(unfinished) - 8} more"
        if allow_partial:
            notes.append(f"{counted(len(unfinished), 'unfinished run')} scored at their latest evaluation: {listed}{more}")
        else:
            notes.append(f"{counted(len(unfinished), 'unfinished run')} (no DONE) left out: {listed}{more}")
            rows = rows[rows["done"].astype(bool)]
    if step is not None:
        has_steps = rows["step"].notna()
        picked = rows[~has_steps | (rows["step"] == step)]
        user_algos = set(rows.loc[has_steps, "algorithm"])
        lacking = user_algos - set(picked.loc[picked["step"] == step, "algorithm"])
        if lacking:
            raise UsageError(f"no evaluation at step {step} for {', '.join(sorted(lacking))}; "
                             f"pick a step that appears in eval.csv")
        rows = picked
    # NaN steps (final scores from a CSV) sort last, so they win over any stepped row.
    rows = rows.assign(_order=rows["step"].fillna(math.inf)).sort_values("_order", kind="stable")
    last = rows.groupby(["algorithm", "game", "seed"], sort=False).tail(1)
    return last[["algorithm", "game", "seed", "step", "score"]].sort_values(
        ["algorithm", "game", "seed"], kind="stable").reset_index(drop=True)
