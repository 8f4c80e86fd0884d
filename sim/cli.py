"""The ``tinybots`` command line.

The console script lives here, in ``sim``, because ``tinybots`` (the brains) must never import
``sim`` (the world). ``tinybots.cli`` contributes the data and model sub-commands
(``generate``, ``baseline``); this module adds the simulation ones (``run``) and owns ``main``.

Exit codes: 0 success, 2 bad input (one-line message on stderr), 130 interrupted (Ctrl-C),
1 unexpected failure.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from tinybots import cli as tinybots_cli
from tinybots.errors import describe_validation_error


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (``prog: error: message``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the full ``tinybots`` argument parser (all sub-commands)."""
    parser = _Parser(
        prog="tinybots",
        description="Simulate an event-driven fraud-detection system "
                    "with the real model in the loop.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tinybots_cli.add_subcommands(sub)
    from sim import run_cli  # the simulation's sub-commands

    run_cli.add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tinybots`` console script; returns the process exit code."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # a terminal command draws files, not windows
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"\ntinybots {args.command}: interrupted", file=sys.stderr)
        return 130
    except ValueError as exc:  # InputError, pydantic.ValidationError and friends
        print(f"tinybots {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # missing input, unwritable or mistyped output path
        print(f"tinybots {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The error as one line; pydantic errors as ``field: message (got value)``."""
    return describe_validation_error(exc)  # type: ignore[arg-type]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
