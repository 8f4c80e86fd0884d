"""The event bus: Apache Kafka (the default), Amazon SQS with SNS fan-out, or RabbitMQ.

``sim.bus.factory`` builds the bus of a scenario's ``bus.kind`` (the one place that chooses).

- ``sim.bus.topic``: partitioned append-only logs, keyed partitioning, log-end offsets, bounded
  partitions that block the producer or shed (``overflow``);
- ``sim.bus.retention``: records deleted after ``retention_s``, and where a lagging group
  resumes (``auto.offset.reset``);
- ``sim.bus.group``: consumer groups (committed offsets per group and partition, lag,
  at-least-once / at-most-once delivery, each record's delivery attempt);
- ``sim.bus.rebalance``: membership, eager / cooperative rebalance pauses, the session timeout
  of a crashed member, eviction after ``max.poll.interval.ms``;
- ``sim.bus.assignment``: the assignment strategies (range, round-robin, sticky,
  cooperative-sticky), pure functions;
- ``sim.bus.producer``: a producing service's per-pod buffer in front of a full topic;
- ``sim.bus.linger``: the one wait for records, ``ready(member, min_records, max_wait_s)``
  (the linger of ``fetch_min_records`` / ``fetch_max_wait_s``), for appends and schedules;
- ``sim.bus.feed``: a producer known in advance (the precomputed fast path);
- ``sim.bus.queue``, ``sim.bus.message``, ``sim.bus.sqs``, ``sim.bus.rabbitmq``,
  ``sim.bus.fanout``: the other bus kinds, an SQS / RabbitMQ queue per consuming service fed by
  an SNS topic / fanout exchange;
- ``sim.bus.client``: the narrow protocols (:class:`Consumer`, :class:`Producer`) through which
  the pods and services use the bus, so the same code could run against a real broker.

Records on the bus are row numbers of the run's transaction table (see ``docs/architecture.md``).
"""

from __future__ import annotations

from sim.bus.client import BusClient, Consumer, Producer
from sim.bus.fanout import Fanout
from sim.bus.feed import ScheduledFeed, ScheduledProducer
from sim.bus.fetched import Fetched
from sim.bus.group import ConsumerGroup, Delivery, Member
from sim.bus.rabbitmq import RabbitQueue
from sim.bus.sqs import SqsQueue
from sim.bus.topic import Topic

__all__ = [
    "BusClient",
    "Consumer",
    "ConsumerGroup",
    "Delivery",
    "Fetched",
    "Member",
    "Producer",
    "ScheduledFeed",
    "ScheduledProducer",
    "Topic",
    "Fanout",
    "RabbitQueue",
    "SqsQueue",
]
