"""Broker availability: which partitions of which topic take no produce and serve no fetch now.

Apache Kafka: while a partition has no leader (its broker is down and no in-sync replica has
taken over), a produce to it fails with ``LEADER_NOT_AVAILABLE`` / ``NOT_LEADER_OR_FOLLOWER``
and a fetch from it likewise. The producer retries internally and holds the records in its
accumulator (``buffer.memory``); ``send`` blocks once that is full, for up to
``max.block.ms``. A consumer sees nothing new on the partition (its lag there stays or grows)
while its other partitions flow. On Amazon SQS / RabbitMQ a broker outage makes the whole queue
unavailable (a queue has no partitions to fail alone).

The faults ``broker_outage`` (``topics``; empty: every topic) and ``partition_unavailable``
(``topic``, ``partition``) of ``scenario.faults`` open the windows; :func:`broker_faults`
drives them from the run's fault schedule (:func:`sim.faults.schedule.occurrences`) and logs
the incidents ``broker_unavailable`` / ``broker_available`` (target ``topic[:partition]``).
:class:`Availability` answers the bus's questions (:meth:`Availability.down`) and gives the
SimPy event that fires when a partition is back (:meth:`Availability.back`). Where it acts:

- a topic object (``sim.bus.Topic``, ``sim.bus.Fanout``) with an :attr:`availability` has no
  room on a partition that is down (``room`` is 0, ``space`` is the back event), so a producer
  buffer (``sim.bus.producer``) holds the records for it, to its bound; a plain ``send`` to it
  blocks until it is back (back-pressure), also on an unbounded topic;
- a consumer group (``sim.bus.group``) and a queue (``sim.bus.queue``) fetch nothing from a
  partition / queue that is down; when it is back the topic wakes the waiting consumers
  (``available_again``).

The event path is taken for a producer a broker fault can hold back (``sim.engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import simpy

from sim.process import ProcessGenerator
from sim.topology import TOPICS

__all__ = ["Availability", "attach", "broker_fault_topics", "broker_faults"]

BROKER_KINDS = ("broker_outage", "partition_unavailable")
"""The fault kinds acting here."""


def _hit(fault: Any) -> list[tuple[str, int | None]]:
    """(topic, partition) pairs a broker fault takes down (partition None: all of them)."""
    if fault.kind == "broker_outage":
        return [(t, None) for t in (fault.topics or tuple(TOPICS))]
    if fault.kind == "partition_unavailable":
        return [(str(fault.topic), int(fault.partition))]
    return []


def broker_fault_topics(scenario: Any) -> set[str]:
    """Names of the topics a broker fault of ``scenario.faults`` may take down.

    >>> from sim.scenario import Scenario
    >>> sc = Scenario.from_dict({"faults": [{"kind": "broker_outage", "at_s": 1.0,
    ...                                      "topics": ["labels"]}]})
    >>> sorted(broker_fault_topics(sc)), broker_fault_topics(Scenario())
    (['labels'], set())
    """
    return {t for f in scenario.faults for t, _ in _hit(f)}


class Availability:
    """Which partitions of which topics are down: a count of open windows per partition.

    Parameters
    ----------
    env : simpy.Environment
    topics : mapping of str to topic object
        The topics the windows may hit, by name (each with ``n_partitions`` and
        ``available_again(partitions)``).

    Attributes
    ----------
    unavailable_s : dict of str to float
        Partition-seconds each topic has been down, over the windows ended so far.
    """

    def __init__(self, env: simpy.Environment, topics: Mapping[str, Any]) -> None:
        self.env = env
        self.topics = dict(topics)
        self._whole: dict[str, int] = {}  # topic -> open broker outages
        self._part: dict[tuple[str, int], int] = {}  # (topic, partition) -> open windows
        self._back: dict[tuple[str, int], simpy.Event] = {}
        self._since: dict[tuple[str, int], float] = {}  # down since
        self.unavailable_s: dict[str, float] = {}

    def down(self, topic: str, partition: int) -> bool:
        """Whether ``partition`` of ``topic`` takes no produce and serves no fetch now."""
        return self._whole.get(topic, 0) > 0 or self._part.get((topic, partition), 0) > 0

    def any_down(self, topic: str) -> bool:
        """Whether some partition of ``topic`` is down now."""
        return self._whole.get(topic, 0) > 0 or any(
            n > 0 for (t, _), n in self._part.items() if t == topic)

    def back(self, topic: str, partition: int) -> simpy.Event:
        """The event that fires once ``partition`` of ``topic`` is available again (already
        triggered when it is available now)."""
        ev = self._back.get((topic, partition))
        if ev is None:
            ev = self.env.event()
            if self.down(topic, partition):
                self._back[(topic, partition)] = ev
            else:
                ev.succeed()
        return ev

    def begin(self, topic: str, partition: int | None) -> None:
        """Open a window: ``partition`` of ``topic`` (None: every partition) goes down."""
        before = self._down_set(topic)
        if partition is None:
            self._whole[topic] = self._whole.get(topic, 0) + 1
        else:
            self._part[(topic, partition)] = self._part.get((topic, partition), 0) + 1
        for p in self._down_set(topic) - before:
            self._since[(topic, p)] = self.env.now

    def end(self, topic: str, partition: int | None) -> None:
        """Close a window opened by :meth:`begin`; the partitions now back fire their
        :meth:`back` events and the topic wakes its consumers."""
        before = self._down_set(topic)
        if partition is None:
            self._whole[topic] -= 1
        else:
            self._part[(topic, partition)] -= 1
        up = sorted(before - self._down_set(topic))
        now = self.env.now
        for p in up:
            since = self._since.pop((topic, p), now)
            self.unavailable_s[topic] = self.unavailable_s.get(topic, 0.0) + now - since
            ev = self._back.pop((topic, p), None)
            if ev is not None:
                ev.succeed()
        if up:
            self.topics[topic].available_again(up)

    def _down_set(self, topic: str) -> set[int]:
        n = self.topics[topic].n_partitions
        return {p for p in range(n) if self.down(topic, p)}


def attach(
    env: simpy.Environment, scenario: Any, topics: Mapping[str, Any]
) -> Availability | None:
    """Give the topics a broker fault may hit one :class:`Availability` (``topic.availability``)
    and their producing service its producer buffers on them (``sim.bus.producer``: records
    wait there while a partition is down). None when ``scenario`` has no broker fault.

    Call it right after ``sim.bus.factory.make_topics``, before the services read
    ``topic.buffers``.
    """
    from sim.bus.producer import producer_buffers

    hit = broker_fault_topics(scenario) & set(topics)  # drift-detected: with monitoring.drift
    if not hit:
        return None
    availability = Availability(env, {name: topics[name] for name in hit})
    for name in sorted(hit):
        topics[name].availability = availability
        topics[name].buffers = producer_buffers(topics[name])
    return availability


def _target(topic: str, partition: int | None) -> str:
    return topic if partition is None else f"{topic}:{partition}"


def broker_faults(
    env: simpy.Environment,
    occ: Sequence[Any],
    availability: Availability,
    incidents: Callable[..., None],
) -> ProcessGenerator:
    """Open and close the window of each broker fault of ``occ`` on time (a SimPy process
    body), logging ``broker_unavailable`` (with the window's ``duration_s``) and
    ``broker_available`` per topic (``topic[:partition]``).

    Parameters
    ----------
    occ : sequence of sim.faults.schedule.Occurrence
        The run's fault schedule (other kinds are ignored).
    """
    moves: list[tuple[float, int, int, Any]] = []  # (time, 0 = begin / 1 = end, seq, occurrence)
    for i, o in enumerate(x for x in occ if x.kind in BROKER_KINDS):
        moves.append((o.start_s, 0, i, o))
        moves.append((o.end_s, 1, i, o))
    moves.sort(key=lambda m: (m[0], m[2], m[1]))  # a zero-length window begins before it ends
    for t, end, _, o in moves:
        if t > env.now:
            yield env.timeout(t - env.now)
        for topic, partition in _hit(o.fault):
            if topic not in availability.topics:
                continue
            target = _target(topic, partition)
            if end:
                availability.end(topic, partition)
                incidents("broker_available", target, f"fault {o.index} ({o.kind}) ended")
            else:
                what = ("no leader (LEADER_NOT_AVAILABLE)" if partition is not None
                        else "brokers down")
                availability.begin(topic, partition)
                incidents("broker_unavailable", target,
                          f"fault {o.index} ({o.kind}): {what}, no produce / fetch",
                          o.end_s - o.start_s)
