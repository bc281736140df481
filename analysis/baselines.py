"""Published baselines shipped as package data (`analysis/data/`, see SOURCES.md there).

Two kinds:
- *final*: Atari 100k agents, one final raw score per run and game (DER, OTRainbow, SPR...).
- *curve*: learning curves in 1M-frame points, one family per data file (`CurveSet`):
  Dopamine's legacy DQN/C51/Rainbow/IQN (1M-frame iterations, sticky actions 0.25, training
  returns) and DreamerV2's own published Atari curves (Hafner et al.; 1M-frame bins, sticky
  actions 0.25, full action set). There is no published IQN (nor Dopamine Rainbow, nor
  DreamerV2) at 100k steps: in a table they are taken at the first point that covers the
  table's frame budget, and the row label says which frames that is. Each family's protocol:
  `analysis.protocol.CURVE_PROTOCOLS`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pandas as pd

from atari100k.errors import UsageError

ATARI100K_STEPS = 100_000
FRAMES_PER_STEP = 4
EVAL_CURVE_STEPS = 10_000
"""Training steps per iteration of the shipped per-run evaluation curves (Dopamine's `Runner.training_steps`
in labs/atari_100k/configs/DER.gin; 10 iterations make the 100k budget)."""
DOPAMINE_ITERATION_FRAMES = 1_000_000
IQN_NOTE = ("there is no published IQN at 100k steps (400k frames); Dopamine IQN appears only on the frame axis "
            "or at a stated frame budget, never as a 100k-step score")

BBF_NOTE = ("the released per-run scores (RR8_BBF.csv, 52-60 runs per game) give median HNS 0.879 and mean 2.236 "
            "over the 26 games with the first 52 runs of every game (0.880 / 2.238 with all runs), not the BBF "
            "paper's 0.917 / 2.245. The paper's per-game table (a third-party copy, not shipped) gives 0.917 / "
            "2.247 under the same human/random table, so the normalisation is not the cause; its per-game means "
            "differ from the released runs' within sampling error (at most 2.1 standard errors), and the median "
            "moves because BankHeist, whose runs are bimodal (46 of its 52 below 350 or above 800), is one of the "
            "two middle games (paper 732.9, released runs 671.9 +- 53.2). No first-N subset of the released runs "
            "gives the paper's numbers. See analysis/data/SOURCES.md")
STORM_NOTE = ("STORM's released runs (results/storm.json, 5 per game) give mean HNS 1.222 and median 0.425, not the "
              "STORM paper's mean 1.267: all five Freeway runs are 0.0 (a Freeway mean of about 34.5 would give 1.267). "
              "Its released code trains and evaluates on ALE v5 with that version's default sticky actions (0.25), and "
              "scores the mean of 20 evaluation episodes. See analysis/data/SOURCES.md")
DER_NOTE = ("the published DER runs were made in summer 2021, most likely with the public Dopamine code of that "
            "time (the repository does not name their commit), whose DER synced its target network every 8,000 "
            "steps (not 2,000) and acted with training epsilon 0.01 on top of noisy nets; `atari100k train --algo "
            "der` uses 2,000 (the DER paper's, Dopamine since Nov 2021) and 0.01 (Dopamine since Nov 2022: 0, the "
            "`epsilon0` preset), and `--preset atari100k,dopamine2021` trains the 2021 target period too "
            "(docs/dopamine_settings.md, section D)")
DELTA_IRIS_NOTE = ("Delta-IRIS's released runs (results/atari.json) are listed best-first within each game and rounded to "
                   "integers; its README says this Atari configuration scores slightly above the paper's aggregates. "
                   "See analysis/data/SOURCES.md")
_RLIABLE = "Agarwal et al. 2021 re-runs; gs://rl-benchmark-data/atari_100k via RLE-Foundation/rllte@ddd76d5 hsuanwu/evaluation/atari_100k/"
_DOPAMINE = "google/dopamine@5873f54 baselines/atari/data/<game>.json (Castro et al. 2018)"
_DREAMERV2 = ("danijar/dreamerv2@07d906e scores/atari-dreamerv2.json, method dreamerv2 (Hafner et al. 2021); "
              "protocol: danijar/dreamerv2@650e92d, the code that added the file (analysis/data/SOURCES.md)")


@dataclass(frozen=True)
class CurveSet:
    """One family of shipped learning curves: its data file, how its rows are labelled, its protocol."""

    name: str
    """Key of its protocol in `analysis.protocol.CURVE_PROTOCOLS`; prefix of its figure artists' gid."""
    data_file: str
    """`algorithm, game, seed, iteration, score` under analysis/data/."""
    wording: str
    """Who ran it, in labels: "IQN (Dopamine, 0-1M frames)", legend "IQN (Dopamine)"."""
    point: str
    """Its word for one 1M-frame point ("iteration", "bin")."""
    text_name: str
    """Its agents in running text, "{keys}" = their keys ("Dopamine {keys}")."""
    point_frames: int = 1_000_000
    """Frames per point: point i covers frames i*point_frames to (i+1)*point_frames, drawn at its end."""

    def frames_of(self, point: int) -> tuple[int, int]:
        """(first, last) frame of point `point`."""
        return point * self.point_frames, (point + 1) * self.point_frames


