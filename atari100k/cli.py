"""`atari100k VERB ...`: parse arguments, call one function per verb, map bad input to exit 2.

Each package registers its own verbs (`agent.commands`, `suite.commands`,
`analysis.commands`); handlers import their heavy dependencies lazily, so `atari100k table`
works on a laptop without torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import NoReturn, Sequence

from atari100k.errors import UsageError
from atari100k.suggest import did_you_mean

COMMAND_MODULES = ("agent.commands", "agent.bench", "suite.commands", "analysis.commands", "atari100k.demo")


DESCRIPTION = "Reproduce Atari 100k results: train DreamerV2, DER or IQN, sweep on Slurm, compare with the field."
EXAMPLES = """everyday commands:
  atari100k train Pong --seed 0 --algo der            train one run (re-run the same command to resume)
  atari100k sweep --games all --seeds 5 --algos dreamerv2,der --executor slurm --partition gpu
  atari100k status results/dreamerv2-der-atari100k    where every run of a sweep stands
  atari100k table results/dreamerv2-der-atari100k --baselines DER,SPR   scores next to published ones
  atari100k compare results/dreamerv2-der-atari100k --against DER       does our DER reproduce the published one?
  atari100k prune results/dreamerv2-der-atari100k     free the finished runs' checkpoints (~0.7 GB each)

`atari100k VERB --help` explains each verb; `atari100k demo` runs the quick start."""


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:  # an unknown verb: suggest the closest one
            choices = [c.strip(" '") for c in match.group(2).split(",")]
            message += did_you_mean(match.group(1), choices)
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser: one sub-command per verb, registered by each package."""
    parser = OneLineParser(prog="atari100k", description=DESCRIPTION, epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
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
    except BrokenPipeError:
        # `atari100k baselines --games | head`: the reader left; say nothing more (Python docs'
        # recipe: point stdout at devnull so the interpreter's final flush cannot fail either).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
