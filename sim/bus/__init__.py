"""The event bus, with Apache Kafka's semantics: topics, consumer groups, scheduled feeds.

- ``sim.bus.topic``: partitioned append-only logs, keyed partitioning, log-end offsets, bounded
  partitions that block the producer;
- ``sim.bus.group``: consumer groups (committed offsets per group and partition, lag,
  round-robin assignment, rebalance pauses, at-least-once / at-most-once delivery) and the wait
  for records (including the linger of ``fetch_min_records`` / ``fetch_max_wait_s``);
- ``sim.bus.feed``: a producer known in advance (the precomputed fast path).

Records on the bus are row numbers of the run's transaction table (see ``docs/architecture.md``).
"""

from __future__ import annotations

from sim.bus.feed import ScheduledFeed, ScheduledProducer
from sim.bus.group import ConsumerGroup, Delivery, Fetched, Member
from sim.bus.topic import Topic

__all__ = [
    "ConsumerGroup",
    "Delivery",
    "Fetched",
    "Member",
    "ScheduledFeed",
    "ScheduledProducer",
    "Topic",
]
