"""Canonical Atari game names, the Atari 100k subset, and an alias map.

Canonical names are rliable's CamelCase (`MsPacman`, `BankHeist`, `UpNDown`). Any of
`ms_pacman`, `mspacman`, `MsPacmanNoFrameskip-v4`, `ALE/MsPacman-v5` resolves to `MsPacman`.
Shared by `agent/` (which ALE ROM to load) and `analysis/` (which human score to use).
"""

from __future__ import annotations

import re

from atari100k.errors import UsageError
from atari100k.suggest import did_you_mean

# The 57 games of the Atari-57 benchmark (human/random scores exist for all of them).
ALL_GAMES: tuple[str, ...] = (
    "Alien", "Amidar", "Assault", "Asterix", "Asteroids", "Atlantis", "BankHeist",
    "BattleZone", "BeamRider", "Berzerk", "Bowling", "Boxing", "Breakout", "Centipede",
    "ChopperCommand", "CrazyClimber", "Defender", "DemonAttack", "DoubleDunk", "Enduro",
    "FishingDerby", "Freeway", "Frostbite", "Gopher", "Gravitar", "Hero", "IceHockey",
    "Jamesbond", "Kangaroo", "Krull", "KungFuMaster", "MontezumaRevenge", "MsPacman",
    "NameThisGame", "Phoenix", "Pitfall", "Pong", "PrivateEye", "Qbert", "Riverraid",
    "RoadRunner", "Robotank", "Seaquest", "Skiing", "Solaris", "SpaceInvaders",
    "StarGunner", "Surround", "Tennis", "TimePilot", "Tutankham", "UpNDown", "Venture",
    "VideoPinball", "WizardOfWor", "YarsRevenge", "Zaxxon",
)

# The 26 games of Atari 100k (Kaiser et al. 2020), in the usual alphabetical order.
ATARI100K_GAMES: tuple[str, ...] = (
    "Alien", "Amidar", "Assault", "Asterix", "BankHeist", "BattleZone", "Boxing",
    "Breakout", "ChopperCommand", "CrazyClimber", "DemonAttack", "Freeway", "Frostbite",
    "Gopher", "Hero", "Jamesbond", "Kangaroo", "Krull", "KungFuMaster", "MsPacman", "Pong",
    "PrivateEye", "Qbert", "RoadRunner", "Seaquest", "UpNDown",
)

# Names used elsewhere that the normalisation below does not reach on its own.
_EXTRA_ALIASES = {
    "montezumasrevenge": "MontezumaRevenge",
    "jamesbond007": "Jamesbond",
    "privateeye": "PrivateEye",
}

_PREFIX = re.compile(r"^(ale/|ale_|atari/|atari_)", re.IGNORECASE)
_SUFFIX = re.compile(r"(noframeskip|deterministic)?(-v\d+)?$", re.IGNORECASE)


def _key(name: str) -> str:
    stripped = _SUFFIX.sub("", _PREFIX.sub("", name.strip()))
    return re.sub(r"[^a-z0-9]", "", stripped.lower())


_BY_KEY = {_key(game): game for game in ALL_GAMES} | _EXTRA_ALIASES


def canonical_game(name: str) -> str:
    """Return the canonical name of `name`, or raise UsageError naming the unknown game."""
    game = _BY_KEY.get(_key(name))
    if game is None:
        raise UsageError(
            f"unknown game {name!r}{did_you_mean(name, ALL_GAMES)} (canonical names such as 'MsPacman'; "
            f"`atari100k baselines --games` lists them)"
        )
    return game


def ale_rom_id(game: str) -> str:
    """ALE's ROM id of a canonical game name: `MsPacman` -> `ms_pacman`, `UpNDown` -> `up_n_down`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", canonical_game(game)).lower()


def resolve_games(spec: str | list[str]) -> list[str]:
    """Expand a game selection into canonical names, keeping order and dropping repeats.

    `spec` is `all` / `atari100k` (the 26), `atari57` (all 57), a comma-separated string,
    or a list of names. Unknown names raise UsageError.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    games: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item.lower() in ("all", "atari100k"):
            expanded = list(ATARI100K_GAMES)
        elif item.lower() == "atari57":
            expanded = list(ALL_GAMES)
        else:
            expanded = [canonical_game(item)]
        games.extend(g for g in expanded if g not in games)
    if not games:
        raise UsageError("no games selected; pass e.g. --games Pong,Breakout or --games all")
    return games
