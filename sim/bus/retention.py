"""Retention: records older than ``retention_s`` are deleted from a partition's log start.

Apache Kafka deletes a partition's oldest records once they are older than
``retention.ms`` (``log.retention.hours`` = 168 by default) whether or not a consumer group
has read them. A group whose fetch position falls below the new log start gets
``OffsetOutOfRange`` and resumes where ``auto.offset.reset`` says: ``latest`` (the default) at
the log end, skipping what is still there, ``earliest`` at the log start. Here deletion is per
record at the exact instant it expires (Kafka deletes whole segments on a check every
``log.retention.check.interval.ms``; a record-level clock is the limit of small segments).

What a group never read is lost for it: :class:`Retention` reports it to the group's
``on_drop(records, "lost", reason)`` (set by the wiring, ``sim.record.drops``), the reason starting
with ``"retention"`` (the skipped records of a ``latest`` reset name
``auto.offset.reset=latest``). The records stay in the topic's Python lists (offsets index
them); only the log start moves, and with it the group's position (and committed offset, which
cannot stay below a deleted record). It moves a group only through its public ``position`` and
``committed`` lists.

Append times are kept only when retention can act within the run (:func:`retention_s`), so a
default run (7 days of retention, a day at most) pays nothing. A topic with retention is never
fed by a schedule: ``sim.engine.choose_paths`` takes the event path and says why.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import simpy

from sim.bus.drops import report_drop
from sim.scenario.bus import default_retention_s

if TYPE_CHECKING:
    from sim.bus.topic import Topic

__all__ = ["Retention", "retention_s"]

Reset = Literal["latest", "earliest"]


def retention_s(scenario: Any, key: str) -> float | None:
    """The retention of topic ``topics.<key>`` if it can act within the run, else None.

    ``retention_s`` None is the bus's default (:func:`sim.scenario.bus.default_retention_s`,
    Kafka's 7 days); it acts when shorter than ``max_duration_s``.

    >>> from sim.scenario import Scenario
    >>> retention_s(Scenario(), "transactions") is None
    True
    >>> retention_s(Scenario.from_dict({"topics": {"labels": {"partitions": 1,
    ...     "retention_s": 60.0}}}), "labels")
    60.0
    """
    spec = getattr(scenario.topics, key)
    r = spec.retention_s if spec.retention_s is not None else default_retention_s(
        scenario.bus.kind)
    return r if r is not None and r < scenario.max_duration_s else None


class Retention:
    """Deletes ``topic``'s records ``retention_s`` after their append; resets lagging groups.

    Parameters
    ----------
    topic : Topic
        Attaches itself as ``topic.retention`` (the topic reports each append, and calls
        :meth:`enforce` on every read, ``Topic.sync``).
    retention_s : float
        Seconds a record is kept (> 0).
    auto_offset_reset : {"latest", "earliest"}
        Where a group whose position was deleted resumes (Kafka's ``auto.offset.reset``).

    Attributes
    ----------
    log_start : list of int
        Per partition, the first offset not deleted.
    deleted : int
        Records deleted so far (all partitions).

    Raises
    ------
    ValueError
        ``retention_s <= 0``, an unknown reset, or a topic fed by a schedule.
    """

    def __init__(
        self, topic: Topic, retention_s: float, auto_offset_reset: Reset = "latest"
    ) -> None:
        if not retention_s > 0:
            raise ValueError(f"topic {topic.name}: retention_s must be > 0, got {retention_s}")
        if auto_offset_reset not in ("latest", "earliest"):
            raise ValueError(f"auto_offset_reset must be 'latest' or 'earliest', got "
                             f"{auto_offset_reset!r}")
        if topic.scheduled is not None:
            raise ValueError(f"topic {topic.name}: retention needs each append's time; a "
                             "scheduled topic has none")
        self.topic = topic
        self.env: simpy.Environment = topic.env
        self.retention_s = float(retention_s)
        self.reset: Reset = auto_offset_reset
        n = topic.n_partitions
        self.log_start = [0] * n
        self.deleted = 0
        self._chunks: list[deque[tuple[int, float]]] = [deque() for _ in range(n)]
        self._timer = math.inf  # when the pending timer rings (inf: none)
        self._busy = False
        topic.retention = self

    def appended(self, partition: int) -> None:
        """Note the append just made to ``partition`` (its new end offset, at ``now``)."""
        now, chunks = self.env.now, self._chunks[partition]
        end = self.topic.ends[partition]
        if chunks and chunks[-1][1] == now:
            chunks[-1] = (end, now)
        else:
            chunks.append((end, now))
        self._arm(now + self.retention_s)

    def _arm(self, at_s: float) -> None:
        if at_s >= self._timer:
            return
        self._timer = at_s
        self.env.timeout(max(0.0, at_s - self.env.now)).callbacks.append(
            lambda _ev, at_s=at_s: self._ring(at_s))

    def _ring(self, at_s: float) -> None:
        if at_s != self._timer:  # superseded by an earlier timer that re-armed
            return
        self._timer = math.inf
        self.enforce(at_s)
        nxt = min((c[0][1] for c in self._chunks if c), default=math.inf)
        if nxt != math.inf:
            self._arm(nxt + self.retention_s)

    def enforce(self, now_s: float | None = None) -> None:
        """Delete what has expired by ``max(now, now_s)`` and reset every group whose position
        is below its partition's log start (after a deletion, or after a rewind)."""
        if self._busy:
            return
        self._busy = True
        try:
            now = self.env.now if now_s is None or now_s < self.env.now else now_s
            r, start = self.retention_s, self.log_start
            for p, chunks in enumerate(self._chunks):
                while chunks and chunks[0][1] + r <= now:
                    end = chunks.popleft()[0]
                    self.deleted += end - start[p]
                    start[p] = end
            for group in self.topic.groups:
                for p, pos in enumerate(group.position):
                    if pos < start[p]:
                        self._resume(group, p)
        finally:
            self._busy = False

    def _resume(self, group: Any, p: int) -> None:
        """``group``'s position on ``p`` was deleted: report what it never read, resume."""
        topic, start = self.topic, self.log_start[p]
        pos, log = group.position[p], topic.logs[p]
        # one reason per cause, the same on every partition (the spans give each one's)
        self._report(group, log[pos:start],
                     f"retention: deleted after retention_s={self.retention_s:g} s before "
                     "the group read them")
        new = start
        if self.reset == "latest":
            new = topic.ends[p]
            self._report(group, log[start:new],
                         "retention: skipped by auto.offset.reset=latest after the group's "
                         "position was deleted")
        group.position[p] = new
        if group.committed[p] < new:
            group.committed[p] = new
            topic.notify_space(p)

    def _report(self, group: Any, records: list[int], reason: str) -> None:
        if not records:
            return
        report_drop(getattr(group, "on_drop", None), f"group {group.name} of topic "
                    f"{self.topic.name}", list(records), "lost", reason)
