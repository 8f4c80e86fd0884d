"""Producers known in advance: a topic fed by a precomputed schedule (the fast path).

A :class:`ScheduledFeed` holds every record it will append with the time it appears; the
topic asks it to catch up before any read and when its next records are due, so a waiting
consumer sets one timer instead of the producer spending a SimPy event per record. Its event
twin is any producer that appends as time passes (``Topic.append`` / ``Topic.produce``); which
one runs is chosen in ``sim.engine``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sim.bus.topic import Topic

__all__ = ["ScheduledFeed", "ScheduledProducer"]


class ScheduledProducer(Protocol):
    """A producer whose appends are known in advance (:class:`ScheduledFeed`,
    ``sim.pods.ingress_schedule.ScheduledIngress``): the topic asks it to catch up before every
    read, and
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
            topic.schedule(self)

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
