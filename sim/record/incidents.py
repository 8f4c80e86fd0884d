"""The incident log: faults, pod starts and crashes, rebalances, lost records (``incidents``).

An :class:`IncidentLog` is the one callable every part of a run reports to
(``log(kind, target, detail, duration_s=nan)``); it stamps each row with the current simulated
time. ``duration_s`` is how long what the incident starts lasts when that is known at once (a
rebalance pause, a pod's restart delay); NaN otherwise. Rows become the ``incidents`` frame
(``time_s``, ``kind``, ``target``, ``detail``, ``duration_s``; see ``sim.record.results``).
"""

from __future__ import annotations

import math

from sim.record.timeweighted import Clock

__all__ = ["DROP_KINDS", "IncidentLog", "drop_count", "drop_detail"]


class IncidentLog:
    """Rows ``(time_s, kind, target, detail, duration_s)``, appended by calling the log.

    >>> class C:
    ...     now = 2.5
    >>> log = IncidentLog(C())
    >>> log("pod_crash", "feature_enricher-0", "restart in 10 s")
    >>> log.rows
    [(2.5, 'pod_crash', 'feature_enricher-0', 'restart in 10 s', nan)]
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.rows: list[tuple[float, str, str, str, float]] = []

    def __call__(self, kind: str, target: str, detail: str, duration_s: float = math.nan) -> None:
        self.rows.append((self._clock.now, kind, target, detail, float(duration_s)))


DROP_KINDS = {
    "shed": "records_shed", "lost": "records_lost", "dead_lettered": "records_dead_lettered"
}
"""Incident kind of each way the bus or a pod drops records (``on_drop`` outcomes)."""


def drop_detail(n: int, what: str, topic: str, reason: str) -> str:
    """The ``detail`` of a drop incident: ``"<n> <what> of topic <topic>: <reason>"``.

    >>> drop_detail(3, "records", "features-ready", "retention")
    '3 records of topic features-ready: retention'
    >>> drop_count(drop_detail(3, "records", "features-ready", "retention"))
    3
    """
    return f"{n} {what} of topic {topic}: {reason}"


def drop_count(detail: str) -> int:
    """The record count of a drop incident's ``detail`` (:func:`drop_detail`; 0 if none)."""
    head = detail.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0
