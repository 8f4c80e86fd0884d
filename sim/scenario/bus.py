"""The bus of a scenario: its kind (Kafka, SQS, RabbitMQ), its topics and each flavour's settings.

Defaults are the real systems':

- Apache Kafka 3.x/4.x clients: ``partition.assignment.strategy`` range (the first of the
  default list ``[RangeAssignor, CooperativeStickyAssignor]``), the eager rebalance protocol,
  ``session.timeout.ms`` 45 s, ``max.poll.interval.ms`` 300 s, ``auto.offset.reset`` latest,
  ``log.retention.hours`` 168;
- Amazon SQS: standard queues, visibility timeout 30 s (1 s-12 h here; SQS allows 0), long
  polling up to 20 s, at most 10 messages per ``ReceiveMessage``, retention 4 days (1 min-14
  days), no redrive policy unless ``max_receive_count`` (1-1000) is given;
- RabbitMQ 4.x quorum queues: ``delivery-limit`` 20, ``consumer_timeout`` 30 min; prefetch
  (``basic.qos``) 250, Spring AMQP's default (RabbitMQ's own 0 means unlimited).

A block for another kind (``bus.sqs`` on a Kafka bus) is an error naming it; the block of the
scenario's kind is filled with its defaults, so the effective scenario shows every value used.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sim.scenario.base import Frozen as _Frozen
from sim.scenario.base import fill_kind_block, refuse_other_kind
from sim.scenario.deployments import Overflow

__all__ = [
    "BusKind",
    "BusSpec",
    "KafkaSpec",
    "RabbitMQSpec",
    "SqsSpec",
    "TopicSpec",
    "Topics",
    "default_retention_s",
]

BusKind = Literal["kafka", "sqs", "rabbitmq"]


class TopicSpec(_Frozen):
    """A topic: ``partitions`` logs on Kafka, one queue per subscribed service on SQS / RabbitMQ.

    ``capacity_records`` bounds the records not yet committed by the slowest consumer, per
    partition on Kafka and per queue on SQS / RabbitMQ (None = unbounded, >= 1). A produce to
    a full topic waits in the producer (``overflow: block``: back-pressure, see
    ``deployments.*.producer``) or is rejected (``shed``: the records are shed with the reason,
    as RabbitMQ's ``x-overflow: reject-publish`` rejects). ``retention_s`` (None = the bus's
    default, :func:`default_retention_s`) deletes records older than that even when a lagging
    consumer has not read them: their transactions are lost with the reason "retention".
    ``partitions`` is Kafka's; a queue of SQS or RabbitMQ has none (it must be 1 there, the
    default when the kind is not Kafka).
    """

    partitions: int = Field(6, ge=1, le=1024)
    capacity_records: int | None = Field(None, ge=1, le=100_000_000)
    overflow: Overflow = "block"
    retention_s: float | None = Field(None, gt=0.0, le=1e9)


class Topics(_Frozen):
    """The topics wiring the services: transactions → features-ready → fraud-scores, plus labels."""

    transactions: TopicSpec = TopicSpec()
    features_ready: TopicSpec = TopicSpec()
    fraud_scores: TopicSpec = TopicSpec()
    labels: TopicSpec = TopicSpec(partitions=1)
    drift_detected: TopicSpec = TopicSpec(partitions=1)  # only with monitoring.drift


class KafkaSpec(_Frozen):
    """Kafka consumer-group settings (classic protocol, Apache Kafka 3.x/4.x clients).

    ``assignment_strategy``: range (``RangeAssignor``), round_robin (``RoundRobinAssignor``),
    sticky (``StickyAssignor``), cooperative_sticky (``CooperativeStickyAssignor``, KIP-429).
    ``rebalance_protocol``: eager (every member's partitions are revoked and the whole group
    pauses for ``rebalance_pause_s``) or cooperative (only the partitions that move pause;
    needs cooperative_sticky, the only assignor that supports it). A crashed member is noticed
    after ``session_timeout_s`` (the broker's bounds: 6 s-30 min); a member that does not poll
    again within ``max_poll_interval_s`` is evicted and its uncommitted records are delivered
    to another member. ``auto_offset_reset``: where a group whose position was deleted by
    retention resumes (latest: the log end, skipping what remains; earliest: the log start).
    """

    assignment_strategy: Literal["range", "round_robin", "sticky", "cooperative_sticky"] = "range"
    rebalance_protocol: Literal["eager", "cooperative"] = "eager"
    rebalance_pause_s: float = Field(3.0, ge=0.0, le=600.0)
    session_timeout_s: float = Field(45.0, ge=6.0, le=1800.0)
    max_poll_interval_s: float = Field(300.0, ge=1.0, le=86400.0)
    auto_offset_reset: Literal["latest", "earliest"] = "latest"

    @model_validator(mode="after")
    def _protocol(self) -> KafkaSpec:
        if self.rebalance_protocol == "cooperative" and self.assignment_strategy != (
            "cooperative_sticky"
        ):
            raise ValueError(
                "rebalance_protocol: 'cooperative' needs assignment_strategy "
                f"'cooperative_sticky' (the only assignor that supports it), got "
                f"{self.assignment_strategy!r}"
            )
        return self


class SqsSpec(_Frozen):
    """Amazon SQS queue settings (one queue per subscribed service; SNS fans a topic out).

    ``queue_type``: standard (at-least-once, best-effort order) or fifo (ordered per message
    group, the card). A received message is invisible for ``visibility_timeout_s``; not deleted
    by then, it reappears (a duplicate). A receive waits up to ``wait_time_s`` (long polling)
    and returns at most ``max_messages``. After ``max_receive_count`` receives a message moves
    to the queue's dead-letter queue (None: no redrive policy). Both durations are whole
    seconds, as SQS's ``VisibilityTimeout`` and ``WaitTimeSeconds`` are. A visibility timeout
    of 0, which SQS accepts, hands every message to every idle consumer over and over (a
    receive storm); the simulation refuses it (1 s-12 h).
    """

    queue_type: Literal["standard", "fifo"] = "standard"
    visibility_timeout_s: int = Field(30, ge=1, le=43200)
    wait_time_s: int = Field(20, ge=0, le=20)
    max_messages: int = Field(10, ge=1, le=10)
    max_receive_count: int | None = Field(None, ge=1, le=1000)


class RabbitMQSpec(_Frozen):
    """RabbitMQ quorum-queue settings (one queue per subscribed service, bound to a fanout
    exchange per topic).

    A consumer holds at most ``prefetch_count`` unacknowledged deliveries (``basic.qos``); it
    acks after processing. A consumer that dies has its unacked messages requeued (redelivered
    flag set); a delivery held longer than ``consumer_timeout_s`` closes its channel (the same).
    Past ``delivery_limit`` deliveries a message goes to the dead-letter exchange (None: no
    limit, RabbitMQ 3.x).
    """

    prefetch_count: int = Field(250, ge=1, le=65535)
    delivery_limit: int | None = Field(20, ge=1, le=1_000_000)
    consumer_timeout_s: float = Field(1800.0, ge=1.0, le=86400.0)


class BusSpec(_Frozen):
    """Which broker carries the topics, and its settings (only the block of ``kind``)."""

    kind: BusKind = "kafka"
    kafka: KafkaSpec | None = None
    sqs: SqsSpec | None = None
    rabbitmq: RabbitMQSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        return fill_kind_block(data, ("kafka", "sqs", "rabbitmq"), "kafka")

    @field_validator("kafka", "sqs", "rabbitmq")
    @classmethod
    def _of_its_kind(cls, block: Any, info: ValidationInfo) -> Any:
        """Settings for another kind of bus are an error (``bus.sqs`` on a Kafka bus)."""
        return refuse_other_kind(
            block, str(info.field_name), info.data.get("kind"), "bus", "bus.kind",
            " (sim.scenario.on_bus moves a scenario to another bus)",
        )

    @property
    def settings(self) -> KafkaSpec | SqsSpec | RabbitMQSpec:
        """The block of :attr:`kind` (filled with defaults at validation)."""
        block = getattr(self, self.kind)
        assert block is not None  # filled by _fill
        return block


def default_retention_s(kind: str) -> float | None:
    """The retention a topic of a ``kind`` bus has when ``retention_s`` is None (seconds).

    Kafka ``log.retention.hours`` = 168 (604,800 s); SQS ``MessageRetentionPeriod`` = 4 days
    (345,600 s); RabbitMQ: no message TTL (None = never).
    """
    return {"kafka": 604800.0, "sqs": 345600.0}.get(kind)


def bus_errors(sc: Any) -> str | None:
    """The first inconsistency between the bus and the rest of scenario ``sc``, or None.

    - a queue (SQS, RabbitMQ) has no partitions: ``topics.*.partitions`` must be 1;
    - SQS keeps messages 60 s-14 days (``MessageRetentionPeriod``);
    - a retention no longer than one poll of the consumer (its ``fetch_max_wait_s``, the mean
      time it serves one record, or SQS's ``wait_time_s``) would delete records while their
      consumer waits for them or serves the one before;
    - on Kafka, a deterministic poll that always outlasts ``max_poll_interval_s`` would have
      its member evicted after every poll for ever (a livelock).
    """
    from sim.topology import SERVICES, TOPICS

    kind = sc.bus.kind
    if kind == "kafka":
        limit = sc.bus.settings.max_poll_interval_s
        for row in SERVICES:
            dep = getattr(sc.deployments, row.deployment)
            if row.topic_in is not None and dep.service.distribution == "deterministic" and (
                dep.service.fixed_s >= limit
            ):
                return (
                    f"bus.kafka.max_poll_interval_s: every poll of {row.deployment} takes at "
                    f"least its fixed_s ({dep.service.fixed_s:g} s), so its members would be "
                    f"evicted after every poll for ever; must be > {dep.service.fixed_s:g}, got "
                    f"{limit:g}"
                )
    parted = {key: getattr(sc.topics, key).partitions for key in TOPICS.values()}
    parted = {key: n for key, n in parted.items() if n != 1}
    if kind != "kafka" and parted:
        return (
            f"{', '.join(f'topics.{key}.partitions' for key in parted)}: a {kind} queue has no "
            f"partitions, must be 1 (got {', '.join(map(str, parted.values()))}); leave them "
            "out (a topic on a queue bus has 1) or use sim.scenario.on_bus"
        )
    for name, key in TOPICS.items():
        spec = getattr(sc.topics, key)
        if spec.retention_s is None:
            continue
        if kind == "sqs" and not 60.0 <= spec.retention_s <= 1209600.0:
            return (
                f"topics.{key}.retention_s: SQS keeps messages 60 s to 14 days "
                f"(1209600 s), got {spec.retention_s:g}"
            )
        for row in SERVICES:
            if row.topic_in != name:
                continue
            dep = getattr(sc.deployments, row.deployment)
            poll = dep.fetch_max_wait_s
            what = f"deployments.{row.deployment}.fetch_max_wait_s"
            one = dep.service.fixed_s + dep.service.per_record_s  # serving one record
            if one > poll:
                poll, what = one, f"the mean service time of one record at {row.deployment}"
            if kind == "sqs" and sc.bus.settings.wait_time_s > poll:
                poll, what = sc.bus.settings.wait_time_s, "bus.sqs.wait_time_s"
            if spec.retention_s <= poll:
                return (
                    f"topics.{key}.retention_s: must be longer than one poll of its consumer "
                    f"({what} = {poll:g} s), got {spec.retention_s:g}"
                )
    return None
