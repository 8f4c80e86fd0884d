"""Consumer groups: committed offsets, lag, the poll, commits and delivery attempts.

A group commits one offset per (group, topic, partition), never per consumer; lag = log-end
offset - committed offset (Kafka's ``kafka_consumergroup_lag``). Members poll up to
``max_poll_records`` from their partitions (Kafka's ``max.poll.records``), never from a
partition paused by a rebalance nor from one without a leader (a broker fault,
``sim.bus.availability``). Delivery is at-least-once (commit after processing: a crash
rewinds to the last committed offset and the records are delivered again) or at-most-once
(commit at poll time, like ``enable.auto.commit`` committing before processing: a crash loses
the records in hand). Membership, assignment strategies, eager / cooperative rebalances,
``session_timeout_s`` and ``max_poll_interval_s`` are ``sim.bus.rebalance``.

Each poll's :class:`Fetched` carries every record's delivery attempt (1 = first delivery, 2+ =
delivered again after a rewind or an eviction), as RabbitMQ's redelivered flag or the delivery
count of a Redis Streams pending entry or a Kafka share group: the place for retries and
dead-lettering. The wait for records (``ready``, with ``fetch.min.bytes`` /
``fetch.max.wait.ms``) is ``sim.bus.linger``; the narrow interface the pods and services use is
``sim.bus.client``.

Mid-run reads: :meth:`ConsumerGroup.lag`, :meth:`ConsumerGroup.available`, :meth:`poll` and
``Topic.end_offset`` / ``Topic.backlog`` first catch a scheduled producer up to now
(``Topic.sync``), so they are current whenever read; ``committed``, ``position``,
``redelivered``, ``rebalances`` and the pause counters change only by the group's own calls and
timers and are always current.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import simpy

from sim.bus import linger
from sim.bus.fetched import Fetched
from sim.bus.rebalance import Member, Membership
from sim.bus.topic import Topic

__all__ = ["ConsumerGroup", "Delivery", "Fetched", "Member"]


Delivery = Literal["at_least_once", "at_most_once"]


class ConsumerGroup(Membership):
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
        Pause after a membership change (seconds, >= 0): of every partition (eager) or of the
        partitions that change owner (cooperative).
    strategy : {"range", "round_robin", "sticky", "cooperative_sticky"}
        Kafka's ``partition.assignment.strategy`` (default range, Kafka's).
    protocol : {"eager", "cooperative"}
        The rebalance protocol (cooperative needs cooperative_sticky).
    session_timeout_s : float
        Kafka's ``session.timeout.ms`` (default 45 s): how long a crashed member's partitions
        idle before it is removed.
    max_poll_interval_s : float
        Kafka's ``max.poll.interval.ms`` (default 300 s): a member that does not poll again
        within it after a poll that returned records is evicted.

    Attributes
    ----------
    committed, position : list of int
        Per partition, the committed offset and the fetch position (next offset to poll).
    redelivered : int
        Records delivered again after a rewind or an eviction, over the run (each counts).
    rebalances, evictions : int
        Membership changes and max-poll-interval evictions so far.
    paused_records, paused_partition_s : int, float
        Records held on paused partitions during rebalance pauses, and partition-seconds of
        pause (see ``sim.bus.rebalance``).

    Raises
    ------
    ValueError
        A bad strategy, protocol or duration (``sim.bus.rebalance.Membership``).
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        topic: Topic,
        *,
        delivery: Delivery = "at_least_once",
        rebalance_pause_s: float = 0.0,
        strategy: str = "range",
        protocol: str = "eager",
        session_timeout_s: float = 45.0,
        max_poll_interval_s: float = 300.0,
    ) -> None:
        super().__init__(
            env, name, topic, strategy=strategy, protocol=protocol,
            rebalance_pause_s=rebalance_pause_s, session_timeout_s=session_timeout_s,
            max_poll_interval_s=max_poll_interval_s,
        )
        self.delivery: Delivery = delivery
        n = topic.n_partitions
        self.committed = [0] * n
        self.position = [0] * n
        self.redelivered = 0
        self._delivered = [0] * n  # per partition, the highest offset ever delivered (+1)
        self._deliveries: dict[tuple[int, int], int] = {}  # (p, offset) -> count, if >= 2
        self._in_hand: dict[Fetched, Member] = {}  # polled, not yet committed or rewound
        self._fenced: set[Fetched] = set()  # in hand of an evicted member: commit fails
        topic.groups.append(self)

    @property
    def topic_name(self) -> str:
        """Name of the subscribed topic."""
        return self.topic.name

    # -- offsets ---------------------------------------------------------------------------
    def lag(self, partition: int | None = None) -> int:
        """End offset − committed offset, of one partition or summed over all (current: the
        topic is synced first)."""
        self.topic.sync()
        if partition is not None:
            return self.topic.end_offset(partition) - self.committed[partition]
        return sum(self.topic.ends) - sum(self.committed)

    def available(self, member: Member) -> int:
        """Records ready to fetch (end offset − fetch position) on ``member``'s partitions that
        are not paused (current: the topic is synced first)."""
        self.topic.sync()
        ends, pos, n = self.topic.ends, self.position, 0
        for p in self.fetchable(member):
            n += ends[p] - pos[p]
        return n

    def poll(self, member: Member, max_records: int) -> Fetched | None:
        """Poll up to ``max_records`` from ``member``'s partitions (Kafka's
        ``max.poll.records``), starting at the next partition of a round-robin cursor; paused
        partitions are skipped. An evicted member's poll rejoins the group instead (a
        rebalance; it returns None).

        Advances the group's fetch positions; at-most-once also commits them now. Records
        below the highest offset the group ever delivered on their partition are redeliveries:
        their attempts are counted (:attr:`Fetched.attempts`, :attr:`redelivered`).

        Returns
        -------
        Fetched or None
            None when every assigned partition is drained.
        """
        member.poll_deadline_s = None
        if member.evicted and self._rejoin_if_evicted(member):
            return None
        topic = self.topic
        topic.sync()
        parts = self.fetchable(member)
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
        else:
            self._in_hand[fetched] = member
        self._handed_out(member)
        return fetched

    def fetchable(self, member: Member) -> list[int]:
        """``member``'s live partitions (:meth:`live`) that have a leader now: a fetch from a
        partition a broker fault took down returns nothing (``sim.bus.availability``)."""
        parts = self.live(member)
        if self.topic.availability is None:
            return parts
        return [p for p in parts if not self.topic.unavailable(p)]

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

    def commit(self, fetched: Fetched) -> bool:
        """Commit the end offsets of ``fetched`` (never moves a committed offset backwards).

        Returns
        -------
        bool
            False, committing nothing, when ``fetched`` was polled by a member evicted since
            (Kafka's ``CommitFailedException``: its records are delivered again by the
            partition's new owner); True otherwise.
        """
        self._in_hand.pop(fetched, None)
        if self._revoking_by:
            self._settled(fetched)
        if self._fenced and fetched in self._fenced:
            self._fenced.discard(fetched)
            return False
        for p, _, end in fetched.ranges:
            if end > self.committed[p]:
                self.committed[p] = end
                self.topic.notify_space(p)
        return True

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
        self._in_hand.pop(fetched, None)
        if self._revoking_by:
            self._settled(fetched)
        if fetched in self._fenced:  # evicted: its positions were reset then
            self._fenced.discard(fetched)
            return True
        for p, _, _ in fetched.ranges:
            self.position[p] = min(self.position[p], self.committed[p])
        return True

    def ready(
        self, member: Member, min_records: int = 1, max_wait_s: float = 0.0
    ) -> Iterable[simpy.Event]:
        """Wait for records (Kafka's ``fetch.min.bytes`` / ``fetch.max.wait.ms``, in records):
        a SimPy sub-process, see :func:`sim.bus.linger.ready`."""
        member.poll_deadline_s = None  # (waiting for records is part of Kafka's poll)
        return linger.ready(self, member, min_records, max_wait_s)

    def wait_for_records(self, member: Member, min_records: int = 1) -> simpy.Event:
        """One event, triggered once ``min_records`` are available to ``member`` or on a
        rebalance (see :func:`sim.bus.linger.wait_for_records`)."""
        return linger.wait_for_records(self, member, min_records)
