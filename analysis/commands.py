"""CLI verbs of `analysis/` (registered by atari100k.cli). Heavy imports stay inside handlers."""

from __future__ import annotations

import argparse


def register(verbs: argparse._SubParsersAction) -> None:
    """Add this package's verbs to the `atari100k` parser."""
