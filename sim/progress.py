"""Advancing a SimPy environment with a tqdm progress bar over simulated time (on stderr)."""

from __future__ import annotations

import sys

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

    step = total_s / steps
    with tqdm(
        total=round(total_s, 3),
        unit="sim-s",
        file=sys.stderr,
        desc="simulating",
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} sim-s [{elapsed}<{remaining}]",
    ) as bar:
        while not until.triggered:
            env.run(until=env.any_of([until, env.timeout(step)]))
            bar.total = max(bar.total, round(env.now, 3))
            bar.n = round(env.now, 3)
            bar.refresh()
        if until.triggered and not until.processed:
            env.run(until=until)
