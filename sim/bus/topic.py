"""A topic: partitioned append-only logs with log-end offsets (Apache Kafka semantics).

A record's key picks its partition (``key % n_partitions``, deterministic). Each partition is a
Python list of records with its log-end offset (``Topic.ends``). A bounded topic
(``capacity_records``) makes a producer block while a target partition holds that many records
not yet committed by the slowest subscribed group (a soft bound, as a full producer buffer
blocks ``send`` in Kafka's client) with ``overflow: block``; with ``overflow: shed`` a produce to
a full partition is rejected record by record (RabbitMQ's ``x-overflow: reject-publish``) and
reported to :attr:`Topic.on_drop` with the reason. Retention: infinite unless a
:class:`sim.bus.retention.Retention` is attached (:attr:`Topic.retention`), which deletes
records older than ``retention_s`` from the log start. A broker fault
(:attr:`Topic.availability`, ``sim.bus.availability``) leaves a partition without a leader: no
room there (a producer buffer holds its records) and a plain send waits until it is back.

Mid-run reads: :meth:`Topic.end_offset` and :meth:`Topic.backlog` are current whenever read
(they :meth:`Topic.sync` a scheduled producer first); the raw lists :attr:`Topic.ends` and
:attr:`Topic.logs` are the implementation's, current only after :meth:`Topic.sync`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.bus.drops import report_drop

if TYPE_CHECKING:
    from sim.bus.availability import Availability
    from sim.bus.feed import ScheduledProducer
    from sim.bus.group import ConsumerGroup
    from sim.bus.producer import ProducerBuffers
    from sim.bus.retention import Retention
    from sim.scenario import ProducerSpec

OnDrop = Callable[[list[int], str, str], None]

__all__ = ["Topic"]


class Topic:
    """A topic of ``n_partitions`` append-only logs.

    Parameters
    ----------
    env : simpy.Environment
    name : str
    n_partitions : int
        Number of partitions (>= 1).
    capacity_records : int or None
        Bound on uncommitted records per partition (None = unbounded).
    overflow : {"block", "shed"}
        What a produce to a full partition does: wait for room (back-pressure, a soft bound)
        or reject the records beyond the bound (reported to :attr:`on_drop` as ``"shed"``).

    Raises
    ------
    ValueError
        ``n_partitions < 1`` or an unknown ``overflow``.

    Attributes
    ----------
    ends : list of int
        Log-end offset per partition (current after :meth:`sync`; read :meth:`end_offset`).
    logs : list of list of int
        Records per partition (a schedule preloads them beyond ``ends``).
    scheduled : ScheduledProducer or None
        The producer known in advance, if any (set by :meth:`schedule`).
    on_drop : callable(records, outcome, reason) or None
        Where records the topic rejects are reported (set by the wiring, ``sim.record.drops``).
    retention : Retention or None
        The retention deleting old records, if it can act within the run (it attaches itself).
    producer_spec : ProducerSpec or None
        The producer settings of the service producing to the topic (set by
        ``sim.bus.factory``; read by ``sim.bus.producer.producer_buffers``).
    buffers : ProducerBuffers or None
        That service's per-pod producer buffers (``sim.bus.producer``), None when a plain
        :meth:`send` does the same (set by ``sim.bus.factory``).
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        n_partitions: int,
        capacity_records: int | None = None,
        *,
        overflow: str = "block",
    ) -> None:
        if n_partitions < 1:
            raise ValueError(f"topic {name}: n_partitions must be >= 1, got {n_partitions}")
        if overflow not in ("block", "shed"):
            raise ValueError(f"topic {name}: overflow must be 'block' or 'shed', got {overflow!r}")
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
        self.overflow = overflow
        self.on_drop: OnDrop | None = None
        self.retention: Retention | None = None
        self.producer_spec: ProducerSpec | None = None
        self.buffers: ProducerBuffers | None = None
        self.availability: Availability | None = None

    def release(self) -> None:
        """Drop the logs' records (after the run, before the frames are built; offsets stay)."""
        self.logs = [[] for _ in self.logs]

    def unavailable(self, partition: int) -> bool:
        """Whether ``partition`` has no leader now (a broker fault: no produce, no fetch)."""
        a = self.availability
        return a is not None and a.down(self.name, partition)

    def available_again(self, partitions: Sequence[int]) -> None:
        """``partitions`` are back after a broker fault: wake the consumers waiting there."""
        for p in partitions:
            self.wake(p)

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
        if self.retention is not None:
            self.retention.appended(partition)
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
            if self.retention is not None:
                self.retention.appended(p)
            self.wake(p)

    def sync(self) -> None:
        """Let the scheduled producer append what is due by now (see :attr:`scheduled`): after
        it, :attr:`ends` and :attr:`logs` are current."""
        if self.scheduled is not None:
            self.scheduled.catch_up()
        if self.retention is not None:
            self.retention.enforce()

    def schedule(self, producer: ScheduledProducer) -> None:
        """Make ``producer`` the topic's only producer, whose appends are known in advance
        (``ScheduledFeed``, ``ScheduledIngress``): reads catch it up first (:meth:`sync`) and a
        waiting consumer sets one timer (``sim.bus.linger``).

        Raises
        ------
        ValueError
            The topic already has a scheduled producer, or records appended by another, or a
            retention (which needs each append's time: ``sim.engine`` takes the event path).
        """
        if self.scheduled is not None or any(self.ends):
            raise ValueError(f"topic {self.name}: a scheduled producer must be its only one")
        if self.retention is not None:
            raise ValueError(f"topic {self.name}: a topic with retention takes no schedule")
        self.scheduled = producer

    def produce(self, records: np.ndarray, keys: np.ndarray) -> Generator[simpy.Event, None, None]:
        """Append each record to its key's partition (a SimPy sub-process: ``yield from``).

        Blocks only when the topic is bounded with ``overflow: block`` and a target partition
        is full (as Kafka's producer ``send`` blocks on a full buffer, up to ``max.block.ms``);
        with ``overflow: shed`` the records beyond the bound are rejected (:meth:`admit`).
        """
        parts = self.partition_of(keys)
        if self.availability is not None and self.availability.any_down(self.name):
            yield from self._produce_parts(records, parts)  # waits for the partitions down
            return
        if self.capacity_records is None and len(records) <= 64:  # small batch: plain lists
            self.append_many(records.tolist(), parts.tolist())
            return
        if self.capacity_records is not None and self.overflow == "shed":
            self.admit(records.tolist(), parts.tolist())
            return
        yield from self._produce_parts(records, parts)

    def send(
        self, records: Sequence[int], partitions: Sequence[int]
    ) -> Generator[simpy.Event, None, None] | None:
        """Append ``records[i]`` to ``partitions[i]`` (partitions from :meth:`partition_of`,
        as a Kafka ``ProducerRecord`` may name its partition).

        Returns
        -------
        None or generator
            None when the records are appended (or shed) at once (an unbounded topic, or
            ``overflow: shed``); else a SimPy sub-process to ``yield from`` that blocks while a
            target partition is full, or down (a broker fault: it waits until it is back).
        """
        if self.availability is not None and any(map(self.unavailable, set(partitions))):
            return self._produce_parts(
                np.asarray(records, dtype=np.int64), np.asarray(partitions, dtype=np.int64)
            )
        if self.capacity_records is None:
            self.append_many(records, partitions)
            return None
        if self.overflow == "shed":
            self.admit(records, partitions)
            return None
        return self._produce_parts(
            np.asarray(records, dtype=np.int64), np.asarray(partitions, dtype=np.int64)
        )

    def room(self, partition: int) -> int:
        """Records ``partition`` takes before it is full (``capacity_records`` − backlog, >= 0;
        a large number when unbounded; 0 while it is down)."""
        if self.availability is not None and self.unavailable(partition):
            return 0
        if self.capacity_records is None:
            return 1 << 62
        return max(0, self.capacity_records - self.backlog(partition))

    def admit(self, records: Sequence[int], partitions: Sequence[int]) -> list[int]:
        """Append each record whose partition has room, in order; reject the others (a hard
        bound, RabbitMQ's ``reject-publish``), reported to :attr:`on_drop` as ``"shed"`` with
        the reason naming the topic and its bound. Returns the rejected records.

        Raises
        ------
        RuntimeError
            Records are rejected but no :attr:`on_drop` is wired (they would vanish).
        """
        room: dict[int, int] = {}
        keep_r, keep_p, shed = [], [], []
        for r, p in zip(records, partitions, strict=True):
            left = room.get(p)
            if left is None:
                left = self.room(p)
            if left > 0:
                keep_r.append(r)
                keep_p.append(p)
                left -= 1
            else:
                shed.append(r)
            room[p] = left
        if keep_r:
            self.append_many(keep_r, keep_p)
        if shed:
            self.drop(shed, "shed", f"topic {self.name} full (capacity_records="
                      f"{self.capacity_records} per partition, overflow: shed)")
        return shed

    def drop(self, records: list[int], outcome: str, reason: str) -> None:
        """Report ``records`` dropped on the produce side to :attr:`on_drop`.

        Raises
        ------
        RuntimeError
            No :attr:`on_drop` is wired.
        """
        report_drop(self.on_drop, f"topic {self.name}", records, outcome, reason)

    def space(self, partition: int) -> simpy.Event:
        """The event triggered once ``partition`` has room again (after a commit frees it, or
        when it is back after a broker fault)."""
        if self.availability is not None and self.unavailable(partition):
            return self.availability.back(self.name, partition)
        ev = self._space[partition]
        if ev is None:
            ev = self._space[partition] = self.env.event()
        return ev

    def _produce_parts(
        self, records: np.ndarray, parts: np.ndarray
    ) -> Generator[simpy.Event, None, None]:
        """Append partition by partition (in partition order), each when it has room; the
        partitions down wait for their return, after the others."""
        if self.n_partitions == 1:
            groups: list[tuple[int, list[int]]] = [(0, records.tolist())]
        else:
            order = np.argsort(parts, kind="stable")
            sp, sr = parts[order], records[order]
            cuts = np.flatnonzero(np.diff(sp)) + 1
            chunks = zip(np.split(sp, cuts), np.split(sr, cuts), strict=True)
            groups = [(int(p[0]), r.tolist()) for p, r in chunks]
        if self.availability is not None:
            groups.sort(key=lambda g: self.unavailable(g[0]))  # (stable)
        for p, recs in groups:
            while self.unavailable(p) or (
                self.capacity_records is not None and self.backlog(p) >= self.capacity_records
            ):
                yield self.space(p)
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
