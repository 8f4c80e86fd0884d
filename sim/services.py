"""The bots of the fraud pipeline as stage handlers (the real code each service runs).

- transaction-ingestor (:class:`IngestorService`): validates the event schema (bad events are
  dead-lettered with the reason) and produces to ``transactions`` keyed by card;
- feature-enricher (:class:`EnricherHandler`): ``FeatureStore.update`` per record (idempotent by
  transaction id), produces to ``features-ready``;
- fraud-detector (:class:`DetectorHandler`): ONE scoring call per micro-batch with the
  registry's fitted model (``sim.scoring.compile_scorer``: its own parameters, equal to
  ``predict_proba``), records score and model version, produces to ``fraud-scores``;
- alert-service (:class:`AlertHandler`): applies :class:`sim.alerts.AlertPolicy`;
- label-feed: :func:`label_publisher` publishes each label ``delay_days`` of event time after its
  transaction (history labels too) and :class:`LabelHandler` feeds them to
  ``FeatureStore.add_labels`` at the end of each poll (labels lost in an at-most-once crash are
  counted in ``Ledger.labels_lost``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from sim.alerts import AlertPolicy
from sim.bus import Fetched, ScheduledFeed, Topic
from sim.ledger import Ledger
from sim.scoring import compile_scorer
from sim.telemetry import Outcome, Stage
from sim.workload import TxTable

__all__ = [
    "IngestorService",
    "EnricherHandler",
    "DetectorHandler",
    "AlertHandler",
    "LabelHandler",
    "LabelTable",
    "label_publisher",
    "schema_errors",
]

ProcessGenerator = Generator[simpy.Event, Any, Any]


def schema_errors(table: TxTable) -> np.ndarray:
    """Per-row validation message of the event schema (None = valid), object array of shape (n,).

    Rules: ``TX_AMOUNT`` finite and >= 0; ``CUSTOMER_ID``, ``TERMINAL_ID`` >= 0;
    event time finite.
    """
    out = np.full(len(table), None, dtype=object)
    out[~(np.isfinite(table.amount) & (table.amount >= 0))] = (
        "schema: TX_AMOUNT must be finite and >= 0"
    )
    out[table.customer_id < 0] = "schema: CUSTOMER_ID must be >= 0"
    out[table.terminal_id < 0] = "schema: TERMINAL_ID must be >= 0"
    out[~np.isfinite(table.event_time_s)] = "schema: TX_DATETIME must be a valid time"
    return out


class _Stage:
    stage: Stage

    def __init__(
        self, table: TxTable, ledger: Ledger, topic_in: Topic, topic_out: Topic | None
    ) -> None:
        self.table = table
        self.ledger = ledger
        self.topic_in = topic_in
        self.topic_out = topic_out if ledger.last_stage > self.stage else None
        # partition of each row in the output topic (keyed by card), looked up per record
        self._out_partition = (
            None
            if self.topic_out is None
            else self.topic_out.partition_of(table.customer_id).tolist()
        )

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        """The stage's real work on fresh rows (the same rows as an array and as a list)."""

    def begin(self, records: list[int], pod: str) -> list[int]:
        rows = self.ledger.fresh(self.stage, records)
        if rows:
            self.compute(np.array(rows, dtype=np.int64), rows)
        return rows

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        """Produce ``rows`` downstream and record them served; a sub-process to ``yield from``
        when the output topic is bounded (the produce may block), else done at once (None)."""
        if not rows:
            return None
        topic = self.topic_out
        if topic is not None and topic.capacity_records is not None:
            return self._finish_blocking(rows, start_s, pod)
        if topic is not None:
            part = self._out_partition
            topic.append_many(rows, [part[r] for r in rows])
        self.ledger.served(self.stage, rows, start_s, self.topic_in.env.now, pod)
        return None

    def _finish_blocking(self, rows: list[int], start_s: float, pod: str) -> ProcessGenerator:
        end_s = self.topic_in.env.now  # service end; the full downstream topic may block below
        recs = np.array(rows, dtype=np.int64)
        yield from self.topic_out.produce(recs, self.table.customer_id[recs])
        # recorded only once every row is downstream: a crash while blocked leaves the rows
        # unserved, so their redelivery produces them again (duplicates are dropped there)
        self.ledger.served(self.stage, rows, start_s, end_s, pod)

    def drop(self, records: list[int], reason: str) -> None:
        self.ledger.finish(np.array(records, dtype=np.int64), Outcome.LOST, self.stage, reason)


