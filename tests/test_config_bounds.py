"""Settings are bounded before anything runs: a typo (1e100, nan, a negative rate, a huge seed) is one
line naming the key, not an out-of-memory kill or a traceback from deep inside torch."""

from __future__ import annotations

import pytest

from agent.config import MAX_INT, resolve_config
from agent.spec import RunSpec
from atari100k.errors import UsageError
from atari100k.suggest import MAX_BUDGET, parse_budget
from suite.plan import MAX_SEEDS, parse_seeds


@pytest.mark.parametrize("algo, override, message", [
    ("dreamerv2", "train.batch_size=1e100", "out of range"),
    ("dreamerv2", "train.replay_capacity=1e12", "out of range"),
    ("dreamerv2", "model.lr=nan", "not a finite number"),
    ("dreamerv2", "model.lr=inf", "not a finite number"),
    ("dreamerv2", "model.lr=-1", "model.lr must be > 0"),
    ("dreamerv2", "behavior.actor_lr=0", "behavior.actor_lr must be > 0"),
    ("dreamerv2", "model.classes=0", "model.classes must be >= 2"),
    ("dreamerv2", "model.deter=0", "model.deter must be > 0"),
    ("dreamerv2", "behavior.discount=0", "behavior.discount must be in"),
    ("der", "der.lr=-1", "der.lr and der.adam_eps must be > 0"),
    ("der", "der.adam_eps=0", "der.lr and der.adam_eps must be > 0"),
    ("iqn", "iqn.embedding_dim=0", "iqn.embedding_dim must be >= 1"),
])
def test_out_of_range_settings_are_refused_naming_the_key(algo, override, message):
    with pytest.raises(UsageError, match=message):
        resolve_config(("debug",), [override], None, algo)


def test_the_bounds_leave_every_preset_valid():
    for algo, presets in [("dreamerv2", ("paper",)), ("dreamerv2", ("atari100k",)), ("der", ("atari100k",)),
                          ("der", ("atari100k", "dopamine2021")), ("iqn", ("atari100k",))]:
        resolve_config(presets, [], None, algo)
    resolve_config(("debug",), [f"train.steps={MAX_INT}"], None, "der")  # the bound itself is allowed


def test_seeds_and_budgets_are_bounded():
    assert RunSpec.make("Pong", MAX_INT, ["debug"]).seed == MAX_INT
    for seed in (MAX_INT + 1, 10**20, -1):
        with pytest.raises(UsageError, match="seeds are integers from 0 to"):
            RunSpec.make("Pong", seed, ["debug"])
    assert parse_budget(str(MAX_BUDGET)) == MAX_BUDGET
    with pytest.raises(ValueError):
        parse_budget("1e100")
    assert len(parse_seeds(str(MAX_SEEDS))) == MAX_SEEDS
    for text, message in [(str(MAX_SEEDS + 1), "at most"), ("0-99999999999", "at most"),
                          (f"0,{MAX_INT + 1}", "out of range"), ("99999999999999999999", "at most"),
                          ("7" * 5000, "at most"), ("0-" + "9" * 5000, "at most")]:
        with pytest.raises(UsageError, match=message):
            parse_seeds(text)


def test_a_section_written_without_a_field_gets_no_other_algorithm_hint():
    with pytest.raises(UsageError) as error:
        resolve_config(("debug",), ["model=1"], None, "dreamerv2")
    assert "belong to" not in str(error.value)
    with pytest.raises(UsageError, match="der.\\* keys belong to --algo der"):
        resolve_config(("debug",), ["der.lr=1"], None, "dreamerv2")
