"""The protocol as data: which fields decide what a score means, and their value for every input.

One list of fields serves `compare` and `table`:

- PROTOCOL_FIELDS: budget, action repeat, sticky actions, no-op starts, max-pool, action set,
  episode cap, what a run's score is, evaluation episodes.
- SCORE_FIELDS: whether a lost life ends the scored episode, and which frames the score
  covers (after training, or training episodes over a frame range).
- TABLE_FIELDS = both: what `table` compares against its first column and `compare` between
  its two sides (a difference refuses a comparison unless allowed).
- ALGORITHM_CHOICE_FIELDS: each agent's own settings (observation size, a lost life as a
  terminal for the learner, evaluation policy): shown, never compared. Frame stacking and
  observation size belong to the agent (DER sees 84x84x4, DreamerV2 64x64), not the protocol.

Every input carries these fields as data (`None` = not recorded, never compared):
- run folders: run.json's `protocol` (`run_fields`);
- shipped baselines: `analysis.baselines` plus PUBLISHED_PROTOCOLS (final scores) or CURVE_PROTOCOLS
  (learning curves: Dopamine's, DreamerV2's own) (`baseline_fields`);
- user CSVs: a sidecar `<file>.protocol.json` (a JSON object of field -> value) and/or
  `--protocol KEY=VALUE` (`parse_protocol_items`, `read_sidecar`, `check_fields`).

Nothing here reads score files or prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from atari100k.errors import UsageError

NOOP_FAMILY_30 = "up to 30 no-op starts"
EVAL_AFTER_TRAINING = "mean return of separate evaluation episodes after training"
EVAL_TRAINING_RETURNS = "training-episode returns"
NO_EVAL_EPISODES = "none (training episodes)"

PROTOCOL_FIELDS: tuple[tuple[str, str], ...] = (
    ("budget_steps", "budget (agent steps trained before the scored evaluation)"),
    ("action_repeat", "action repeat"),
    ("sticky_action_prob", "sticky actions"),
    ("noop_starts", "no-op starts"),
    ("max_pool_frames", "max-pool over the last 2 frames"),
    ("action_set", "action set"),
    ("max_episode_frames", "episode cap (frames)"),
    ("evaluation", "a run's score"),
    ("eval_episodes", "evaluation episodes per score"),
)
"""The settings of the environment and the evaluation that decide what a score means."""

SCORE_FIELDS: tuple[tuple[str, str], ...] = (
    ("life_loss_ends_episode", "a lost life ends the scored episode"),
    ("frame_range", "frames the score covers"),
)
"""Two more fields of the score itself, compared by `table` (every input of the suite records them)."""

TABLE_FIELDS: tuple[tuple[str, str], ...] = PROTOCOL_FIELDS + SCORE_FIELDS
"""Every protocol field a table compares against its first column and prints under itself."""

# run.json protocol fields that are each learner's own choice (DreamerV2: 64x64, a lost life
# not a terminal, greedy "mode" actor; DER/IQN: Dopamine's 84x84, a lost life a terminal,
# eps-greedy 0.001). The env and the scored episode go on after a lost life either way, so
# they change what the agent sees and learns from, not how its score is measured.
ALGORITHM_CHOICE_FIELDS: tuple[tuple[str, str], ...] = (
    ("observation", "observation"),
    ("life_loss_terminal", "a lost life is a terminal for the agent"),
    ("eval_policy", "evaluation policy"),
)

FIELD_TITLES: dict[str, str] = dict(TABLE_FIELDS + ALGORITHM_CHOICE_FIELDS)

MARK = "†"
"""Marks, in a table's header, a column whose protocol differs from the first column's."""

_DOPAMINE_SETTINGS = ("docs/dopamine_settings.md sections A and D (Dopamine labs/atari_100k, DER.gin and its "
                      "runners; D: the 2021 code of the shipped runs)")
_DOPAMINE_NOOPS = ("the shipped runs (summer 2021) predate Dopamine's DataEfficientAtariRunner (2023): its legacy "
                   "MaxEpisodeEvalRunner started every training and evaluation episode with no no-ops "
                   "(until 2021-07-20), then uniform 0-29 agent steps of 4 frames, then (from 2021-08-24) "
                   "uniform 0-29 single frames; the shipped data do not say which commit made them, and 'same' "
                   "assumes one of the later two")
_DOPAMINE_RUNNER_EPISODE = ("Dopamine's runners end an episode only at game over (or the 27,000-step cap); a "
                            "lost life is a terminal for the agent only (docs/dopamine_settings.md)")
# What is known of each published protocol beyond analysis.baselines' budget and sticky actions,
# with where it comes from. A field absent here is "not recorded" and is not compared (said).
PUBLISHED_PROTOCOLS: dict[str, dict[str, Any]] = {
    "DER": {"action_repeat": 4, "noop_starts": NOOP_FAMILY_30, "max_pool_frames": True, "action_set": "minimal",
            "max_episode_frames": 108_000, "evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100,
            "life_loss_ends_episode": False,
            "_noop_detail": _DOPAMINE_NOOPS,
            "_source": _DOPAMINE_SETTINGS + ": 100 eval episodes, 27,000-step (108,000-frame) cap, minimal "
                                            "actions, max-pool of the last 2 frames, no sticky actions",
            "eval_policy": "eps-greedy eps=0.001, noise off", "life_loss_terminal": True,
            "observation": "84x84 gray"},
    # Agarwal et al.'s Dopamine re-runs (labs/atari_100k, the same runner as DER): analysis.baselines
    # records "100 evaluation episodes after training".
    "OTRainbow": {"evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100, "life_loss_ends_episode": False},
    "DrQ(eps)": {"evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100, "life_loss_ends_episode": False},
    "DrQ": {"evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100, "life_loss_ends_episode": False},
}

# World-model agents whose per-run files were released with their code: what that code does (SOURCES.md).
NOOP_ONE_FRAME = "1 no-op frame at every reset"
_ONE_NOOP_RUNNER = ("make_atari(<Game>NoFrameskip-v4): no sticky actions, frame skip 4 with a max over the last 2 "
                    "frames, minimal actions, a 108,000-frame time limit; test env: noop_max 1 (one no-op frame), "
                    "done_on_life_loss False")
PUBLISHED_PROTOCOLS.update({
    "STORM": {"action_repeat": 4, "noop_starts": "none", "max_pool_frames": True, "action_set": "minimal",
              "max_episode_frames": 108_000, "evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 20,
              "life_loss_ends_episode": False, "eval_policy": "sampled from the policy (greedy=False)",
              "_source": "weipu-zhang/STORM@1c50658 eval.py, env_wrapper.py: gymnasium ALE/<Game>-v5 (its default "
                         "sticky actions 0.25 and 108,000-frame cap), frameskip 1 + MaxLast2FrameSkipWrapper(skip=4), "
                         "full_action_space=False, no no-op starts; 20 episodes with the last (100k-step) checkpoint"},
    "TWM": {"action_repeat": 4, "noop_starts": "none", "max_pool_frames": True, "action_set": "minimal",
            "max_episode_frames": 108_000, "evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100,
            "life_loss_ends_episode": False,
            "_source": "jrobine/twm@e6a8e59 twm/utils.py, twm/trainer.py, twm/config.py: AtariEnv "
                       "repeat_action_probability=0, AtariPreprocessing frame_skip 4 (max-pool), 27,000-step limit; "
                       "evaluation envs without no-op starts (training: up to 30); final evaluation of 100 episodes, "
                       "an episode scored until no lives are left"},
    "Delta-IRIS": {"action_repeat": 4, "noop_starts": NOOP_ONE_FRAME, "max_pool_frames": True, "action_set": "minimal",
                   "max_episode_frames": 108_000, "life_loss_ends_episode": False,
                   "_source": "vmicheli/delta-iris@f8d4173 config/env/atari.yaml, src/envs/wrappers.py: "
                              + _ONE_NOOP_RUNNER + "; how results/atari.json was scored is not stated"},
    "Simulus": {"action_repeat": 4, "noop_starts": NOOP_ONE_FRAME, "max_pool_frames": True, "action_set": "minimal",
                "max_episode_frames": 108_000, "evaluation": EVAL_AFTER_TRAINING, "eval_episodes": 100,
                "life_loss_ends_episode": False,
                "_source": "leor-c/Simulus@c1e75e9 config/env/atari.yaml, config/benchmark/atari.yaml, "
                           "src/envs/wrappers/atari.py: " + _ONE_NOOP_RUNNER + "; final evaluation of 100 episodes "
                           "(collection.test.config.num_episodes_end)"},
})

# ---------------------------------------------------------------- shipped learning curves

@dataclass(frozen=True)
class CurveProtocol:
    """What the points of one family of shipped learning curves are (`analysis.baselines.CurveSet`).

    A curve baseline in a table is one point of its curve (`point` i covers 1M frames); its
    protocol fields are `fields` (fixed over the curve; a field absent is not recorded) plus
    the budget (the point's last frame), `evaluation` and `frame_range` of that point.
    """

    fields: Mapping[str, Any]
    """TABLE_FIELDS / ALGORITHM_CHOICE_FIELDS values shared by every point (absent = not recorded)."""
    evaluation: Callable[[int], str | None]
    """Point i -> the `evaluation` field (what its score is; None = not recorded)."""
    frame_range: Callable[[int, int], str]
    """(first frame, last frame) of a point -> the `frame_range` field."""
    score: Callable[[int], str]
    """Point i -> what a table's protocol record says its score is."""
    how: Callable[[int], str]
    """Point i -> the note under a table on what the row is."""
    brief: str
    """What the curve is, in a few words (`compare` refuses it with these)."""
    caption: str
    """What every point of the curve is, for the sample-efficiency caption ("{runs}" = its seeds)."""
    marker_caption: str
    """The learning-curves caption on its marker (the point a table uses)."""
    source: str = ""
    """Where the fixed fields were read."""


# Dopamine's legacy 200M-frame baselines (analysis.baselines' curves): what their score is.
DOPAMINE_CURVE_FIELDS: dict[str, Any] = {
    "action_repeat": 4, "sticky_action_prob": 0.25, "max_episode_frames": 108_000,
    "eval_episodes": NO_EVAL_EPISODES, "life_loss_ends_episode": False,
}


def dopamine_curve_evaluation(iteration: int) -> str:
    """What a Dopamine legacy curve's score is at `iteration` (training returns; epsilon decays in iteration 0)."""
    if iteration == 0:
        return "training returns, ε-greedy decay over iteration 0"
    return f"training returns of iteration {iteration} (ε-greedy, after iteration 0's decay)"


def _dopamine_how(iteration: int) -> str:
    return (f"Dopamine iteration {iteration} ({iteration}-{iteration + 1}M frames, "
            f"{dopamine_curve_evaluation(iteration)}, sticky actions 0.25): not an evaluation at the "
            f"inputs' budget")


def _dopamine_score(iteration: int) -> str:
    return (f"training returns averaged over frames {iteration}M-{iteration + 1}M "
            f"(Dopamine iteration {iteration}; {dopamine_curve_evaluation(iteration)})")


# DreamerV2's own published Atari curves (danijar/dreamerv2 scores/atari-dreamerv2.json), under the
# Atari settings of the code that released them (650e92d "Add scores.", 2021-05-03; the same from the
# initial commit faf9e4c on): see analysis/data/SOURCES.md. Whether a point averages training or
# evaluation episodes is not recorded (both were logged; the README's plot command uses eval_return),
# so `evaluation` and `eval_episodes` stay None.
DREAMERV2_CURVE_FIELDS: dict[str, Any] = {
    "action_repeat": 4, "sticky_action_prob": 0.25, "noop_starts": NOOP_FAMILY_30, "max_pool_frames": True,
    "action_set": "full", "max_episode_frames": 108_000, "life_loss_ends_episode": False,
    "observation": "64x64 gray", "life_loss_terminal": False,
}
_DREAMERV2_SOURCE = ("danijar/dreamerv2@650e92d (the commit that added scores/atari-dreamerv2.json) "
                     "dreamerv2/train.py, dreamerv2/configs.yaml, common/envs.py: Atari(sticky_actions=True, "
                     "all_actions=True, life_done=False) = gym AtariEnv(repeat_action_probability=0.25, "
                     "full_action_space=True, frameskip=1) + AtariPreprocessing(noop_max=30, frame_skip=4 with a "
                     "max over the last 2 frames, terminal_on_life_loss=False, 64x64 gray), TimeLimit 108,000 frames "
                     "(27,000 agent steps); the released code at HEAD (since 6124db4, 2021-09) uses the minimal "
                     "action set instead")
_DREAMERV2_EPISODES = "training or evaluation episodes: not recorded"


def _dreamerv2_frames(low: int, high: int) -> str:
    return f"episodes logged at frames ({low:,}, {high:,}] ({_DREAMERV2_EPISODES})"


def _dreamerv2_score(point: int) -> str:
    low, high = point * 1_000_000, (point + 1) * 1_000_000
    return (f"mean return of the episodes logged at frames ({low:,}, {high:,}] (DreamerV2's published bin {point}; "
            f"{_DREAMERV2_EPISODES})")


def _dreamerv2_how(point: int) -> str:
    low, high = point * 1_000_000, (point + 1) * 1_000_000
    return (f"DreamerV2's published 1M-frame bin {point} (the mean return of the episodes logged at frames "
            f"({low:,}, {high:,}], as its plot script bins them; {_DREAMERV2_EPISODES}; sticky actions 0.25, full "
            f"action set): not a score at the inputs' budget; there is no released DreamerV2 score at 100k steps "
            f"(400k frames)")


CURVE_PROTOCOLS: dict[str, CurveProtocol] = {
    "dopamine": CurveProtocol(
        DOPAMINE_CURVE_FIELDS, dopamine_curve_evaluation,
        lambda low, high: training_frames(low, high),  # defined below
        _dopamine_score, _dopamine_how, brief="training returns, sticky actions 0.25",
        caption="{runs}, sticky actions 0.25, training returns averaged over each 1M-frame iteration",
        marker_caption="Dopamine agents at the frames where the iteration the table uses ends (training returns "
                       "averaged over that 1M-frame iteration, sticky actions 0.25)",
        source=_DOPAMINE_SETTINGS),
    "dreamerv2": CurveProtocol(
        DREAMERV2_CURVE_FIELDS, lambda point: None, _dreamerv2_frames, _dreamerv2_score, _dreamerv2_how,
        brief="a 200M-frame curve in 1M-frame bins, sticky actions 0.25, full action set",
        caption="{runs}, sticky actions 0.25, full action set, the mean return of the episodes logged in each "
                "1M-frame bin, " + _DREAMERV2_EPISODES,
        marker_caption="DreamerV2 of Hafner et al. 2021 at the frames where the bin the table uses ends (the mean "
                       "return of the episodes logged in that 1M-frame bin, " + _DREAMERV2_EPISODES + "; sticky "
                       "actions 0.25, full action set)",
        source=_DREAMERV2_SOURCE),
}
"""Each family of shipped learning curves (`analysis.baselines.CurveSet.name`) -> what its points are."""


def curve_protocol(baseline: Any) -> CurveProtocol:
    """The CurveProtocol of a curve baseline (`analysis.baselines.Baseline` of kind 'curve')."""
    return CURVE_PROTOCOLS[baseline.curves.name]


# ---------------------------------------------------------------- values

def noop_family(noop_max: Any) -> Any:
    """run.json's `noop_max` as a no-op protocol: 29 or 30 -> NOOP_FAMILY_30, 0 -> "none"; else as given."""
    if noop_max is None or isinstance(noop_max, bool) or not isinstance(noop_max, (int, float)):
        return noop_max  # unknown, or several values merged over runs ("0 | 30"): compared as is
    if noop_max == 0:
        return "none"
    return NOOP_FAMILY_30 if noop_max in (29, 30) else f"up to {noop_max:g} no-op frames"


def comparable(value: Any) -> Any:
    """A field value as compared: numbers as floats (100000 == 100000.0), text as text."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        return None if value is None else bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return str(value)


def field_text(value: Any) -> str:
    """A protocol value as shown: None = "not recorded", booleans yes/no, integers from 1,000 with commas."""
    if value is None:
        return "not recorded"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)) and abs(value) >= 1_000:
        return f"{value:,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1_000 else f"{value:g}"
    return str(value)


def after_frames(steps: Any, action_repeat: Any) -> str | None:
    """"after 400,000 frames" for a score measured after `steps` agent steps (None if unknown)."""
    if isinstance(action_repeat, bool) or not isinstance(action_repeat, (int, np.integer)):
        return None
    if isinstance(steps, (int, np.integer)) and not isinstance(steps, bool):
        return f"after {int(steps) * int(action_repeat):,} frames"
    if isinstance(steps, str) and steps:
        try:
            parts = [int(s) * int(action_repeat) for s in steps.split(" | ")]
        except ValueError:
            return None
        return "after " + " | ".join(f"{p:,}" for p in parts) + " frames"
    return None


def training_frames(low: int, high: int) -> str:
    """"training episodes over 0-1,000,000 frames"."""
    return f"training episodes over {low:,}-{high:,} frames"


def steps_value(steps: Sequence[int]) -> Any:
    """The scored step(s) as one budget value: an int, or "50000 | 100000" when runs differ; None if none."""
    steps = sorted({int(s) for s in steps})
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else " | ".join(map(str, steps))


# ---------------------------------------------------------------- each kind of input

def run_fields(raw: Mapping[str, Any], steps: Sequence[int]) -> dict[str, Any]:
    """Protocol fields of run folders from run.json's `protocol` (merged over runs).

    Args:
      raw: run.json's protocol (plus `eval_episodes_found`, the episodes eval.csv holds at the
        last step), as `analysis.scores.load_inputs` merges it per algorithm.
      steps: the steps the runs were scored at (a run's last evaluation, or --step).
    Returns:
      TABLE_FIELDS and ALGORITHM_CHOICE_FIELDS keys -> value. The suite's env never ends the
      scored episode at a lost life (the episode goes on to game over), so that field is False.
    """
    budget = steps_value(steps)
    if budget is None:
        budget = raw.get("budget_steps")
    fields = {
        "budget_steps": budget, "action_repeat": raw.get("action_repeat"),
        "sticky_action_prob": raw.get("sticky_action_prob"), "noop_starts": noop_family(raw.get("noop_max")),
        "max_pool_frames": raw.get("max_pool_frames"), "action_set": raw.get("action_set"),
        "max_episode_frames": raw.get("max_episode_frames"), "evaluation": EVAL_AFTER_TRAINING,
        "eval_episodes": raw.get("eval_episodes_found", raw.get("eval_episodes")),
        "life_loss_ends_episode": False,
        "frame_range": after_frames(budget, raw.get("action_repeat")),
    }
    fields.update({key: raw.get(key) for key, _ in ALGORITHM_CHOICE_FIELDS})
    return fields


def declared_fields(declared: Mapping[str, Any], steps: Sequence[int]) -> dict[str, Any]:
    """Protocol fields of a CSV input: what its sidecar / --protocol / table export declares.

    The budget defaults to the CSV's step column (when every row has one, as `compare` reads
    it); the frame range to "after N frames" when the score is a final evaluation and the
    budget and action repeat are known. Everything else not declared is None (not recorded).
    """
    fields: dict[str, Any] = {key: None for key in FIELD_TITLES}
    fields.update({k: v for k, v in declared.items() if k in FIELD_TITLES})
    if fields["budget_steps"] is None:
        fields["budget_steps"] = steps_value(steps)
    if fields["frame_range"] is None and fields["evaluation"] == EVAL_AFTER_TRAINING:
        fields["frame_range"] = after_frames(fields["budget_steps"], fields["action_repeat"])
    return fields


def baseline_fields(baseline: Any, iteration: int | None = None) -> dict[str, Any]:
    """Protocol fields of a shipped baseline (`analysis.baselines.Baseline`).

    Args:
      baseline: a final-score baseline, or a curve baseline (Dopamine, DreamerV2) taken at its point
        `iteration` (CURVE_PROTOCOLS).
    Returns:
      TABLE_FIELDS and ALGORITHM_CHOICE_FIELDS keys -> value (None = not recorded).
    """
    from analysis.baselines import FRAMES_PER_STEP

    p = baseline.protocol
    fields: dict[str, Any] = {key: None for key in FIELD_TITLES}
    if baseline.kind == "curve":
        iteration = 0 if iteration is None else iteration
        low, high = baseline.curves.frames_of(iteration)
        curve = curve_protocol(baseline)
        fields.update(curve.fields)
        fields.update({"budget_steps": high // FRAMES_PER_STEP, "evaluation": curve.evaluation(iteration),
                       "frame_range": curve.frame_range(low, high)})
        return fields
    known = PUBLISHED_PROTOCOLS.get(baseline.key, {})
    derived = str(p.get("score", "")).startswith("DERIVED")
    fields.update({k: v for k, v in known.items() if k in FIELD_TITLES})
    repeat = p["budget_frames"] // p["budget_steps"] if p.get("budget_steps") else None
    fields.update({"budget_steps": p.get("budget_steps"), "action_repeat": repeat,
                   "sticky_action_prob": p.get("sticky_action_prob")})
    if derived:
        fields["evaluation"], fields["eval_episodes"] = EVAL_TRAINING_RETURNS, NO_EVAL_EPISODES
    fields["frame_range"] = p.get("frame_range") or after_frames(p.get("budget_steps"), repeat)
    return fields


# ---------------------------------------------------------------- declared protocols (CSV inputs)

_INT_FIELDS = ("budget_steps", "action_repeat", "max_episode_frames", "eval_episodes")
_BOOL_FIELDS = ("max_pool_frames", "life_loss_ends_episode", "life_loss_terminal")
_EVALUATION_WORDS = {"final": EVAL_AFTER_TRAINING, "after_training": EVAL_AFTER_TRAINING,
                     "evaluation": EVAL_AFTER_TRAINING, "training": EVAL_TRAINING_RETURNS,
                     "training_returns": EVAL_TRAINING_RETURNS}
DECLARABLE = tuple(FIELD_TITLES) + ("noop_max",)
"""Keys a sidecar or --protocol may set (`noop_max`: an integer, read as `noop_starts`)."""


def _bool(value: Any, where: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise UsageError(f"{where}: {key} must be true or false, not {value!r}")


def _int(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool):
        raise UsageError(f"{where}: {key} must be an integer, not {value!r}")
    try:
        number = float(str(value).replace(",", "").replace("_", ""))
    except ValueError:
        raise UsageError(f"{where}: {key} must be an integer, not {value!r}") from None
    if not number.is_integer() or number < 0:
        raise UsageError(f"{where}: {key} must be a non-negative integer, not {value!r}")
    return int(number)


def check_fields(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate a declared protocol (sidecar or --protocol) into TABLE_FIELDS / ALGORITHM_CHOICE_FIELDS values.

    Keys: DECLARABLE. Integers: budget_steps, action_repeat, max_episode_frames, eval_episodes
    (eval_episodes may also be NO_EVAL_EPISODES text); sticky_action_prob: a number in [0, 1);
    booleans: max_pool_frames, life_loss_ends_episode, life_loss_terminal; action_set: minimal
    or full; evaluation: "final" (EVAL_AFTER_TRAINING), "training" (EVAL_TRAINING_RETURNS) or
    any text; noop_max: an integer, stored as noop_starts (`noop_family`). Raises UsageError
    naming `where` and the key.
    """
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in DECLARABLE:
            raise UsageError(f"{where}: unknown protocol field {key!r}; choose from {', '.join(DECLARABLE)}")
        if value is None:
            continue
        if isinstance(value, str) and " | " in value:
            out[key] = value  # values of several runs merged ("50000 | 100000"): kept, and compared, as text
            continue
        if key == "noop_max":
            out["noop_starts"] = noop_family(_int(value, where, key))
        elif key == "eval_episodes" and str(value).strip().startswith("none"):
            out[key] = NO_EVAL_EPISODES
        elif key in _INT_FIELDS:
            out[key] = _int(value, where, key)
            if key in ("action_repeat", "budget_steps") and out[key] == 0:
                raise UsageError(f"{where}: {key} must be >= 1")
        elif key in _BOOL_FIELDS:
            out[key] = _bool(value, where, key)
        elif key == "sticky_action_prob":
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            if isinstance(value, bool) or not 0.0 <= number < 1.0:
                raise UsageError(f"{where}: sticky_action_prob must be a number in [0, 1), not {value!r}")
            out[key] = number
        elif key == "action_set":
            if str(value).strip().lower() not in ("minimal", "full"):
                raise UsageError(f"{where}: action_set must be minimal or full, not {value!r}")
            out[key] = str(value).strip().lower()
        elif key == "evaluation":
            text = str(value).strip()
            out[key] = _EVALUATION_WORDS.get(text.lower(), text)
        elif key == "noop_starts" and str(value).strip().lstrip("-").isdigit():
            out[key] = noop_family(int(str(value).strip()))
        else:
            text = str(value).strip()
            if not text:
                raise UsageError(f"{where}: {key} is empty")
            out[key] = text
    return out