class IngestorService:
    """Request handler of the transaction-ingestor (see module docstring)."""

    def __init__(self, table: TxTable, ledger: Ledger, topic_out: Topic | None) -> None:
        self.table = table
        self.ledger = ledger
        self.topic_out = topic_out if ledger.last_stage > Stage.INGESTOR else None
        self.errors = schema_errors(table)
        self.any_error = bool(np.any(self.errors != None))  # noqa: E711 (elementwise)
        self.keys = table.customer_id

    def serve(self, row: int, start_s: float, end_s: float, server: str) -> ProcessGenerator | None:
        led = self.ledger
        led.start_ingest[row] = start_s  # views of row 0 (Stage.INGESTOR) of start / end
        led.end_ingest[row] = end_s
        led.ingest_server[row] = led.pod_id(server)
        err = self.errors[row] if self.any_error else None
        if err is not None:
            led.finish(np.array([row]), Outcome.DEAD_LETTERED, Stage.INGESTOR, err)
            return None
        if self.topic_out is None:
            led.finish(np.array([row]), Outcome.COMPLETED, Stage.INGESTOR, None)
            return None
        topic = self.topic_out
        if topic.capacity_records is None:
            topic.append(self.keys.item(row) % topic.n_partitions, (row,))
            return None
        return topic.produce(np.array([row]), self.keys[row : row + 1])

    def shed(self, row: int, reason: str) -> None:
        self.ledger.finish(np.array([row]), Outcome.SHED, Stage.INGESTOR, reason)


def _interned(ids: np.ndarray) -> list[int]:
    """``ids.tolist()`` with one int object per distinct id, when the ids are dense enough
    (0 <= id <= 4 × n + 10^6) for a pool of ``max + 1`` ints; else plain ``tolist``."""
    values = ids.tolist()
    if not values or min(values) < 0 or max(values) > 4 * len(values) + 1_000_000:
        return values
    pool = list(range(max(values) + 1))
    return [pool[v] for v in values]


