"""The narrow interface between the bots and the bus: what a consumer pod and a service may do.

The pods (``sim.pods``) and services (``sim.services``) use the bus only through these two
protocols, never its logs, positions or pause fields, so the same service code could run
against a real broker as well as the simulated one (:class:`sim.bus.ConsumerGroup` and
:class:`sim.bus.Topic` implement them). The operations are those every broker's client has:

- ``join`` / ``leave`` / ``crash``: Kafka ``subscribe`` / ``close`` / a member that stops
  heartbeating; Redis Streams ``XGROUP
  CREATECONSUMER`` / ``DELCONSUMER``; RabbitMQ ``basic.consume`` / ``basic.cancel``;
- ``ready``: Kafka's ``fetch.min.bytes`` / ``fetch.max.wait.ms``; ``XREADGROUP ... BLOCK``;
- ``poll``: Kafka ``poll`` (``max.poll.records``); ``XREADGROUP ... COUNT``; deliveries within
  the ``basic.qos`` prefetch window;
- ``commit``: Kafka ``commitSync`` (committed offsets); ``XACK``; ``basic.ack``;
- ``rewind``: Kafka ``seek`` to the committed offset; pending entries claimed again
  (``XAUTOCLAIM``); ``basic.nack`` with requeue;
- ``paused``: a Kafka rebalance in progress (no such pause on the others: 0);
- ``send`` / ``produce``: Kafka producer ``send`` (with a partition / a key); ``XADD``;
  ``basic.publish``.

A record is a row number of the run's transaction table; each :class:`Fetched` carries the
records' delivery attempts (``Fetched.attempts``). Time is the SimPy environment ``env`` the
client runs on (the simulation's, or a ``simpy.rt.RealtimeEnvironment`` next to a live broker).

Records the bus itself drops (a produce rejected by a full topic, records deleted by retention
before a group read them, messages moved to a dead-letter queue) are reported to the
``on_drop(records, outcome, reason)`` callable of the topic (produce side) or the consumer
(consume side), :data:`OnDrop`; ``outcome`` is ``"shed"``, ``"lost"`` or ``"dead_lettered"``.
The wiring (``sim.record.drops``) sets it, so every such record is counted with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import numpy as np
import simpy

from sim.bus.drops import OnDrop, report_drop
from sim.bus.fetched import Fetched
from sim.bus.group import Member
from sim.process import ProcessGenerator

__all__ = ["BusClient", "Consumer", "OnDrop", "Producer", "ProducerBuffer", "report_drop"]



class BusClient(Protocol):
    """Anything on the bus: it runs on the SimPy environment :attr:`env`."""

    env: simpy.Environment


class Consumer(BusClient, Protocol):
    """A consumer group's side of the bus, as one pod's consumers use it.

    ``topic_name`` is the subscribed topic's name (for messages).
    """

    @property
    def topic_name(self) -> str: ...

    def join(self, member: Member) -> None:
        """Add ``member`` to the group (a rebalance)."""

    def leave(self, member: Member) -> None:
        """Remove ``member`` gracefully (scale-down: Kafka's ``LeaveGroup``; a rebalance)."""

    def crash(self, member: Member) -> None:
        """``member`` died without leaving (a pod crash): Kafka notices it only after
        ``session.timeout.ms`` (its partitions idle meanwhile); RabbitMQ requeues its unacked
        deliveries when its channel closes; SQS notices nothing (its messages reappear after
        the visibility timeout)."""

    def paused(self, member: Member) -> float:
        """Seconds ``member`` must wait before polling (a rebalance in progress); 0.0 if none."""

    def ready(
        self, member: Member, min_records: int = 1, max_wait_s: float = 0.0
    ) -> Iterable[simpy.Event]:
        """Events to ``yield from`` in a SimPy process (a sub-process, or none) that end once
        ``min_records`` are available to ``member``, ``max_wait_s`` after the first one was
        (Kafka's ``fetch.min.bytes`` / ``fetch.max.wait.ms``), or on a rebalance.
        ``min_records <= 1`` or ``max_wait_s <= 0`` waits for one record."""

    def poll(self, member: Member, max_records: int) -> Fetched | None:
        """Up to ``max_records`` records (Kafka's ``max.poll.records``), or None if none."""

    def commit(self, fetched: Fetched) -> bool:
        """Commit ``fetched`` as processed (at-least-once commits after processing). False when
        the broker refuses it (Kafka's ``CommitFailedException`` after the member was evicted;
        an SQS receipt handle whose visibility timeout expired): its records will be delivered
        again."""

    def lag(self) -> int:
        """Records not yet committed (Kafka consumer lag; SQS visible + in flight; RabbitMQ
        ready + unacked)."""

    def rewind(self, fetched: Fetched) -> bool:
        """Give back an unprocessed ``fetched`` after a crash; True if its records will be
        delivered again (at-least-once), False if they are lost (at-most-once)."""


class Producer(BusClient, Protocol):
    """A topic's producer side, as a service produces to it.

    ``buffers`` are the producing service's per-pod producer buffers
    (``sim.bus.producer.ProducerBuffers``: ``send(pod, records, partitions, done)`` and
    ``crash(pod, lost)``), or None when a plain :meth:`send` does the same.
    """

    buffers: ProducerBuffer | None

    def partition_of(self, keys: np.ndarray) -> np.ndarray:
        """The keyed partitioner: partition of each key (deterministic)."""

    def send(
        self, records: Sequence[int], partitions: Sequence[int]
    ) -> ProcessGenerator | None:
        """Append ``records[i]`` to ``partitions[i]``: None when done at once, else a SimPy
        sub-process to ``yield from`` that blocks while the topic is full (back-pressure)."""

    def produce(self, records: np.ndarray, keys: np.ndarray) -> ProcessGenerator:
        """Append each record to its key's partition: a SimPy sub-process (``yield from``)
        that blocks while the topic is full."""


class ProducerBuffer(Protocol):
    """A producing service's per-pod buffers in front of a full topic (``sim.bus.producer``)."""

    def send(
        self, pod: str, records: Sequence[int], partitions: Sequence[int],
        done: Callable[[], None] | None = None,
    ) -> tuple[ProcessGenerator | None, simpy.Event | None]:
        """Append now where there is room, buffer the rest: ``(blocking, flushed)``, a
        sub-process while the buffer is full and the event that fires once it is flushed."""

    def crash(self, pod: str, lost: bool) -> None:
        """``pod`` crashed: its buffer is gone (its records lost when ``lost``)."""
