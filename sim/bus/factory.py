"""The one place that builds the bus of a scenario: its topics and each service's consumer.

``bus.kind`` picks the broker (``sim.scenario.bus``):

- ``kafka``: a :class:`sim.bus.Topic` of partitioned logs per topic, a
  :class:`sim.bus.ConsumerGroup` per consuming service (``group.id`` = the service name);
- ``sqs``: an SNS topic per topic fanning out to one SQS queue per subscribed service;
- ``rabbitmq``: a fanout exchange per topic bound to one quorum queue per subscribed service.

Whatever the kind, a topic object has ``name``, ``n_partitions`` (1 for a queue),
``partition_of``, ``send`` / ``produce`` (the :class:`sim.bus.Producer` protocol), ``release``
and ``on_drop``; a consumer implements :class:`sim.bus.Consumer`. The services and pods never
learn which kind they run on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy

from sim.bus.fanout import queue_consumer, queue_topic
from sim.bus.group import ConsumerGroup
from sim.bus.topic import Topic
from sim.scenario import Scenario
from sim.topology import DRIFT_TOPIC, TOPICS, ServiceRow

__all__ = ["make_consumer", "make_topics"]

IncidentSink = Callable[..., None]


def make_topics(env: simpy.Environment, scenario: Scenario) -> dict[str, Any]:
    """Every topic of :data:`sim.topology.TOPICS` on the scenario's bus, by topic name
    (``drift-detected`` only with ``monitoring.drift``)."""
    kind = scenario.bus.kind
    names = {n: k for n, k in TOPICS.items() if n != DRIFT_TOPIC or scenario.monitoring.drift}
    if kind == "kafka":
        return {name: _kafka_topic(env, scenario, name, key) for name, key in names.items()}
    # sqs / rabbitmq: an SNS topic / a fanout exchange per topic
    return {name: _with_producer(queue_topic(env, scenario, name), scenario)
            for name in names}


def make_consumer(
    env: simpy.Environment,
    scenario: Scenario,
    topic: Any,
    row: ServiceRow,
    incidents: IncidentSink,
) -> Any:
    """The consumer of service ``row`` on ``topic`` (a Kafka consumer group, or the service's
    own queue subscribed to the topic), reporting rebalances and the like to ``incidents``."""
    dspec = getattr(scenario.deployments, row.deployment)
    kind = scenario.bus.kind
    if kind == "kafka":
        kafka = scenario.bus.settings
        group = ConsumerGroup(
            env, row.service, topic, delivery=dspec.delivery,
            rebalance_pause_s=kafka.rebalance_pause_s,
            strategy=kafka.assignment_strategy, protocol=kafka.rebalance_protocol,
            session_timeout_s=kafka.session_timeout_s,
            max_poll_interval_s=kafka.max_poll_interval_s,
        )
        group.on_incident = incidents
        return group
    # sqs / rabbitmq: the service's own queue, subscribed to the topic
    return queue_consumer(env, scenario, topic, row, incidents)


def _kafka_topic(env: simpy.Environment, scenario: Scenario, name: str, key: str) -> Topic:
    """Topic ``name`` (scenario key ``topics.<key>``): its bound and overflow, a retention when
    it can act within the run (``sim.bus.retention``), and the settings of the producer of the
    service producing to it (``Topic.producer_spec``, read by ``sim.bus.producer``)."""
    from sim.bus.retention import Retention, retention_s

    spec = getattr(scenario.topics, key)
    topic = Topic(env, name, spec.partitions, spec.capacity_records, overflow=spec.overflow)
    keep_s = retention_s(scenario, key)
    if keep_s is not None:
        Retention(topic, keep_s, scenario.bus.settings.auto_offset_reset)
    return _with_producer(topic, scenario)


def _with_producer(topic: Any, scenario: Scenario) -> Any:
    """Give ``topic`` the producer buffers of the service producing to it
    (``deployments.<service>.producer``; ``topic.buffers``, None when a plain send does the
    same: :func:`sim.bus.producer.producer_buffers`)."""
    from sim.bus.producer import producer_buffers
    from sim.topology import SERVICES

    for row in SERVICES:
        if row.topic_out == topic.name:
            topic.producer_spec = getattr(scenario.deployments, row.deployment).producer
    topic.buffers = producer_buffers(topic)
    return topic
