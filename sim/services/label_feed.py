"""label-feed: fraud labels published after the label delay, and applied to the feature store.

:func:`label_publisher` publishes each label at its due event time (``sim.services.label_rules``:
genuine labels ``labels.delay_days`` after their transaction, reported frauds after a drawn
delay, unreported frauds as genuine after ``delay_days``; history labels after ``delay_days``),
:func:`feedback_publisher` publishes the investigators' labels of alerted cards
(``labels.feedback``, records appended to the table by :meth:`LabelTable.add`), and
:class:`LabelHandler` gives them to ``FeatureStore.add_labels`` at the end of each poll; labels
lost in an at-most-once crash are counted in ``Ledger.labels_lost``, as are labels the bus
drops (shed by a full ``labels`` topic, deleted by retention). :meth:`LabelTable.feed` is the
precomputed twin of the publisher (a ``ScheduledFeed`` at the same ticks), chosen in
``sim.engine``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simpy

from sim.bus import Fetched, Producer, ScheduledFeed, Topic
from sim.process import ProcessGenerator
from sim.record.ledger import Ledger
from sim.services.label_store import LabelStore

__all__ = ["LabelHandler", "LabelTable", "feedback_publisher", "label_publisher"]


class LabelTable:
    """Labels to publish, sorted by due event time: terminal, tx event time (s), fraud, due (s).

    ``delay_s``: one delay for every label (s), or each label's due event time minus its event
    time (an array, shape (n,)); labels are sorted by event time, then (stably) by due time.
    ``fraud`` is the value published (0 for an unreported fraud). ``published`` counts the
    labels :func:`label_publisher` has produced so far; the scheduled twin (:meth:`feed`) does
    not advance it: mid-run, read the ``labels`` topic's end offsets (``Topic.end_offset``,
    current on either path) instead. Feedback labels (:meth:`add`) get the record ids
    ``len(table)``, ``len(table) + 1``, ...; they are not part of the schedule.
    """

    def __init__(
        self, terminal: np.ndarray, event_time_s: np.ndarray, fraud: np.ndarray,
        delay_s: float | np.ndarray, rows: np.ndarray | None = None,
    ) -> None:
        order = np.argsort(event_time_s, kind="stable")
        if not np.isscalar(delay_s):  # per-label delays: then by due time (stable)
            due = (np.asarray(event_time_s, dtype=np.float64) + np.asarray(delay_s))[order]
            order = order[np.argsort(due, kind="stable")]
        # the ledger row of each label (-1: a history transaction, before the live window)
        self.rows = (np.full(len(order), -1, dtype=np.int64) if rows is None
                     else np.asarray(rows, dtype=np.int64)[order])
        self.terminal = np.asarray(terminal, dtype=np.int64)[order]
        self.event_time_s = np.asarray(event_time_s, dtype=np.float64)[order]
        self.fraud = np.asarray(fraud, dtype=np.int64)[order]
        self.event_second = np.floor(self.event_time_s).astype(np.int64)  # the store's unit
        # terminal, event second and label per row, shape (3, n): one gather per poll
        self.columns = np.stack([self.terminal, self.event_second, self.fraud])
        self.due_s = self.event_time_s + (
            delay_s if np.isscalar(delay_s) else np.asarray(delay_s, dtype=np.float64)[order])
        self.published = 0
        # feedback labels (record id len(self) + i): ledger row, terminal, event second, value
        self.extra: list[tuple[int, int, int, int]] = []

    def __len__(self) -> int:
        return len(self.due_s)

    def add(self, rows: np.ndarray, terminal: np.ndarray, event_time_s: np.ndarray,
            value: np.ndarray) -> np.ndarray:
        """Append feedback labels of ledger ``rows``; returns their record ids (shape (n,))."""
        first = len(self) + len(self.extra)
        sec = np.floor(np.asarray(event_time_s, dtype=np.float64)).astype(np.int64)
        self.extra += list(zip(np.asarray(rows).tolist(), np.asarray(terminal).tolist(),
                               sec.tolist(), np.asarray(value).tolist(), strict=True))
        return np.arange(first, first + len(sec), dtype=np.int64)

    def publish_times(self, live_start_s: float, speedup: float, interval_s: float) -> np.ndarray:
        """Processing time (s) at which :func:`label_publisher` publishes each label: the first
        tick ``k × interval_s`` (k >= 0) whose event time ``live_start_s + k × interval_s ×
        speedup`` has reached the label's due time. Shape (n,)."""
        ticks = np.ceil((self.due_s - live_start_s) / (speedup * interval_s))
        return np.maximum(ticks, 0.0) * interval_s

    def feed(
        self, topic: Topic, live_start_s: float, speedup: float, interval_s: float
    ) -> ScheduledFeed:
        """Publish the labels to an unbounded ``topic`` as a :class:`sim.bus.ScheduledFeed`, at
        :meth:`publish_times` (the same ticks as :func:`label_publisher`, without a process)."""
        idx = np.arange(len(self))
        times = self.publish_times(live_start_s, speedup, interval_s)
        return ScheduledFeed(topic, times, idx, topic.partition_of(self.terminal))


def label_publisher(
    env: simpy.Environment,
    labels: LabelTable,
    topic: Producer,
    live_start_s: float,
    speedup: float,
    interval_s: float,
) -> ProcessGenerator:
    """label-feed: every ``interval_s``, publish the labels now due.

    Event time now = ``live_start_s + env.now × speedup``.
    """
    while labels.published < len(labels):
        now_event = live_start_s + env.now * speedup
        end = int(np.searchsorted(labels.due_s, now_event, side="right"))
        if end > labels.published:
            idx = np.arange(labels.published, end)
            labels.published = end
            yield from topic.produce(idx, labels.terminal[idx])
        yield env.timeout(interval_s)


