"""The producer side of a queue bus: an SNS topic / a RabbitMQ fanout exchange.

A :class:`Fanout` is what a service produces to on an SQS or RabbitMQ bus (the topic object of
``sim.bus.factory``): every record published to it is copied to each subscribed queue (Amazon
SNS delivers a copy to every SQS subscription; a RabbitMQ fanout exchange routes a copy to every
bound queue), so ``fraud-scores`` feeds both the alert-service's queue and the
monitoring-service's. With no subscription a record goes nowhere (SNS, an exchange without a
binding: unroutable), counted in ``unrouted``.

A queue has no partitions (``n_partitions`` is 1); :meth:`Fanout.partition_of` returns each
key itself, the card, which an SQS FIFO queue uses as the message group id.

The topic's bound (``capacity_records``, per queue) and ``overflow``: ``block`` holds the
producer back while a subscribed queue is full (back-pressure, as a publisher waits on
RabbitMQ's flow control; SQS itself has no length bound, the bound stands for the producer's);
``shed`` rejects what a full queue cannot take (RabbitMQ ``x-overflow: reject-publish``: the
publisher gets a ``basic.nack``): ``on_drop(records, "shed", reason)`` names the queue. The other
queues still get their copy. During a broker outage (``sim.bus.availability``) the topic takes
nothing: a publish waits until it is back (or in the producer's buffer, ``sim.bus.producer``).

:func:`queue_topic` and :func:`queue_consumer` build the topic object and each service's queue
for ``sim.bus.factory``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy

from sim.bus.drops import OnDrop, report_drop
from sim.bus.queue import QueueBase
from sim.bus.rabbitmq import RabbitQueue
from sim.bus.sqs import SqsQueue
from sim.scenario import Scenario, default_retention_s
from sim.topology import TOPICS, ServiceRow

__all__ = ["Fanout", "queue_consumer", "queue_topic"]


class Fanout:
    """An SNS topic / a RabbitMQ fanout exchange: the producer side of a queue bus.

    Parameters
    ----------
    env : simpy.Environment
    name : str
        Topic name (``fraud-scores``).
    capacity_records : int or None
        The bound of each subscribed queue (None: unbounded).
    overflow : {"block", "shed"}
        What a publish to a full queue does (see the module docstring).

    Attributes
    ----------
    queues : list of QueueBase
        The subscribed queues, in subscription order.
    published, unrouted : int
        Records published; records published while no queue was subscribed.
    on_drop : OnDrop or None
        Told of records shed by a full queue.
    """

    n_partitions = 1

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        *,
        capacity_records: int | None = None,
        overflow: str = "block",
    ) -> None:
        if overflow not in ("block", "shed"):
            raise ValueError(f"topic {name}: overflow must be block or shed, got {overflow!r}")
        self.env = env
        self.name = name
        self.capacity_records = capacity_records
        self.overflow = overflow
        self.producer_spec: Any = None  # the producing service's (sim.bus.factory)
        self.buffers: Any = None  # its per-pod producer buffers (sim.bus.producer), or None
        self.queues: list[QueueBase] = []
        self.published = 0
        self.unrouted = 0
        self.on_drop: OnDrop | None = None
        self.availability: Any = None  # a broker outage's windows (sim.bus.availability)

    def unavailable(self, partition: int = 0) -> bool:
        """Whether a broker outage has taken the topic and its queues down now (no publish, no
        receive; the same for every key)."""
        a = self.availability
        return a is not None and a.down(self.name, 0)

    def available_again(self, partitions: Sequence[int] = (0,)) -> None:
        """The outage ended: wake the queues' waiting consumers."""
        for q in self.queues:
            q.resume()

    def subscribe(self, queue: QueueBase) -> None:
        """Subscribe ``queue`` (an SNS subscription; a queue binding to the exchange)."""
        self.queues.append(queue)

    def release(self) -> None:
        """Drop the queues' messages (after the run; counters stay)."""
        for q in self.queues:
            q.release()

    def end_offset(self, partition: int = 0) -> int:
        """Records published so far (the counterpart of a Kafka topic's log-end offset)."""
        return self.published

    def room(self, partition: int = 0) -> int:
        """Records every subscribed queue still takes (>= 0; a large number when unbounded);
        the same for every key (``sim.bus.producer`` asks per partition); 0 while down."""
        if self.availability is not None and self.unavailable():
            return 0
        if self.capacity_records is None or not self.queues:
            return 1 << 62
        return max(0, int(min(q.room() for q in self.queues)))

    def space(self, partition: int = 0) -> simpy.Event:
        """An event triggered once the fullest subscribed queue has room again (once the
        topic is back, while a broker outage lasts)."""
        if self.availability is not None and self.unavailable():
            return self.availability.back(self.name, 0)
        return min(self.queues, key=lambda q: q.room()).space()

    def append_many(self, records: Sequence[int], partitions: Sequence[int]) -> None:
        """Publish to every subscribed queue, ignoring the bound."""
        self._publish(self.queues, list(records), list(partitions))

    def drop(self, records: list[int], outcome: str, reason: str) -> None:
        """Report ``records`` dropped on the produce side to :attr:`on_drop`.

        Raises
        ------
        RuntimeError
            No :attr:`on_drop` is wired.
        """
        report_drop(self.on_drop, f"topic {self.name}", records, outcome, reason)

    def partition_of(self, keys: np.ndarray) -> np.ndarray:
        """The key of each record itself (the card; an SQS FIFO message group id)."""
        return np.array(keys, dtype=np.int64)

    def send(
        self, records: Sequence[int], partitions: Sequence[int]
    ) -> Generator[simpy.Event, None, None] | None:
        """Publish ``records[i]`` with key ``partitions[i]`` (from :meth:`partition_of`) to
        every subscribed queue.

        Returns
        -------
        None or generator
            None when done at once (shed, or every queue has room); else a SimPy sub-process
            to ``yield from`` that waits while a subscribed queue is full (``block``), or
            while a broker outage lasts.
        """
        recs, keys = list(records), list(partitions)
        if self.availability is not None and self.unavailable():
            return self._blocking(recs, keys)
        if self.capacity_records is None or not self.queues:
            self._publish(self.queues, recs, keys)
            return None
        if self.overflow == "shed":
            self._publish_or_shed(recs, keys)
            return None
        if all(q.room() > 0 for q in self.queues):
            self._publish(self.queues, recs, keys)
            return None
        return self._blocking(recs, keys)

    def produce(
        self, records: np.ndarray, keys: np.ndarray
    ) -> Generator[simpy.Event, None, None]:
        """Publish each record with its key (a SimPy sub-process: ``yield from``), waiting
        while a subscribed queue is full (``block``)."""
        blocking = self.send(np.asarray(records).tolist(), self.partition_of(keys).tolist())
        if blocking is not None:
            yield from blocking

    def _publish(self, queues: list[QueueBase], recs: list[int], keys: list[int]) -> None:
        self.published += len(recs)
        if not queues:
            self.unrouted += len(recs)
        for q in queues:
            q.publish(recs, keys)

    def _blocking(self, recs: list[int], keys: list[int]) -> Generator[simpy.Event, None, None]:
        """Wait until every subscribed queue has room, then publish (a soft bound, as Kafka's
        producer appends a whole batch once the buffer has room); first, until a broker outage
        ends."""
        while True:
            if self.unavailable():
                yield self.space()
                continue
            full = [q for q in self.queues if q.room() <= 0]
            if not full:
                break
            yield full[0].space()
        self._publish(self.queues, recs, keys)

    def _publish_or_shed(self, recs: list[int], keys: list[int]) -> None:
        """Each queue takes what fits; what a full queue rejects is shed, once per record."""
        self.published += len(recs)
        shed: dict[int, str] = {}  # index -> reason (the first queue that rejected it)
        for q in self.queues:
            fit = max(0, int(min(q.room(), len(recs))))
            if fit:
                q.publish(recs[:fit], keys[:fit])
            for i in range(fit, len(recs)):
                shed.setdefault(i, q.name)
        if shed:
            by_queue: dict[str, list[int]] = {}
            for i in sorted(shed):
                by_queue.setdefault(shed[i], []).append(recs[i])
            for qname, rows in by_queue.items():
                self.drop(rows, "shed",
                             f"queue {qname} full ({self.capacity_records} records, "
                             "reject-publish)")


