"""Friendlier input: "did you mean" suggestions and budgets written as 100000, 1e5 or 100k."""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Iterable

_SUFFIXES = {"k": 1_000, "m": 1_000_000}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`"; did you mean 'Breakout'?"` for the closest of `choices` (case-insensitive), else ""."""
    options = list(choices)
    lowered = {choice.lower(): choice for choice in options}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


MAX_BUDGET = 2**31 - 1
"""The largest budget in agent steps: `agent.config.MAX_INT`, the bound of every integer setting
(1e100 is a typo, not a plan)."""


def parse_budget(text: str) -> int:
    """A positive whole number of agent steps: `100000`, `100_000`, `1e5`, `100k`, `0.1M`.

    Raises ValueError (argparse turns it into a one-line error) for anything else.
    """
    raw = str(text).strip().lower().replace("_", "").replace(",", "")
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[0-9]+)?)([km]?)", raw)
    if not match:
        raise ValueError(text)
    value = float(match.group(1)) * _SUFFIXES.get(match.group(2), 1)
    if not value.is_integer() or not 0 < value <= MAX_BUDGET:
        raise ValueError(text)
    return int(value)


def budget_arg(text: str) -> int:
    """argparse `type=` for budgets, with a message that shows the accepted forms."""
    try:
        return parse_budget(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a budget in agent steps from 1 to {MAX_BUDGET:,}; write e.g. 100000, 1e5 or 100k") from None
