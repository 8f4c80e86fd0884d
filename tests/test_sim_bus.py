"""Unit tests of the Kafka-like bus (sim.bus) in tiny SimPy environments."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from sim.bus import ConsumerGroup, Member, Topic


@pytest.fixture
def env() -> simpy.Environment:
    return simpy.Environment()


def _fill(topic: Topic, n: int) -> np.ndarray:
    keys = np.arange(n)
    gen = topic.produce(np.arange(n), keys)
    for _ in gen:  # unbounded: never yields
        raise AssertionError("an unbounded topic must not block")
    return keys


def test_partitioning_is_key_modulo_and_deterministic(env):
    a, b = Topic(env, "a", 4), Topic(env, "b", 4)
    keys = np.array([0, 1, 5, 9, 1234567, 3])
    assert a.partition_of(keys).tolist() == [0, 1, 1, 1, 3, 3]
    assert np.array_equal(a.partition_of(keys), b.partition_of(keys))
    _fill(a, 12)
    assert a.logs[1] == [1, 5, 9]  # records with key % 4 == 1, in append order


def test_commits_are_per_group_and_partition_not_per_consumer(env):
    t = Topic(env, "t", 2)
    _fill(t, 10)
    g1 = ConsumerGroup(env, "g1", t)
    g2 = ConsumerGroup(env, "g2", t)
    m1, m2 = Member("m1"), Member("m2")
    g1.join(m1)
    f = g1.fetch(m1, 3)
    g1.commit(f)
    assert g1.committed[f.ranges[0][0]] == 3
    assert g2.committed == [0, 0]  # another group is independent
    g1.join(m2)  # rebalance: m2 now owns partition 1, the offsets stay with the group
    assert m2.partitions == [1] and m1.partitions == [0]
    assert g1.lag() == 10 - 3
    assert g1.lag(0) == t.end_offset(0) - 3


def test_max_poll_records_and_lag(env):
    t = Topic(env, "t", 1)
    _fill(t, 7)
    g = ConsumerGroup(env, "g", t)
    m = Member("m")
    g.join(m)
    f = g.fetch(m, 3)
    assert f.records == [0, 1, 2]
    assert g.lag() == 7  # fetched but not committed
    g.commit(f)
    assert g.lag() == 4
    assert g.fetch(m, 100).records == [3, 4, 5, 6]
    assert g.fetch(m, 100) is None


def test_at_least_once_redelivers_after_crash(env):
    t = Topic(env, "t", 1)
    _fill(t, 5)
    g = ConsumerGroup(env, "g", t, delivery="at_least_once")
    m = Member("m")
    g.join(m)
    first = g.fetch(m, 3)
    g.rewind(first)  # crash before commit
    again = g.fetch(m, 3)
    assert again.records == first.records
    assert g.committed == [0]


def test_at_most_once_commits_at_poll_so_a_crash_loses(env):
    t = Topic(env, "t", 1)
    _fill(t, 5)
    g = ConsumerGroup(env, "g", t, delivery="at_most_once")
    m = Member("m")
    g.join(m)
    first = g.fetch(m, 3)
    assert g.committed == [3]
    g.rewind(first)  # no effect: already committed
    assert g.fetch(m, 3).records == [3, 4]


def test_group_uses_at_most_as_many_consumers_as_partitions(env):
    t = Topic(env, "t", 3)
    g = ConsumerGroup(env, "g", t, rebalance_pause_s=2.0)
    members = [Member(f"m{i}") for i in range(5)]
    for m in members:
        g.join(m)
    assigned = [m.partitions for m in members]
    assert assigned == [[0], [1], [2], [], []]
    assert g.rebalances == 5 and g.paused_until == pytest.approx(2.0)
    g.leave(members[0])
    assert sorted(p for m in members[1:] for p in m.partitions) == [0, 1, 2]


def test_round_robin_assignment_with_fewer_members(env):
    t = Topic(env, "t", 5)
    g = ConsumerGroup(env, "g", t, strategy="round_robin")
    a, b = Member("a"), Member("b")
    g.join(a)
    g.join(b)
    assert a.partitions == [0, 2, 4] and b.partitions == [1, 3]


def test_the_default_strategy_is_range(env):
    t = Topic(env, "t", 5)
    g = ConsumerGroup(env, "g", t)
    a, b = Member("a"), Member("b")
    g.join(a)
    g.join(b)
    assert a.partitions == [0, 1, 2] and b.partitions == [3, 4]


def test_waiting_consumer_wakes_on_append(env):
    t = Topic(env, "t", 2)
    g = ConsumerGroup(env, "g", t)
    m = Member("m")
    g.join(m)
    seen = []

    def consumer():
        while True:
            f = g.fetch(m, 10)
            if f is None:
                yield g.wait_for_records(m)
                continue
            seen.append((env.now, f.records))
            g.commit(f)

    def producer():
        yield env.timeout(5.0)
        t.append(1, [42])
        yield env.timeout(1.0)
        t.append(0, [7, 8])

    env.process(consumer())
    env.process(producer())
    env.run(until=10)
    assert seen == [(5.0, [42]), (6.0, [7, 8])]


def test_bounded_partition_blocks_the_producer_until_a_commit(env):
    t = Topic(env, "t", 1, capacity_records=2)
    g = ConsumerGroup(env, "g", t)
    m = Member("m")
    g.join(m)
    produced = []

    def producer():
        for i in range(4):
            yield from t.produce(np.array([i]), np.array([0]))
            produced.append((env.now, i))

    def consumer():
        yield env.timeout(3.0)
        g.commit(g.fetch(m, 1))

    env.process(producer())
    env.process(consumer())
    env.run(until=10)
    assert produced == [(0.0, 0), (0.0, 1), (3.0, 2)]  # the 4th waits for another commit
    assert t.backlog(0) == 2


def _ready_times(env, topic, group, member, min_records, max_wait_s, until=20.0):
    """Start a consumer that waits with ``group.ready`` and drains; its wake-ups (time,
    records available) are returned."""
    woke = []

    def consumer():
        while env.now < until:
            yield from group.ready(member, min_records, max_wait_s)
            woke.append((env.now, group.available(member)))
            fetched = group.poll(member, 100)
            if fetched is not None:
                group.commit(fetched)
            if len(woke) > 5:
                return

    env.process(consumer())
    return woke


def test_ready_lingers_until_min_records_or_max_wait_on_appends(env):
    t = Topic(env, "t", 2)
    g = ConsumerGroup(env, "g", t)
    m = Member("m")
    g.join(m)
    woke = _ready_times(env, t, g, m, min_records=3, max_wait_s=2.0)

    def producer():
        yield env.timeout(1.0)
        t.append(0, [1])  # first record at 1: the wait ends by 3 at the latest
        yield env.timeout(0.5)
        t.append(1, [2])
        yield env.timeout(3.5)  # at 5
        t.append(0, [3, 4])
        yield env.timeout(0.25)
        t.append(1, [5])  # the third record of the second wait, at 5.25

    env.process(producer())
    env.run(until=20)
    assert woke[:2] == [(3.0, 2), (5.25, 3)]


def test_ready_on_a_scheduled_topic_sets_one_timer_for_the_same_moments(env):
    from sim.bus import ScheduledFeed

    t = Topic(env, "t", 2)
    g = ConsumerGroup(env, "g", t)
    m = Member("m")
    g.join(m)
    ScheduledFeed(t, np.array([1.0, 1.5, 5.0, 5.0, 5.25]), np.array([1, 2, 3, 4, 5]),
                  np.array([0, 1, 0, 0, 1]))
    woke = _ready_times(env, t, g, m, min_records=3, max_wait_s=2.0)
    env.run(until=20)
    assert woke[:2] == [(3.0, 2), (5.25, 3)]


def test_ready_without_linger_waits_for_one_record_and_returns_at_once_if_there(env):
    t = Topic(env, "t", 1)
    g = ConsumerGroup(env, "g", t)
    m = Member("m")
    g.join(m)
    woke = _ready_times(env, t, g, m, min_records=1, max_wait_s=0.0)
    env.timeout(2.0).callbacks.append(lambda _e: t.append(0, [7]))
    env.run(until=20)
    assert woke[0] == (2.0, 1)
