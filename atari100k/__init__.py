"""Atari 100k reproduction suite: the `atari100k` CLI and the few pieces all packages share.

Nothing here imports torch: `analysis/` must work on a laptop without it.
"""

__version__ = "0.1.0"
