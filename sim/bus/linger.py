"""Waiting for records: the one ``ready(member, min_records, max_wait_s)`` wait of the bus.

A Kafka consumer's fetch waits on the broker until ``fetch.min.bytes`` are available or
``fetch.max.wait.ms`` has elapsed (Apache Kafka consumer configs; defaults 1 byte / 500 ms).
Here records count, not bytes: :func:`ready` returns once ``min_records`` are available to the
member on its assigned partitions, or ``max_wait_s`` after the first of them became available,
or when a rebalance changes the member's assignment or a pause of one of its partitions ends
(the consumer loop then waits out the pause and asks again). Records on a partition paused by a
rebalance (all of them under the eager protocol, the moved ones under the cooperative one) are
not available. With ``min_records <= 1`` or ``max_wait_s <= 0`` it is the plain wait for the
next record.

How the wait is woken depends on who appends to the topic, and is decided here only:

- appends as time passes (``Topic.append`` / ``Topic.produce``): the member registers an event
  with the topic (``Topic.wait``), triggered by the append after which enough records are
  available (``Topic.wake``);
- a producer known in advance (``Topic.scheduled``, the fast path): the moment is known, so one
  timer is set for it (``ScheduledProducer.next_due``) and the producer is caught up to that
  time when it rings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import simpy

from sim.process import ProcessGenerator

if TYPE_CHECKING:
    from sim.bus.feed import ScheduledProducer
    from sim.bus.group import ConsumerGroup, Member

__all__ = ["ready", "wait_for_records"]


def wait_for_records(group: ConsumerGroup, member: Member, min_records: int = 1) -> simpy.Event:
    """One event, triggered by the next append to any of ``member``'s live (not paused)
    partitions after which at least ``min_records`` are available to it; a rebalance or the end
    of a partition's pause also triggers it. On a topic fed by
    a schedule, a timer set for that moment triggers it (never, if the schedule never gets
    there).

    Parameters
    ----------
    group : ConsumerGroup
    member : Member
    min_records : int
        Records that must be available (>= 1).

    Returns
    -------
    simpy.Event
    """
    topic = group.topic
    ev = group.env.event()
    member.waiting = ev
    live = group.live(member)  # a paused partition's records wait for its pause end, which
    sched = topic.scheduled  # wakes the member (as a rebalance does)
    if sched is not None:  # only the schedule appends: one timer, no waiters
        if live:
            need = max(1, min_records - group.available(member))
            _alarm(group.env, sched, live, need, ev)
        return ev
    ready_now = None if min_records <= 1 else (lambda: group.available(member) >= min_records)
    for p in live:
        topic.wait(p, ev, ready_now)
    return ev


def _alarm(
    env: simpy.Environment,
    sched: ScheduledProducer,
    partitions: Sequence[int],
    count: int,
    event: simpy.Event,
) -> None:
    """Trigger ``event`` when ``sched`` has appended ``count`` more records on ``partitions``
    (never, if it never will), after catching it up to that time."""
    t = sched.next_due(partitions, count)
    if t == math.inf:
        return

    def ring(_timer: simpy.Event) -> None:
        sched.catch_up(t)
        if not event.triggered:
            event.succeed()

    env.timeout(max(0.0, t - env.now)).callbacks.append(ring)


def ready(
    group: ConsumerGroup, member: Member, min_records: int = 1, max_wait_s: float = 0.0
) -> Iterable[simpy.Event]:
    """Wait until ``min_records`` are available to ``member`` or ``max_wait_s`` has passed since
    the first one was (Kafka's ``fetch.min.bytes`` / ``fetch.max.wait.ms``, in records); a
    rebalance ends the wait early. Events to ``yield from ready(...)`` in a SimPy process (none
    when records are there already).

    Parameters
    ----------
    group : ConsumerGroup
    member : Member
    min_records : int
        Records to wait for; <= 1 (or ``max_wait_s <= 0``) waits for the next record only.
    max_wait_s : float
        Longest wait after the first record is available, seconds.
    """
    if min_records > 1 and max_wait_s > 0:
        return _linger(group, member, min_records, max_wait_s)
    if group.available(member):
        return ()
    return (wait_for_records(group, member),)  # (a plain function: no generator frame per wait)


def _linger(
    group: ConsumerGroup, member: Member, min_records: int, max_wait_s: float
) -> ProcessGenerator:
    """The linger: up to ``max_wait_s`` after the first record, until ``min_records``."""
    env = group.env
    if not member.partitions:
        return
    have = group.available(member)
    if have >= min_records:
        return
    sched = group.topic.scheduled
    if sched is not None:
        first = env.now if have else sched.next_due(group.live(member), 1)
        if first != math.inf:
            yield from _linger_scheduled(group, member, sched, have, first, min_records,
                                         max_wait_s)
            return
    if have == 0:  # nothing at all: wait for the first record
        yield wait_for_records(group, member)
        if group.available(member) == 0:  # woken by a rebalance: start again
            return
    timer = env.timeout(max_wait_s)
    while not timer.processed and group.available(member) < min_records:
        # woken by the append that makes min_records available, by the timer, or by a
        # rebalance
        ev = wait_for_records(group, member, min_records)
        if timer.callbacks is not None:
            timer.callbacks.append(lambda _t, ev=ev: None if ev.triggered else ev.succeed())
        yield ev
        if group.paused(member) or not member.partitions:
            return


def _linger_scheduled(
    group: ConsumerGroup,
    member: Member,
    sched: ScheduledProducer,
    have: int,
    first: float,
    min_records: int,
    max_wait_s: float,
) -> ProcessGenerator:
    """:func:`_linger` on a scheduled topic: timers instead of appends. ``have`` records are
    available now; the first one is (or will be) at ``first``. A wake-up that leaves the
    moment to wait for unchanged (a rebalance or a pause end elsewhere) keeps the timer set,
    as the event path keeps its ``max_wait_s`` timer (so ties between members stay in the
    same order on both paths)."""
    env = group.env
    armed = [math.nan]  # the moment of the timer that counts
    current: list[simpy.Event] = []  # the event the member waits on now
    while True:
        full = sched.next_due(group.live(member), min_records - have)
        until = min(first + max_wait_s, full)
        if until <= env.now:
            sched.catch_up(until)
            return
        woken = env.event()  # by the timer, or by a rebalance (ConsumerGroup._rebalance)
        member.waiting = woken
        current[:] = [woken]
        if until != armed[0]:
            armed[0] = until

            def ring(_t: simpy.Event, until: float = until) -> None:
                if armed[0] != until:  # superseded by a timer for another moment
                    return
                sched.catch_up(until)
                if current and not current[0].triggered:
                    current[0].succeed("timer")

            env.timeout(until - env.now).callbacks.append(ring)
        if (yield woken) == "timer":  # (a rebalance succeeds it with None)
            return
        if group.paused(member) or not member.partitions:
            return
        have = group.available(member)
        if have >= min_records:
            return
        if first > env.now:  # still before the first record: of the new assignment
            first = env.now if have else sched.next_due(group.live(member), 1)
            if first == math.inf:
                return