DOPAMINE_CURVES = CurveSet("dopamine", "dopamine_curves.csv.gz", "Dopamine", "iteration", "Dopamine {keys}")
"""Dopamine's legacy curves: iteration i = frames [i*1M, (i+1)*1M), 5 seeds."""
DREAMERV2_CURVES = CurveSet("dreamerv2", "dreamerv2_curves.csv.gz", "Hafner et al.", "bin",
                            "{keys} of Hafner et al. 2021")
"""DreamerV2's released Atari curves: bin i = episodes logged at frames (i*1M, (i+1)*1M], seeds 3-10."""


@dataclass(frozen=True)
class Baseline:
    """One shipped baseline: what it is, where it comes from, under which protocol."""

    key: str
    """Name on the command line (`--baselines DER,IQN`)."""
    label: str
    """Name in tables and figures."""
    kind: str
    """'final' (per-run final scores) or 'curve' (learning curves, `curves`)."""
    paper: str
    source: str
    protocol: dict[str, Any] = field(default_factory=dict)
    """budget_steps, budget_frames, sticky_action_prob, score (what the number is)."""
    data_name: str = ""
    """Its `algorithm` value in the shipped data (atari100k_scores.csv.gz or its curve file);
    empty = `label` (finals) or `key` (curves)."""
    caveat: str = ""
    """What a table says under itself whenever this baseline is a column (empty = nothing)."""
    curves: CurveSet | None = None
    """A curve baseline's family (data file, label wording, protocol); None for final scores."""
    eval_curves: str = ""
    """A final baseline's per-run evaluation curves under analysis/data/ (`algorithm, game, run, iteration,
    score`; iteration i follows about (i+1) * EVAL_CURVE_STEPS training steps, the last is the final
    score); empty = none shipped."""

    @property
    def shipped_name(self) -> str:
        """The name its rows carry in the shipped data files."""
        return self.data_name or (self.label if self.kind == "final" else self.key)


def _final(key: str, paper: str, source: str, score: str, label: str | None = None,
           sticky: float | None = 0.0, data_name: str = "", frame_range: str | None = None,
           caveat: str = "", eval_curves: str = "") -> Baseline:
    protocol = {
        "budget_steps": ATARI100K_STEPS,
        "budget_frames": ATARI100K_STEPS * FRAMES_PER_STEP,
        "sticky_action_prob": sticky,
        "score": score,
    }
    if frame_range:
        protocol["frame_range"] = frame_range
    return Baseline(key, label or key, "final", paper, source, protocol, data_name, caveat, eval_curves=eval_curves)


def _curve(key: str, paper: str, curves: CurveSet = DOPAMINE_CURVES, source: str = _DOPAMINE,
           score: str = "training-episode returns averaged over each 1M-frame iteration (Dopamine)") -> Baseline:
    protocol = {
        "budget_steps": 50_000_000,
        "budget_frames": 200_000_000,
        "sticky_action_prob": 0.25,
        "score": score,
    }
    return Baseline(key, key, "curve", paper, source, protocol, curves=curves)


