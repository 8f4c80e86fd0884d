"""Advancing a SimPy environment with a tqdm progress bar over simulated time (on stderr).

The bar is updated by a ticker process inside the environment, so the environment is run
once with ``env.run(until=...)``. (Running it piecewise with ``any_of([until, timeout])``
would be wrong: when a condition triggers, simpy removes the check callbacks of the
conditions nested in it, so a nested ``until`` condition would never fire.)
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import simpy

__all__ = ["run_with_progress"]


def run_with_progress(
    env: simpy.Environment,
    until: simpy.Event,
    *,
    total_s: float,
    enabled: bool = True,
    steps: int = 100,
) -> None:
    """``env.run(until)``, updating a bar of simulated seconds in about ``steps`` increments.

    The bar's total is ``total_s`` (the last arrival); draining past it extends the bar.
    """
    if not enabled or total_s <= 0:
        env.run(until=until)
        return
    from tqdm.auto import tqdm

    fmt = "{l_bar}{bar}| {n:.0f}/{total:.0f} sim-s [{elapsed}<{remaining}]"
    with tqdm(
        total=round(total_s, 3),
        unit="sim-s",
        file=sys.stderr,
        desc="simulating",
        bar_format=fmt,
        mininterval=0.2,
    ) as bar:
        env.process(_ticker(env, bar, total_s / steps))
        env.run(until=until)
        _show(bar, env.now)


def _show(bar: Any, now: float) -> None:
    bar.total = max(bar.total, round(now, 3))
    bar.n = round(now, 3)
    bar.refresh()


def _ticker(env: simpy.Environment, bar: Any, step_s: float) -> Generator[simpy.Event, Any, Any]:
    while True:
        yield env.timeout(step_s)
        _show(bar, env.now)
