"""The committed run folders under results/ still mean what their labels say.

A run's table label comes from its spec (algorithm, presets, recipe overrides: analysis.scores),
and its recipe is the config it recorded. If a default changes (as DER's training epsilon did on
2026-11-27), the committed runs made under the old default must get a preset that names it, or
they would read as runs of the new default: resolving each spec with today's code must give back
the recorded config.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import config_to_dict, resolve_config

REPO = Path(__file__).resolve().parents[1]
RUN_JSONS = sorted(REPO.glob("results/reproduction*/*/*/seed_*/run.json"))


def test_there_are_committed_runs_to_check() -> None:
    assert len(RUN_JSONS) >= 3


@pytest.mark.parametrize("path", RUN_JSONS, ids=lambda p: str(p.parent.relative_to(REPO / "results")))
def test_a_committed_runs_spec_resolves_to_the_config_it_recorded(path: Path) -> None:
    info = json.loads(path.read_text())
    spec = info["spec"]
    today = config_to_dict(resolve_config(spec["presets"], spec["overrides"], spec["steps"], spec["algo"]))
    # Keys added to the config after the run was made are not in its record: only recorded keys count.
    changed = {f"{section}.{key}": (value, today.get(section, {}).get(key, "absent"))
               for section, fields in info["config"].items() for key, value in fields.items()
               if today.get(section, {}).get(key, "absent") != value}
    assert not changed, f"recorded vs today's resolution of its spec: {changed}"