CATALOG: tuple[Baseline, ...] = (
    # Labelled with its provenance so that it never reads as (or merges with) our own DER
    # runs, "DER (ours)" (analysis.scores.ALGORITHM_LABELS); `--baselines DER` still selects it.
    _final("DER", "van Hasselt et al. 2019 (data-efficient Rainbow)", f"{_RLIABLE}DER/<Game>.json",
           "final of 10 evaluations, 100 episodes (Dopamine re-run)",
           label="DER (Dopamine, Agarwal et al.)", data_name="DER", caveat=DER_NOTE,
           eval_curves="der_eval_curves.csv.gz"),
    _final("OTRainbow", "Kielak 2020 (overtrained Rainbow)", f"{_RLIABLE}OTRainbow.json",
           "100 evaluation episodes after training (Dopamine re-run)"),
    _final("SPR", "Schwarzer et al. 2021", f"{_RLIABLE}SPR.json",
           "final evaluation (the first 10 runs are the SPR paper's seeds)"),
    _final("DrQ(eps)", "Kostrikov et al. 2021; Agarwal et al. 2021 (eps 0.01/0.001)", f"{_RLIABLE}DrQ(eps).json",
           "100 evaluation episodes after training (Dopamine re-run)"),
    _final("DrQ", "Kostrikov et al. 2021", f"{_RLIABLE}DrQ.json",
           "100 evaluation episodes after training (Dopamine re-run)"),
    _final("CURL", "Laskin et al. 2020", f"{_RLIABLE}CURL_10_evals.json",
           "final of 10 evaluations; raw = HNS*(human-random)+random"),
    _final("SimPLe", "Kaiser et al. 2020", f"{_RLIABLE}SimPLe.json", "paper's evaluation"),
    _final("IRIS", "Micheli et al. 2023", "eloialonso/iris@24326aa results/data/IRIS.json", "paper's evaluation"),
    _final("DIAMOND", "Alonso et al. 2024", "eloialonso/diamond@a1311e9 results/data/DIAMOND.json",
           "paper's evaluation"),
    _final("BBF", "Schwarzer et al. 2023 (replay ratio 8)",
           "google-research/google-research@5e78683 bigger_better_faster/scores/RR8_BBF.csv[GameScoreAverage]",
           "paper's evaluation (GameScoreAverage); 52-60 runs per game", caveat=BBF_NOTE),
    _final("STORM", "Zhang et al. 2023", "weipu-zhang/STORM@1c50658 results/storm.json",
           "mean of 20 evaluation episodes with the 100k-step checkpoint (released eval.py); ALE v5 sticky actions",
           sticky=0.25, caveat=STORM_NOTE),
    _final("TWM", "Robine et al. 2023", "jrobine/twm@e6a8e59 results/scores.json",
           "final evaluation, 100 episodes (released trainer)"),
    _final("Delta-IRIS", "Micheli et al. 2024", "vmicheli/delta-iris@f8d4173 results/atari.json",
           "per-seed scores as released (best first within a game, integers); evaluation not stated",
           caveat=DELTA_IRIS_NOTE),
    _final("Simulus", "Cohen et al. 2025", "leor-c/Simulus@c1e75e9 results/data/atari/Simulus.json",
           "final evaluation, 100 episodes (released config)"),
    _final("DreamerV3", "Hafner et al. 2023", "danijar/dreamerv3@423291a scores/data/atari100k_dreamerv3.json.gz",
           "DERIVED: mean training-episode return over 300k<frames<=400k (2023 curves)",
           label="DreamerV3 (derived)", sticky=None,
           frame_range="training episodes over 300,000-400,000 frames"),
    _final("DreamerV3-2024", "Hafner et al. 2023 (agent version of 2024)",
           "danijar/dreamerv3@2411f7d scores/atari100k-dreamerv3.json.gz",
           "DERIVED: mean of training episodes ending at 300k<frames<=400k (2024 curves)",
           label="DreamerV3-2024 (derived)", sticky=None,
           frame_range="training episodes ending at 300,000-400,000 frames"),
    _curve("DQN", "Mnih et al. 2015; Dopamine"),
    _curve("C51", "Bellemare et al. 2017; Dopamine"),
    _curve("Rainbow", "Hessel et al. 2018; Dopamine (C51 + n-step + prioritized replay)"),
    _curve("IQN", "Dabney et al. 2018; Dopamine"),
    _curve("DreamerV2", "Hafner et al. 2021 (its own Atari curves, 200M frames)", DREAMERV2_CURVES, _DREAMERV2,
           "mean return of the episodes logged in each 1M-frame bin (DreamerV2's plot script); training or "
           "evaluation episodes: not recorded; full action set"),
)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_NAME = {_norm(b.key): b for b in CATALOG} | {_norm(b.label): b for b in CATALOG}


