"""`atari100k demo`: the quick start's main job (filled in at integration)."""

from __future__ import annotations

import argparse


def register(verbs: argparse._SubParsersAction) -> None:
    """Add the `demo` verb."""
