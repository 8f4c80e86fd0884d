"""The ``tinybots`` command line.

The console script lives here, in ``sim``, because ``tinybots`` (the brains) must never import
``sim`` (the world). ``tinybots.cli`` contributes the data and model sub-commands
(``generate``, ``baseline``); this module adds the simulation ones (``run``) and owns ``main``.

Exit codes: 0 success (also ``--help`` and ``--version``), 2 bad input (one-line message on
stderr), 130 interrupted by SIGINT (Ctrl-C), 143 terminated by SIGTERM, 1 unexpected failure.
An interruption prints one line on stderr (no traceback) and leaves no partial output: ``main``
turns SIGTERM into :class:`Terminated` (an exception, like Ctrl-C's ``KeyboardInterrupt``), so
the cleanup of temporary files and folders runs. The module imports only the standard library
at the top (the heavy packages load inside ``main``), so that a Ctrl-C in the first second
lands in ``main`` too.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM while :func:`main` runs (exit code 143)."""

    def __init__(self, *_args: object) -> None:  # SimPy re-raises as type(exc)(*exc.args)
        super().__init__(143)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (``prog: error: message``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def version() -> str:
    """The installed distribution's version (``importlib.metadata``), else the package's."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("tinybots")
    except PackageNotFoundError:  # running from a source tree that is not installed
        from tinybots import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the full ``tinybots`` argument parser (all sub-commands)."""
    from tinybots import cli as tinybots_cli

    parser = _Parser(
        prog="tinybots",
        description="Simulate an event-driven fraud-detection system "
                    "with the real model in the loop.",
    )
    parser.add_argument("--version", action="version", version=f"tinybots {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tinybots_cli.add_subcommands(sub)
    from sim.cli import run as run_cli  # the simulation's sub-commands

    run_cli.add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tinybots`` console script; returns the process exit code."""
    command = "tinybots"
    try:
        with _sigterm_raises():
            os.environ.setdefault("MPLBACKEND", "Agg")  # a terminal command draws files
            parser = build_parser()
            args = parser.parse_args(argv)
            command = f"tinybots {args.command}"
            try:
                return int(args.handler(args) or 0)
            except ValueError as exc:  # InputError, pydantic.ValidationError and friends
                print(f"{command}: error: {_one_line(exc)}", file=sys.stderr)
                return 2
            except OSError as exc:  # missing input, unwritable or mistyped output path
                print(f"{command}: error: {_one_line(exc)}", file=sys.stderr)
                return 2
    except KeyboardInterrupt:
        print(f"\n{command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"\n{command}: terminated", file=sys.stderr)
        return 143


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one_line(exc: BaseException) -> str:
    """The error as one line; pydantic errors as ``field: message (got value)``."""
    from tinybots.errors import describe_validation_error

    return describe_validation_error(exc)  # type: ignore[arg-type]
