"""Small text helpers shared by every package's output."""

from __future__ import annotations


def counted(n: int | str, noun: str) -> str:
    """`n` and the noun, plural unless `n` is 1: "1 run", "2 runs", "52-60 runs" (a range given as text)."""
    return f"{n} {noun}{'' if str(n) == '1' else 's'}"
