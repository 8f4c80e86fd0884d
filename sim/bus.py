"""A Kafka-like event bus: topics of partitioned append-only logs and consumer groups.

Semantics (DESIGN §3): a record's key picks its partition deterministically
(``key % n_partitions``); each partition is an append-only Python list of records (here: row
indices of the transaction table) with its log-end offset (``Topic.ends``; a
:class:`ScheduledFeed` preloads the records it will append and only moves the end offset).
A consumer group commits one offset per (group, topic, partition), never per consumer;
lag = end offset − committed.
Consumers poll up to ``max_poll_records`` from their assigned partitions. Delivery is
at-least-once (commit after processing; a crash rewinds the fetch position to the last commit,
so records are delivered again) or at-most-once (commit at poll time; a crash loses the records
in hand). A group uses at most as many consumers as partitions; assignment is round-robin over
members sorted by join order; every membership change starts a rebalance during which the
group's members pause for ``rebalance_pause_s``.

A consumer with nothing to read waits on ONE ``simpy.Event`` registered on each of its
partitions; the producer triggers it on append. Bounded partitions (``capacity_records``) make
the producer block while a partition holds that many records not yet committed by the slowest
subscribed group (a soft bound: the blocked producer then appends its whole group of records).

Retention is infinite, so no record expires.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import simpy

__all__ = [
    "Topic",
    "ConsumerGroup",
    "Member",
    "Fetched",
    "Delivery",
    "ScheduledFeed",
    "ScheduledProducer",
]

Delivery = Literal["at_least_once", "at_most_once"]


class ScheduledProducer(Protocol):
    """A producer whose appends are known in advance (:class:`ScheduledFeed`,
    ``sim.ingress.ScheduledIngress``): the topic asks it to catch up before every read, and
    when its next records will appear."""

    def catch_up(self, until_s: float | None = None) -> None:
        """Append everything due by ``max(now, until_s)``."""

    def next_due(self, partitions: Sequence[int], count: int) -> float:
        """When ``count`` more records will have appeared on ``partitions`` (inf: never)."""


class ScheduledFeed:
    """Appends known in advance: record ``records[i]`` appears on ``partitions[i]`` at
    ``times_s[i]``, without a SimPy event per record.

    The feed registers itself as the topic's :attr:`Topic.scheduled` producer: the topic and its
    consumer groups call :meth:`catch_up` before every read, which appends (in time order, ties
    in input order) every record due by now, and a waiting consumer sets one timer for the time
    :meth:`next_due` gives. Appends ignore ``capacity_records`` (a feed cannot be held back).
    The records are turned into the Python lists the bus reads in chunks of :attr:`CHUNK`, as
    time reaches them (a feed may hold far more records than a run gets to).

    Parameters
    ----------
    topic : Topic
    times_s : array of float, shape (n,)
        When each record appears (processing seconds).
    records : array of int, shape (n,)
    partitions : array of int, shape (n,)
        Target partition of each record (0 .. n_partitions-1).
    register : bool
        Become ``topic.scheduled`` (False when a wrapper such as the ingress registers instead).
    """

    def __init__(
        self,
        topic: Topic,
        times_s: np.ndarray,
        records: np.ndarray,
        partitions: np.ndarray,
        *,
        register: bool = True,
    ) -> None:
        order = np.argsort(np.asarray(times_s, dtype=np.float64), kind="stable")
        times = np.asarray(times_s, dtype=np.float64)[order]
        parts = np.asarray(partitions, dtype=np.int64)[order]
        if len(parts) and (parts.min() < 0 or parts.max() >= topic.n_partitions):
            raise ValueError(f"topic {topic.name}: feed partitions must be in [0, "
                             f"{topic.n_partitions - 1}]")
        if any(topic.logs) or (register and topic.scheduled is not None):
            raise ValueError(f"topic {topic.name}: a feed must be the topic's only producer")
        self.topic = topic
        self._all = (times, np.asarray(records, dtype=np.int64)[order], parts)
        self._total = len(times)
        # materialised prefix: times and partitions in time order, and per partition its future
        # log (preloaded into topic.logs; the topic's end offsets advance over it) and times
        self._m = 0
        self._times: list[float] = []
        self._parts: list[int] = []
        self._due: list[list[float]] = [[] for _ in range(topic.n_partitions)]
        topic.logs = [[] for _ in range(topic.n_partitions)]
        self._n = 0  # records appended so far (all partitions)
        self._synced_s = -math.inf
        self.last_s = float(times[-1]) if len(times) else -math.inf
        if register:
            topic.scheduled = self

    CHUNK = 4096

    def __len__(self) -> int:
        return self._total

    def _grow(self) -> None:
        """Materialise the next :attr:`CHUNK` records."""
        m, k = self._m, min(self._total, self._m + self.CHUNK)
        times, recs, parts = (a[m:k] for a in self._all)
        self._times += times.tolist()
        self._parts += parts.tolist()
        by_part = np.argsort(parts, kind="stable")
        cuts = np.flatnonzero(np.diff(parts[by_part])) + 1
        logs = self.topic.logs
        for idx in np.split(by_part, cuts):
            if len(idx):
                p = int(parts[idx[0]])
                logs[p] += recs[idx].tolist()
                self._due[p] += times[idx].tolist()
        self._m = k

    def catch_up(self, until_s: float | None = None) -> None:
        """Append every record due by ``max(now, until_s)`` (a timer set for ``t`` passes
        ``until_s=t``: ``now + (t - now)`` may round to just below ``t``)."""
        now = self.topic.env.now
        if until_s is not None and until_s > now:
            now = until_s
        if now <= self._synced_s:
            return
        self._synced_s = now
        while self._m < self._total and (not self._times or self._times[-1] <= now):
            self._grow()
        n = self._n
        k = bisect_right(self._times, now, n)
        if k == n:
            return
        self._n = k
        topic = self.topic
        ends = topic.ends
        # each partition's log is the feed in time order restricted to it: every newly due
        # record moves its partition's end offset by one
        due = self._parts[n:k]
        for p in due:
            ends[p] += 1
        for p in set(due):
            topic.wake(p)

    def next_due(self, partitions: Sequence[int], count: int) -> float:
        """When ``count`` more records will have appeared on ``partitions`` (inf: never)."""
        due, fed = self._due, self.topic.ends
        while self._m < self._total and any(len(due[p]) < fed[p] + count for p in partitions):
            self._grow()
        if count <= 1:
            return min(
                (due[p][fed[p]] for p in partitions if fed[p] < len(due[p])), default=math.inf
            )
        upcoming: list[float] = []
        for p in partitions:
            upcoming += due[p][fed[p] : fed[p] + count]
        if len(upcoming) < count:
            return math.inf
        upcoming.sort()
        return upcoming[count - 1]


class Topic:
    """A topic of ``n_partitions`` append-only logs.

    Parameters
    ----------
    env : simpy.Environment
    name : str
    n_partitions : int
        Number of partitions (>= 1).
    capacity_records : int or None
        Soft bound on uncommitted records per partition (None = unbounded).
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        n_partitions: int,
        capacity_records: int | None = None,
    ) -> None:
        if n_partitions < 1:
            raise ValueError(f"topic {name}: n_partitions must be >= 1, got {n_partitions}")
        self.env = env
        self.name = name
        self.n_partitions = n_partitions
        self.capacity_records = capacity_records
        self.logs: list[list[int]] = [[] for _ in range(n_partitions)]
        self.ends = [0] * n_partitions  # log-end offsets (a feed preloads logs beyond them)
        self._waiters: list[list[tuple[simpy.Event, Callable[[], bool] | None]]] = [
            [] for _ in range(n_partitions)
        ]
        self._space: list[simpy.Event | None] = [None] * n_partitions
        self.groups: list[ConsumerGroup] = []
        self.scheduled: ScheduledProducer | None = None

    def partition_of(self, keys: np.ndarray) -> np.ndarray:
        """Partition of each key: ``key % n_partitions`` (deterministic, stable across runs)."""
        return np.asarray(keys, dtype=np.int64) % self.n_partitions

    def end_offset(self, partition: int) -> int:
        """Log-end offset (number of records ever appended) of ``partition``."""
        self.sync()
        return self.ends[partition]

    def backlog(self, partition: int) -> int:
        """Records in ``partition`` not yet committed by the slowest subscribed group."""
        self.sync()
        if not self.groups:
            return 0
        return self.ends[partition] - min(g.committed[partition] for g in self.groups)

    def append(self, partition: int, records: Sequence[int]) -> None:
        """Append ``records`` to ``partition`` and wake the consumers waiting on it."""
        if self.scheduled is not None:
            raise RuntimeError(f"topic {self.name} is fed by a schedule; nothing else appends")
        log = self.logs[partition]
        log.extend(records)
        self.ends[partition] = len(log)
        self.wake(partition)

    def wake(self, partition: int) -> None:
        """Wake the consumers waiting on ``partition`` whose condition now holds."""
        waiters = self._waiters[partition]
        if waiters:
            keep = []
            for ev, ready in waiters:
                if ev.triggered:
                    continue
                if ready is None or ready():
                    ev.succeed()
                else:  # a lingering consumer that still lacks records: no wake-up
                    keep.append((ev, ready))
            self._waiters[partition] = keep

    def append_many(self, records: Sequence[int], partitions: Sequence[int]) -> None:
        """Append each record to its partition, in order, ignoring capacity; then wake the
        consumers waiting on the partitions touched."""
        if self.scheduled is not None:
            raise RuntimeError(f"topic {self.name} is fed by a schedule; nothing else appends")
        logs, touched = self.logs, set()
        for r, p in zip(records, partitions, strict=True):
            logs[p].append(r)
            touched.add(p)
        for p in touched:
            self.ends[p] = len(logs[p])
            self.wake(p)

    def sync(self) -> None:
        """Let the scheduled producer append what is due by now (see :attr:`scheduled`)."""
        if self.scheduled is not None:
            self.scheduled.catch_up()

    def alarm(self, partitions: Sequence[int], count: int, event: simpy.Event) -> None:
        """Trigger ``event`` when the scheduled producer has appended ``count`` more records on
        ``partitions`` (never, if it never will), after catching it up to that time."""
        sched = self.scheduled
        if sched is None:
            raise RuntimeError(f"topic {self.name} has no scheduled producer")
        t = sched.next_due(partitions, count)
        if t == math.inf:
            return

        def ring(_timer: simpy.Event) -> None:
            sched.catch_up(t)
            if not event.triggered:
                event.succeed()

        self.env.timeout(max(0.0, t - self.env.now)).callbacks.append(ring)

    def produce(self, records: np.ndarray, keys: np.ndarray) -> Generator[simpy.Event, None, None]:
        """Append each record to its key's partition (a SimPy sub-process: ``yield from``).

        Blocks only when the topic is bounded and a target partition is full.
        """
        parts = self.partition_of(keys)
        if self.capacity_records is None and len(records) <= 64:  # small batch: plain lists
            self.append_many(records.tolist(), parts.tolist())
            return
        if self.n_partitions == 1:
            groups: list[tuple[int, list[int]]] = [(0, records.tolist())]
        else:
            order = np.argsort(parts, kind="stable")
            sp, sr = parts[order], records[order]
            cuts = np.flatnonzero(np.diff(sp)) + 1
            chunks = zip(np.split(sp, cuts), np.split(sr, cuts), strict=True)
            groups = [(int(p[0]), r.tolist()) for p, r in chunks]
        for p, recs in groups:
            while self.capacity_records is not None and self.backlog(p) >= self.capacity_records:
                if self._space[p] is None:
                    self._space[p] = self.env.event()
                yield self._space[p]
            self.append(p, recs)

    def wait(
        self, partition: int, event: simpy.Event, ready: Callable[[], bool] | None = None
    ) -> None:
        """Register ``event`` to be triggered on the next append to ``partition`` after which
        ``ready()`` holds (any append when ``ready`` is None)."""
        self._waiters[partition].append((event, ready))

    def notify_space(self, partition: int) -> None:
        """Wake a producer blocked on ``partition`` (called after a commit)."""
        ev = self._space[partition]
        if ev is not None and self.backlog(partition) < (self.capacity_records or 0):
            self._space[partition] = None
            ev.succeed()


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