def feedback_publisher(
    env: simpy.Environment, labels: LabelTable, topic: Producer, ids: np.ndarray,
    terminals: np.ndarray, delay_s: float,
) -> ProcessGenerator:
    """Publish the feedback labels ``ids`` (:meth:`LabelTable.add`) ``delay_s`` processing
    seconds from now (the investigators' delay; ``sim.services.feedback``)."""
    yield env.timeout(delay_s)
    yield from topic.produce(ids, terminals)


class LabelHandler:
    """The feature store's label consumer: ``FeatureStore.add_labels`` per poll.

    The labels of a poll reach the store when the poll's service ends (:meth:`finish`), so a
    crash under at-most-once loses them: :meth:`drop` counts them in ``ledger.labels_lost``
    (the terminal risk of later transactions misses them). Labels are not transactions: they
    are outside the conservation of transactions. A live transaction's label reaches the
    store and the :class:`LabelStore` once: its first record (a feedback label, source
    ``FEEDBACK``, or the feed's) wins, a later one is skipped.
    """

    def __init__(
        self, labels: LabelTable, store: Any, ledger: Ledger,
        label_store: LabelStore | None = None, env: simpy.Environment | None = None,
    ) -> None:
        self.labels = labels
        self.store = store
        self.ledger = ledger
        self.label_store = label_store  # the offline store of known labels (live rows)
        self.env = env
        self.applied = bytearray(len(labels))  # 1 = already given to the store
        self.extra_applied = bytearray(0)  # the same for feedback labels (LabelTable.add)
        self.row_known: bytearray | None = None  # per ledger row, once feedback labels come

    def begin(self, records: list[int], pod: str) -> list[int]:
        applied, n = self.applied, len(self.applied)
        if not self.labels.extra:
            return [r for r in records if not applied[r]]  # a rewind re-delivers applied labels
        self._grow()
        extra = self.extra_applied
        return [r for r in records if not (applied[r] if r < n else extra[r - n])]

    def _grow(self) -> None:
        more = len(self.labels.extra) - len(self.extra_applied)
        if more > 0:
            self.extra_applied += bytearray(more)
        if self.row_known is None:
            self.row_known = bytearray(self.ledger.n)
            known = self.labels.rows[np.frombuffer(bytes(self.applied), np.uint8) == 1]
            for r in known[known >= 0].tolist():
                self.row_known[r] = 1

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        applied = self.applied
        if self.labels.extra:
            self._finish_mixed(rows)
            return None
        fresh = [r for r in rows if not applied[r]]  # another consumer may have applied some
        for r in fresh:
            applied[r] = 1
        if fresh:
            self.store.add_labels(*self.labels.columns[:, fresh].tolist())
            if self.label_store is not None and self.env is not None:
                rows = self.labels.rows[fresh]
                live = rows >= 0
                self.label_store.record(rows[live], self.labels.fraud[fresh][live], self.env.now)
        return None

    def _finish_mixed(self, records: list[int]) -> None:
        """:meth:`finish` once feedback labels exist: each live row's first label only."""
        self._grow()
        assert self.row_known is not None
        applied, extra, known, n = self.applied, self.extra_applied, self.row_known, \
            len(self.applied)
        cols, table = self.labels.columns, self.labels
        out: list[tuple[int, int, int, int, int]] = []  # row, terminal, second, value, source
        for r in records:
            if r < n:
                if applied[r]:
                    continue
                applied[r] = 1
                row = int(table.rows[r])
                item = (row, int(cols[0, r]), int(cols[1, r]), int(cols[2, r]), LabelStore.FEED)
            else:
                if extra[r - n]:
                    continue
                extra[r - n] = 1
                item = (*table.extra[r - n], LabelStore.FEEDBACK)
                row = item[0]
            if row >= 0:
                if known[row]:
                    continue
                known[row] = 1
            out.append(item)
        if not out:
            return
        self.store.add_labels([o[1] for o in out], [o[2] for o in out], [o[3] for o in out])
        if self.label_store is not None and self.env is not None:
            for source in (LabelStore.FEED, LabelStore.FEEDBACK):
                mine = [o for o in out if o[4] == source and o[0] >= 0]
                if mine:
                    self.label_store.record(np.array([o[0] for o in mine]),
                                            np.array([o[3] for o in mine]), self.env.now, source)

    def drop(self, records: list[int], reason: str) -> None:
        """Count the labels dropped before they reached the store: lost in a crash
        (at-most-once), or dropped by the bus (a full ``labels`` topic that sheds, retention;
        ``sim.system`` wires the bus's ``on_drop`` here)."""
        applied, n = self.applied, len(self.applied)
        if self.labels.extra:
            self._grow()
        extra = self.extra_applied
        self.ledger.labels_lost += len({r for r in records
                                        if not (applied[r] if r < n else extra[r - n])})

    def crashed(self, pod: str, lost: bool, records: list[int]) -> None:
        """Nothing to do: it produces nothing (no producer buffer)."""

    def rewound(self, records: list[int], redelivered: bool) -> None:
        """Never called: its processing does not fail (it sets no ``Fetched.seek_back``)."""

    def release(self) -> None:
        """Nothing to free: the labels table is part of the results' inputs."""
