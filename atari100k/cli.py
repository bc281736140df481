"""`atari100k VERB ...`: parse arguments, call one function per verb, map bad input to exit 2.

Each package registers its own verbs (`agent.commands`, `suite.commands`,
`analysis.commands`); handlers import their heavy dependencies lazily, so `atari100k table`
works on a laptop without torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn, Sequence

from atari100k.errors import UsageError

COMMAND_MODULES = ("agent.commands", "agent.bench", "suite.commands", "analysis.commands", "atari100k.demo")


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser: one sub-command per verb, registered by each package."""
    parser = OneLineParser(prog="atari100k", description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=OneLineParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except UsageError as error:
        print(f"atari100k {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"atari100k {args.verb}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
