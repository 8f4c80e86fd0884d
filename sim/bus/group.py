"""Consumer groups: committed offsets, lag, assignment, rebalances and delivery attempts.

A group commits one offset per (group, topic, partition), never per consumer; lag = log-end
offset - committed offset (Kafka's ``kafka_consumergroup_lag``). Members poll up to
``max_poll_records`` from their partitions (Kafka's ``max.poll.records``). Delivery is
at-least-once (commit after processing: a crash rewinds to the last committed offset and the
records are delivered again) or at-most-once (commit at poll time, like ``enable.auto.commit``
committing before processing: a crash loses the records in hand). A group uses at most as many
consumers as partitions; assignment is round-robin over members in join order; every
membership change is a rebalance during which every member pauses for ``rebalance_pause_s``
(Kafka's eager protocol).

Each poll's :class:`Fetched` carries every record's delivery attempt (1 = first delivery, 2+ =
delivered again after a rewind), as RabbitMQ's redelivered flag or the delivery count of a Redis
Streams pending entry or a Kafka share group: the place for retries and dead-lettering. The wait
for records (``ready``, with ``fetch.min.bytes`` / ``fetch.max.wait.ms``) is ``sim.bus.linger``;
the narrow interface the pods and services use is ``sim.bus.client``.

Mid-run reads: :meth:`ConsumerGroup.lag`, :meth:`ConsumerGroup.available`, :meth:`poll` and
``Topic.end_offset`` / ``Topic.backlog`` first catch a scheduled producer up to now
(``Topic.sync``), so they are current whenever read; ``committed``, ``position``,
``redelivered`` and ``rebalances`` change only by the group's own calls and are always current.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import simpy

from sim.bus import linger
from sim.bus.assignment import assign_round_robin
from sim.bus.fetched import Fetched
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


class ConsumerGroup:
    """A consumer group subscribed to one topic: the simulated implementation of
    :class:`sim.bus.client.Consumer`.

    Parameters
    ----------
    env : simpy.Environment
    name : str
        Group id (Kafka's ``group.id``, e.g. ``feature-enricher``).
    topic : Topic
    delivery : {"at_least_once", "at_most_once"}
    rebalance_pause_s : float
        Pause of every member after a membership change (seconds, >= 0).

    Attributes
    ----------
    committed, position : list of int
        Per partition, the committed offset and the fetch position (next offset to poll).
    redelivered : int
        Records delivered again after a rewind, over the run (each redelivery counts).
    rebalances : int
        Membership changes so far.
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
        self.redelivered = 0
        self._delivered = [0] * n  # per partition, the highest offset ever delivered (+1)
        self._deliveries: dict[tuple[int, int], int] = {}  # (p, offset) -> count, if >= 2
        self.on_rebalance: Callable[[str, str, str], None] | None = None
        topic.groups.append(self)

    @property
    def topic_name(self) -> str:
        """Name of the subscribed topic."""
        return self.topic.name

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

    def paused(self, member: Member | None = None) -> float:
        """Seconds left of the rebalance pause (0.0 when the group consumes): during an eager
        rebalance no member polls (Kafka's stop-the-world ``JoinGroup`` / ``SyncGroup``)."""
        left = self.paused_until - self.env.now
        return left if left > 0 else 0.0

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
        assign_round_robin(self.members, self.topic.n_partitions)
        for m in self.members:  # wake idle members so they pick up their new assignment
            if m.waiting is not None and not m.waiting.triggered:
                m.waiting.succeed()
            m.waiting = None

    # -- offsets ---------------------------------------------------------------------------
    def lag(self, partition: int | None = None) -> int:
        """End offset − committed offset, of one partition or summed over all (current: the
        topic is synced first)."""
        self.topic.sync()
        if partition is not None:
            return self.topic.end_offset(partition) - self.committed[partition]
        return sum(self.topic.ends) - sum(self.committed)

    def available(self, member: Member) -> int:
        """Records ready to fetch (end offset − fetch position) on ``member``'s partitions
        (current: the topic is synced first)."""
        self.topic.sync()
        ends, pos, n = self.topic.ends, self.position, 0
        for p in member.partitions:
            n += ends[p] - pos[p]
        return n

    def poll(self, member: Member, max_records: int) -> Fetched | None:
        """Poll up to ``max_records`` from ``member``'s partitions (Kafka's
        ``max.poll.records``), starting at the next partition of a round-robin cursor.

        Advances the group's fetch positions; at-most-once also commits them now. Records
        below the highest offset the group ever delivered on their partition are redeliveries:
        their attempts are counted (:attr:`Fetched.attempts`, :attr:`redelivered`).

        Returns
        -------
        Fetched or None
            None when every assigned partition is drained.
        """
        topic = self.topic
        topic.sync()
        parts = member.partitions
        k = len(parts)
        if not k:
            return None
        logs, ends, position, delivered = topic.logs, topic.ends, self.position, self._delivered
        records: list[int] = []
        ranges = []
        again = None
        room = max_records
        cursor = member.cursor
        member.cursor = (cursor + 1) % k
        for j in range(k):
            p = parts[(cursor + j) % k]
            start, end = position[p], ends[p]
            if end > start:
                if end - start > room:
                    end = start + room
                seen = delivered[p]
                if start < seen:  # after a rewind: some are delivered again
                    again = self._count_again(p, start, min(end, seen), len(records), again)
                if end > seen:
                    delivered[p] = end
                records += logs[p][start:end]
                ranges.append((p, start, end))
                position[p] = end
                room -= end - start
                if not room:
                    break
        if not records:
            return None
        fetched = Fetched(records, ranges, again)
        if self.delivery == "at_most_once":
            self.commit(fetched)
        return fetched

    fetch = poll  # the name the simulation's tests and fast paths use

    def _count_again(
        self, p: int, lo: int, hi: int, base: int, again: dict[int, int] | None
    ) -> dict[int, int]:
        """Count the redelivery of offsets ``lo .. hi-1`` of ``p``, polled from index
        ``base`` on (offset ``lo`` is the range's start)."""
        if again is None:
            again = {}
        counts = self._deliveries
        for off in range(lo, hi):
            a = counts.get((p, off), 1) + 1
            counts[(p, off)] = a
            again[base + off - lo] = a
        self.redelivered += hi - lo
        return again

    def commit(self, fetched: Fetched) -> None:
        """Commit the end offsets of ``fetched`` (never moves a committed offset backwards)."""
        for p, _, end in fetched.ranges:
            if end > self.committed[p]:
                self.committed[p] = end
                self.topic.notify_space(p)

    def rewind(self, fetched: Fetched) -> bool:
        """After a crash: hand the uncommitted records of ``fetched`` back to the group.

        Under at-least-once the fetch positions go back to the last committed offsets (Kafka:
        a new owner resumes from the committed offset), so the records are delivered again;
        under at-most-once they were committed at poll time and are lost.

        Returns
        -------
        bool
            True when the records will be delivered again (at-least-once).
        """
        if self.delivery != "at_least_once":
            return False
        for p, _, _ in fetched.ranges:
            self.position[p] = min(self.position[p], self.committed[p])
        return True

    def ready(
        self, member: Member, min_records: int = 1, max_wait_s: float = 0.0
    ) -> Iterable[simpy.Event]:
        """Wait for records (Kafka's ``fetch.min.bytes`` / ``fetch.max.wait.ms``, in records):
        a SimPy sub-process, see :func:`sim.bus.linger.ready`."""
        return linger.ready(self, member, min_records, max_wait_s)

    def wait_for_records(self, member: Member, min_records: int = 1) -> simpy.Event:
        """One event, triggered once ``min_records`` are available to ``member`` or on a
        rebalance (see :func:`sim.bus.linger.wait_for_records`)."""
        return linger.wait_for_records(self, member, min_records)
