"""Simulation sub-commands of the ``tinybots`` console script (placeholder until they land)."""

from __future__ import annotations

import argparse


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    """Add the simulation sub-commands (none yet)."""