def find_baseline(name: str) -> Baseline | None:
    """The catalog entry that `name` reads as (key or label, case and punctuation ignored), or None."""
    return _BY_NAME.get(_norm(name))


def get_baseline(name: str) -> Baseline:
    """The catalog entry for `name` (key or label, case and punctuation ignored)."""
    baseline = find_baseline(name)
    if baseline is None:
        from atari100k.suggest import did_you_mean

        hint = did_you_mean(name, [b.key for b in CATALOG])
        raise UsageError(f"unknown baseline {name!r}{hint}; choose from: {', '.join(b.key for b in CATALOG)} "
                         f"(see `atari100k baselines`)")
    return baseline


def parse_baselines(spec: str | None) -> list[Baseline]:
    """`"DER,OTRainbow,IQN"` -> catalog entries in that order; `all` = every final-score baseline."""
    if not spec:
        return []
    chosen: list[Baseline] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        entries = [b for b in CATALOG if b.kind == "final"] if item.lower() == "all" else [get_baseline(item)]
        chosen.extend(b for b in entries if b not in chosen)
    return chosen


def _data(name: str):
    return resources.files("analysis").joinpath("data", name)


@functools.lru_cache(maxsize=None)
def human_random_scores() -> pd.DataFrame:
    """Human and random raw scores of the 57 games.

    Returns:
      DataFrame indexed by canonical game name with float columns `random`, `human`
      (rliable's table, from the MuZero paper; originally Mnih et al. 2015 / Badia et al. 2020).
    """
    with _data("human_random.csv").open() as handle:
        return pd.read_csv(handle).set_index("game")


@functools.lru_cache(maxsize=None)
def _final_scores_file() -> pd.DataFrame:
    with _data("atari100k_scores.csv.gz").open("rb") as handle:
        return pd.read_csv(handle, compression="gzip", dtype={"run": str})


@functools.lru_cache(maxsize=None)
def curve_data(curves: CurveSet) -> pd.DataFrame:
    """One family's learning curves for the 26 Atari 100k games.

    Returns:
      DataFrame with columns `algorithm`, `game`, `seed`, `iteration` (the point, from 0), `score`,
      `frames` (= (i+1) * point_frames, the point's end, where it is drawn).
    """
    with _data(curves.data_file).open("rb") as handle:
        frame = pd.read_csv(handle, compression="gzip")
    frame["frames"] = (frame["iteration"] + 1) * curves.point_frames
    return frame


def baseline_curves(baseline: Baseline) -> pd.DataFrame:
    """The rows of one curve baseline in its family's data (`curve_data`)."""
    rows = curve_data(baseline.curves)
    return rows[rows["algorithm"] == baseline.shipped_name]


def final_baseline_scores(baseline: Baseline) -> pd.DataFrame:
    """Per-run final scores of a 'final' baseline as the long score table.

    Returns:
      DataFrame `algorithm, game, seed, step, score`: `seed` is the run's position within
      its game in the source file (published runs are not paired across games), `step` the
      budget (100k agent steps).
    """
    rows = _final_scores_file()
    rows = rows[rows["algorithm"] == baseline.shipped_name].copy()
    rows["algorithm"] = baseline.label
    rows["seed"] = rows.groupby("game").cumcount()
    rows["step"] = baseline.protocol["budget_steps"]
    return rows[["algorithm", "game", "seed", "step", "score"]].reset_index(drop=True)


@functools.lru_cache(maxsize=None)
def _eval_curves_file(name: str) -> pd.DataFrame:
    with _data(name).open("rb") as handle:
        return pd.read_csv(handle, compression="gzip")