class EnricherHandler(_Stage):
    """feature-enricher: the online feature store, shared by all enricher pods."""

    stage = Stage.ENRICHER

    def __init__(
        self, table: TxTable, ledger: Ledger, topic_in: Topic, topic_out: Topic, store: Any
    ) -> None:
        super().__init__(table, ledger, topic_in, topic_out)
        self.store = store
        self.features = np.full((len(table), 15), np.nan)
        self.enriched = bytearray(len(table))  # 1 = the store has seen the row
        # the store's arguments per row as Python lists (customer, terminal, event second,
        # amount), read per record without a NumPy call; ids share one int object per key
        event_s = np.floor(table.event_time_s).astype(np.int64)  # the store wants int seconds
        self._args = (
            _interned(table.customer_id),
            _interned(table.terminal_id),
            event_s.tolist(),
            table.amount.tolist(),
        )

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        enriched = self.enriched
        todo = [r for r in row_list if not enriched[r]]  # redelivered rows were already seen
        if not todo:
            return
        if len(todo) != len(row_list):
            rows = np.array(todo, dtype=np.int64)
        update = self.store.update
        customer, terminal, event_s, amount = self._args
        flat: list[float] = []
        for r in todo:
            flat += update(customer[r], terminal[r], event_s[r], amount[r])
            enriched[r] = 1
        # one write per batch (rows are distinct: Ledger.fresh)
        n = len(todo)
        self.features[rows] = np.fromiter(flat, np.float64, len(flat)).reshape(n, len(flat) // n)


class DetectorHandler(_Stage):
    """fraud-detector: one ``predict_proba`` per micro-batch with the registry's model."""

    stage = Stage.DETECTOR

    def __init__(
        self,
        table: TxTable,
        ledger: Ledger,
        topic_in: Topic,
        topic_out: Topic,
        features: np.ndarray,
        model: Any,
        version: int,
    ) -> None:
        super().__init__(table, ledger, topic_in, topic_out)
        self.features = features
        self.model = model
        self.version = version
        # the fitted model's own parameters, without sklearn's per-call checks (sim.scoring)
        self.score = compile_scorer(model)

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        self.ledger.score[rows] = self.score(self.features[rows])
        self.ledger.model_version[rows] = self.version


class AlertHandler(_Stage):
    """alert-service: threshold + daily card budget, idempotent by transaction id."""

    stage = Stage.ALERT

    def __init__(
        self, table: TxTable, ledger: Ledger, topic_in: Topic, policy: AlertPolicy
    ) -> None:
        super().__init__(table, ledger, topic_in, None)
        self.policy = policy
        self.day = (table.event_time_s // 86400).astype(np.int64)

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        led, decide = self.ledger, self.policy.decide
        alerted = [
            decide(d, c, s)
            for d, c, s in zip(
                self.day[rows].tolist(),
                self.table.customer_id[rows].tolist(),
                led.score[rows].tolist(),
                strict=True,
            )
        ]
        led.alerted[rows] = alerted
        led.n_alerted += sum(alerted)


class LabelTable:
    """Labels to publish, sorted by due event time: terminal, tx event time (s), fraud, due (s)."""

    def __init__(
        self, terminal: np.ndarray, event_time_s: np.ndarray, fraud: np.ndarray, delay_s: float
    ) -> None:
        order = np.argsort(event_time_s, kind="stable")
        self.terminal = np.asarray(terminal, dtype=np.int64)[order]
        self.event_time_s = np.asarray(event_time_s, dtype=np.float64)[order]
        self.fraud = np.asarray(fraud, dtype=np.int64)[order]
        self.event_second = np.floor(self.event_time_s).astype(np.int64)  # the store's unit
        # terminal, event second and label per row, shape (3, n): one gather per poll
        self.columns = np.stack([self.terminal, self.event_second, self.fraud])
        self.due_s = self.event_time_s + delay_s
        self.published = 0

    def __len__(self) -> int:
        return len(self.due_s)

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
    topic: Topic,
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


class LabelHandler:
    """The feature store's label consumer: ``FeatureStore.add_labels`` per poll.

    The labels of a poll reach the store when the poll's service ends (:meth:`finish`), so a
    crash under at-most-once loses them: :meth:`drop` counts them in ``ledger.labels_lost``
    (the terminal risk of later transactions misses them). Labels are not transactions: they
    are outside the conservation of transactions.
    """

    def __init__(self, labels: LabelTable, store: Any, ledger: Ledger) -> None:
        self.labels = labels
        self.store = store
        self.ledger = ledger
        self.applied = bytearray(len(labels))  # 1 = already given to the store

    def begin(self, records: list[int], pod: str) -> list[int]:
        applied = self.applied
        return [r for r in records if not applied[r]]  # a rewind re-delivers applied labels

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        applied = self.applied
        fresh = [r for r in rows if not applied[r]]  # another consumer may have applied some
        for r in fresh:
            applied[r] = 1
        if fresh:
            self.store.add_labels(*self.labels.columns[:, fresh].tolist())
        return None

    def drop(self, records: list[int], reason: str) -> None:
        """Count the labels of a batch lost in a crash (at-most-once) that never reached the
        store."""
        applied = self.applied
        self.ledger.labels_lost += len({r for r in records if not applied[r]})
