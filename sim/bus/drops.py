"""Records the bus drops: the ``on_drop(records, outcome, reason)`` callback every bus object has.

``outcome`` is ``"shed"``, ``"lost"`` or ``"dead_lettered"``; the wiring (``sim.record.drops``) sets
each topic's and consumer's ``on_drop`` so that every dropped record is counted with its reason.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["OnDrop", "report_drop"]

OnDrop = Callable[[list[int], str, str], None]
"""``on_drop(records, outcome, reason)``: records the bus dropped (see the module docstring)."""


def report_drop(
    on_drop: OnDrop | None, where: str, records: list[int], outcome: str, reason: str
) -> None:
    """Give ``records`` dropped by the bus object ``where`` (e.g. ``"topic labels"``) to its
    ``on_drop``.

    Raises
    ------
    RuntimeError
        No ``on_drop`` is wired: a record would go uncounted.
    """
    if on_drop is None:
        raise RuntimeError(f"{where}: {len(records)} records {outcome} ({reason}) but no "
                           "on_drop is wired")
    on_drop(records, outcome, reason)
