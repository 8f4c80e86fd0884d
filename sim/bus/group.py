"""Consumer groups: committed offsets, lag, assignment, rebalances and waiting for records.

A group commits one offset per (group, topic, partition), never per consumer; lag = log-end
offset - committed offset. Members poll up to ``max_poll_records`` from their partitions.
Delivery is at-least-once (commit after processing: a crash rewinds to the last commit and the
records are delivered again) or at-most-once (commit at poll time: a crash loses the records in
hand). A group uses at most as many consumers as partitions; assignment is round-robin over
members in join order; every membership change is a rebalance during which every member pauses
for ``rebalance_pause_s`` (Kafka's eager protocol).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import simpy

from sim.bus.topic import Topic

__all__ = ["ConsumerGroup", "Delivery", "Fetched", "Member"]


Delivery = Literal["at_least_once", "at_most_once"]


@dataclass(eq=False)
class Member:
    """One consumer of a group (one SimPy process of a pod).

    ``partitions`` is its current assignment; ``generation`` the group generation it has joined.
    """

    name: str
    partitions: list[int] = field(default_factory=list)
    generation: int = -1
    cursor: int = 0
    waiting: simpy.Event | None = None


class Fetched:
    """Records returned by one poll: the records and the (partition, start, end) offset ranges."""

    __slots__ = ("records", "ranges")

    def __init__(self, records: list[int], ranges: list[tuple[int, int, int]]) -> None:
        self.records = records
        self.ranges = ranges


class ConsumerGroup:
    """A consumer group subscribed to one topic.

    Parameters
    ----------
    env : simpy.Environment
    name : str
        Group id (e.g. ``feature-enricher``).
    topic : Topic
    delivery : {"at_least_once", "at_most_once"}
    rebalance_pause_s : float
        Pause of every member after a membership change (seconds, >= 0).
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        topic: Topic,
        *,
        delivery: Delivery = "at_least_once",
        rebalance_pause_s: float = 0.0,
    ) -> None:
        self.env = env
        self.name = name
        self.topic = topic
        self.delivery: Delivery = delivery
        self.rebalance_pause_s = float(rebalance_pause_s)
        n = topic.n_partitions
        self.committed = [0] * n
        self.position = [0] * n
        self.members: list[Member] = []
        self.generation = 0
        self.paused_until = 0.0
        self.rebalances = 0
        self.on_rebalance: Callable[[str, str, str], None] | None = None
        topic.groups.append(self)

    # -- membership -----------------------------------------------------------------------
    def join(self, member: Member) -> None:
        """Add ``member`` and rebalance."""
        self.members.append(member)
        self._rebalance()

    def leave(self, member: Member) -> None:
        """Remove ``member`` (crash or scale-down) and rebalance."""
        if member in self.members:
            self.members.remove(member)
            self._rebalance()

    def _rebalance(self) -> None:
        self.generation += 1
        self.rebalances += 1
        self.paused_until = self.env.now + self.rebalance_pause_s
        if self.on_rebalance is not None:
            self.on_rebalance(
                "rebalance",
                self.name,
                f"generation {self.generation}, "
                f"{len(self.members)} members, pause {self.rebalance_pause_s} s",
            )
        for m in self.members:
            m.partitions = []
        n_active = min(len(self.members), self.topic.n_partitions)
        for p in range(self.topic.n_partitions):
            if n_active:
                self.members[p % n_active].partitions.append(p)
        for m in self.members:  # wake idle members so they pick up their new assignment
            if m.waiting is not None and not m.waiting.triggered:
                m.waiting.succeed()
            m.waiting = None

    # -- offsets ---------------------------------------------------------------------------
    def lag(self, partition: int | None = None) -> int:
        """End offset − committed offset, of one partition or summed over all."""
        self.topic.sync()
        if partition is not None:
            return self.topic.end_offset(partition) - self.committed[partition]
        return sum(self.topic.ends) - sum(self.committed)

    def available(self, member: Member) -> int:
        """Records ready to fetch (end offset − fetch position) on ``member``'s partitions."""
        self.topic.sync()
        ends, pos, n = self.topic.ends, self.position, 0
        for p in member.partitions:
            n += ends[p] - pos[p]
        return n

    def fetch(self, member: Member, max_records: int) -> Fetched | None:
        """Poll up to ``max_records`` from ``member``'s partitions (round-robin start).

        Advances the group's fetch positions; at-most-once also commits them now.
        Returns None when every assigned partition is drained.
        """
        topic = self.topic
        topic.sync()
        parts = member.partitions
        k = len(parts)
        if not k:
            return None
        logs, ends, position = topic.logs, topic.ends, self.position
        records: list[int] = []
        ranges = []
        room = max_records
        cursor = member.cursor
        member.cursor = (cursor + 1) % k
        for j in range(k):
            p = parts[(cursor + j) % k]
            start, end = position[p], ends[p]
            if end > start:
                if end - start > room:
                    end = start + room
                records += logs[p][start:end]
                ranges.append((p, start, end))
                position[p] = end
                room -= end - start
                if not room:
                    break
        if not records:
            return None
        fetched = Fetched(records, ranges)
        if self.delivery == "at_most_once":
            self.commit(fetched)
        return fetched

    def commit(self, fetched: Fetched) -> None:
        """Commit the end offsets of ``fetched`` (never moves a committed offset backwards)."""
        for p, _, end in fetched.ranges:
            if end > self.committed[p]:
                self.committed[p] = end
                self.topic.notify_space(p)

    def rewind(self, fetched: Fetched) -> None:
        """After a crash under at-least-once: refetch from the last committed offsets."""
        for p, _, _ in fetched.ranges:
            self.position[p] = min(self.position[p], self.committed[p])

    def wait_for_records(self, member: Member, min_records: int = 1) -> simpy.Event:
        """One event, triggered by the next append to any of ``member``'s partitions after which
        at least ``min_records`` are available to it (a rebalance also triggers it). On a topic
        fed by a schedule, a timer set for that moment (:meth:`Topic.alarm`) triggers it."""
        ev = self.env.event()
        member.waiting = ev
        if self.topic.scheduled is not None:  # only the schedule appends: one timer, no waiters
            if member.partitions:
                need = max(1, min_records - self.available(member))
                self.topic.alarm(member.partitions, need, ev)
            return ev
        ready = None if min_records <= 1 else (lambda: self.available(member) >= min_records)
        for p in member.partitions:
            self.topic.wait(p, ev, ready)
        return ev