def queue_topic(env: simpy.Environment, scenario: Scenario, name: str) -> Fanout:
    """The topic ``name`` (of :data:`sim.topology.TOPICS`) on an SQS / RabbitMQ bus."""
    spec = getattr(scenario.topics, TOPICS[name])
    return Fanout(env, name, capacity_records=spec.capacity_records, overflow=spec.overflow)


def queue_consumer(
    env: simpy.Environment, scenario: Scenario, topic: Fanout, row: ServiceRow, incidents: Any
) -> QueueBase:
    """Service ``row``'s own queue, subscribed to ``topic``: an SQS queue (SNS subscription)
    or a RabbitMQ quorum queue bound to the fanout exchange, per ``scenario.bus.kind``."""
    kind = scenario.bus.kind
    spec = getattr(scenario.topics, TOPICS[topic.name])
    retention = spec.retention_s if spec.retention_s is not None else default_retention_s(kind)
    delivery = getattr(scenario.deployments, row.deployment).delivery
    common: dict[str, Any] = dict(
        delivery=delivery, capacity_records=spec.capacity_records, retention_s=retention
    )
    settings: Any = scenario.bus.settings
    queue: QueueBase
    if kind == "sqs":
        queue = SqsQueue(env, row.service, topic, settings, **common)
    elif kind == "rabbitmq":
        queue = RabbitQueue(env, row.service, topic, settings, on_incident=incidents, **common)
    else:
        raise ValueError(f"bus.kind: {kind!r} has no queues (sqs or rabbitmq)")
    topic.subscribe(queue)
    return queue