def baseline_eval_curves(baseline: Baseline) -> pd.DataFrame | None:
    """A final baseline's per-run evaluation curves, or None when none are shipped.

    Returns:
      DataFrame `game, seed, step, score`: `seed` as in `final_baseline_scores` (the run's position
      in its game, from 0: the same run there and here), `step` = (iteration + 1) * EVAL_CURVE_STEPS
      agent steps, the nominal step of each evaluation (the legacy Dopamine runner of the DER runs
      ended a training phase only with an episode, so each phase ran a little over 10,000 steps).
    """
    if not baseline.eval_curves:
        return None
    rows = _eval_curves_file(baseline.eval_curves)
    rows = rows[rows["algorithm"] == baseline.shipped_name]
    return pd.DataFrame({"game": rows["game"], "seed": rows["run"] - 1,
                         "step": (rows["iteration"] + 1) * EVAL_CURVE_STEPS,
                         "score": rows["score"].astype(float)}).reset_index(drop=True)


def curve_point_for(baseline: Baseline, budget_frames: int) -> int:
    """The first point of a curve baseline whose frames cover `budget_frames` (0 for 400k frames)."""
    return max(0, -(-int(budget_frames) // baseline.curves.point_frames) - 1)


def curve_label_at(baseline: Baseline, iteration: int) -> str:
    """Row label of a curve baseline taken at one point, stating its frames: "IQN (Dopamine, 0-1M frames)",
    "DreamerV2 (Hafner et al., 0-1M frames)"."""
    lo, hi = baseline.curves.frames_of(iteration)
    return f"{baseline.key} ({baseline.curves.wording}, {lo / 1e6:g}-{hi / 1e6:g}M frames)"


def curve_scores_at(baseline: Baseline, iteration: int) -> pd.DataFrame:
    """One point of a curve baseline as final scores (long table, labelled with its frames); a run that
    stopped before that point has no row."""
    rows = baseline_curves(baseline)
    rows = rows[rows["iteration"] == iteration].copy()
    rows["algorithm"] = curve_label_at(baseline, iteration)
    rows["step"] = rows["frames"] // FRAMES_PER_STEP
    return rows[["algorithm", "game", "seed", "step", "score"]].reset_index(drop=True)


def catalog_rows() -> list[dict[str, Any]]:
    """What is shipped, one dict per baseline: key, label, kind, runs per game, games, budget, protocol, source.

    `evaluation`, `frames` and `protocol` (every field of `analysis.protocol.TABLE_FIELDS`, as text)
    are the baseline's protocol as a table column at 100k steps (a curve: its first point, 0-1M frames).
    """
    from analysis.protocol import TABLE_FIELDS, baseline_fields, field_text

    finals = _final_scores_file()
    rows = []
    for b in CATALOG:
        if b.kind == "final":
            counts = finals[finals["algorithm"] == b.shipped_name].groupby("game").size()
            budget = f"{b.protocol['budget_steps'] // 1000}k steps ({b.protocol['budget_frames'] // 1000}k frames)"
        else:
            sub = baseline_curves(b)
            counts = sub.groupby("game")["seed"].nunique()
            budget = f"{sub['iteration'].nunique()} x {b.curves.point_frames / 1e6:g}M-frame {b.curves.point}s"
        runs = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
        sticky = b.protocol["sticky_action_prob"]
        fields = baseline_fields(b, 0 if b.kind == "curve" else None)
        rows.append({
            "key": b.key, "label": b.label, "kind": b.kind, "runs_per_game": runs, "games": len(counts),
            "budget": budget,
            "sticky_actions": "unverified" if sticky is None else f"{sticky:g}",
            "score": b.protocol["score"] + (f"; {IQN_NOTE}" if b.key == "IQN" else "")
                     + ("; every run's evaluations during training shipped too (compare's learning-curve check, "
                        "plot's sample-efficiency curve)" if b.eval_curves else ""),
            "evaluation": field_text(fields["evaluation"]), "frames": field_text(fields["frame_range"]),
            "protocol": "; ".join(f"{title}: {field_text(fields[key])}" for key, title in TABLE_FIELDS),
            "paper": b.paper, "source": b.source,
        })
    return rows