def parse_protocol_items(items: Sequence[str] | None) -> dict[str, Any]:
    """`--protocol KEY=VALUE` flags (repeatable) as a validated dict (`check_fields`)."""
    raw: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--protocol {item!r}: give KEY=VALUE, e.g. --protocol sticky_action_prob=0.25")
        raw[key.strip()] = value.strip()
    return check_fields(raw, "--protocol")


def sidecar_path(csv_path: str | Path) -> Path:
    """`<file>.protocol.json`: where a CSV input's protocol is declared."""
    return Path(f"{csv_path}.protocol.json")


def read_sidecar(csv_path: str | Path) -> dict[str, Any] | None:
    """The validated protocol of `<csv_path>.protocol.json`, or None when there is no sidecar."""
    path = sidecar_path(csv_path)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: not readable JSON ({str(error).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: must be a JSON object of protocol field -> value")
    return check_fields(raw, str(path))


def export_value(value: Any) -> str:
    """A field value as written in a table's CSV export (read back by `import_value`)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def import_value(key: str, text: str) -> Any:
    """Inverse of `export_value` for field `key`."""
    if key in _BOOL_FIELDS:
        return text == "true"
    if key in ("sticky_action_prob",) or key in _INT_FIELDS:
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if key in _INT_FIELDS and number.is_integer() else number
    return text


# ---------------------------------------------------------------- differences

def differences(fields: Mapping[str, Mapping[str, Any]], reference: str,
                keys: Sequence[tuple[str, str]] = TABLE_FIELDS) -> dict[str, list[dict[str, Any]]]:
    """Each column's protocol differences from the `reference` column.

    Args:
      fields: algorithm -> its fields (`run_fields`, `baseline_fields`, `declared_fields`).
      reference: the column every other one is compared with (a table's first column).
    Returns:
      algorithm -> [{field, title, value, reference_value}] for every field recorded on both
      sides with different values (a field either side does not record is not compared).
    """
    ref = fields[reference]
    out: dict[str, list[dict[str, Any]]] = {}
    for algorithm, mine in fields.items():
        if algorithm == reference:
            continue
        found = []
        for key, title in keys:
            a, b = mine.get(key), ref.get(key)
            if a is not None and b is not None and comparable(a) != comparable(b):
                found.append({"field": key, "title": title, "value": a, "reference_value": b})
        if found:
            out[algorithm] = found
    return out


def unrecorded(fields: Mapping[str, Any], keys: Sequence[tuple[str, str]] = TABLE_FIELDS) -> list[str]:
    """Titles of the fields one input does not record."""
    return [title for key, title in keys if fields.get(key) is None]
