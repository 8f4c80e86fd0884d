"""RabbitMQ quorum queues behind a fanout exchange (issue 9, item 3): the prefetch window, ack
after processing, requeue on a crash and on the consumer timeout, the delivery limit then the
dead-letter exchange; the same pipeline on RabbitMQ conserves its transactions."""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from bus_handlers import LogHandler

from sim.bus import Member
from sim.bus.fanout import Fanout
from sim.bus.rabbitmq import RabbitQueue
from sim.pods import Deployment
from sim.scenario import DeploymentSpec, RabbitMQSpec, ServiceTimeSpec


def _queue(env=None, *, delivery="at_least_once", capacity=None, overflow="block", **spec):
    env = env or simpy.Environment()
    topic = Fanout(env, "t", capacity_records=capacity, overflow=overflow)
    drops: list[tuple[list[int], str, str]] = []
    incidents: list[tuple[str, str, str]] = []
    q = RabbitQueue(env, "svc", topic, RabbitMQSpec(**spec), delivery=delivery,
                    capacity_records=capacity,
                    on_incident=lambda k, t, d: incidents.append((k, t, d)))
    q.on_drop = topic.on_drop = lambda r, o, why: drops.append((list(r), o, why))
    topic.subscribe(q)
    return env, topic, q, drops, incidents


def test_a_poll_returns_at_most_the_prefetch_window_left():
    env, topic, q, _, _ = _queue(prefetch_count=5)
    topic.send(list(range(20)), list(range(20)))
    m = Member("m")
    q.join(m)
    a = q.poll(m, 3)
    b = q.poll(m, 100)
    assert len(a.records) == 3 and len(b.records) == 2  # 5 - 3 unacked
    assert q.poll(m, 100) is None  # window full
    assert q.available(m) == 0 and q.ready_count() == 15
    q.commit(a)
    assert len(q.poll(m, 100).records) == 3


def test_in_flight_per_consumer_never_exceeds_prefetch():
    """Consumers that keep polling while earlier batches wait for their ack (as a consumer
    whose commit waits for its producer's buffer does)."""
    env, topic, q, _, _ = _queue(prefetch_count=7)
    rng = np.random.default_rng(3)
    peak: dict[str, int] = {}
    acked = []

    def ack_later(f):
        yield env.timeout(float(rng.exponential(2.0)))
        assert q.commit(f)
        acked.extend(f.records)

    def consumer(m):
        q.join(m)
        while True:
            f = q.poll(m, 4)
            if f is None:
                yield from q.ready(m)
                continue
            peak[m.name] = max(peak.get(m.name, 0), q.unacked(m))
            env.process(ack_later(f))
            yield env.timeout(0.1)

    for i in range(3):
        env.process(consumer(Member(f"c{i}")))
    for t in np.arange(0, 50, 0.05):
        env.timeout(float(t)).callbacks.append(lambda _e: topic.send([0], [0]))
    env.run(until=200)
    assert len(acked) == 1000 and q.lag() == 0
    assert max(peak.values()) == 7  # the window is reached, never passed


def test_a_crash_requeues_the_unacked_at_once_with_the_redelivered_flag():
    env, topic, q, _, _ = _queue()
    topic.send([0, 1, 2, 3], [0, 1, 2, 3])
    spec = DeploymentSpec(
        replicas=2, max_poll_records=4,
        service=ServiceTimeSpec(distribution="deterministic", fixed_s=0.0, per_record_s=1.0),
    )
    log = LogHandler(env)
    dep = Deployment(env, "d", spec, q, log, np.random.default_rng(0))
    dep.start()
    env.run(until=2.0)  # pod 0 holds the 4 messages, pod 1 waits
    holder = 0 if q.unacked(dep.pods[0].members[0]) else 1
    dep.crash(holder, restart_s=100.0)
    env.run(until=50)
    (t, records, attempts), = log.finished
    assert records == [0, 1, 2, 3] and attempts == [2, 2, 2, 2]
    assert t == pytest.approx(2.0 + 4.0)  # the other pod got them at the crash (no timeout)
    assert q.redelivered == 4 and q.channel_closes == 1 and q.lag() == 0


def test_a_rewind_is_a_nack_with_requeue_and_keeps_the_order():
    env, topic, q, _, _ = _queue()
    topic.send([5, 6, 7], [0, 0, 0])
    m = Member("m")
    f = q.poll(m, 2)
    assert q.rewind(f)
    again = q.poll(m, 10)
    assert again.records == [5, 6, 7] and again.attempts == [2, 2, 1]
    assert not q.commit(f) and q.commit(again)  # the old delivery tags are gone


def test_past_the_delivery_limit_a_message_is_dead_lettered_with_its_reason():
    env, topic, q, drops, _ = _queue(delivery_limit=2)
    topic.send([9], [9])
    m = Member("m")
    deliveries = 0
    while (f := q.poll(m, 1)) is not None:
        deliveries += 1
        assert f.attempts == [deliveries]
        q.rewind(f)  # returned: a failed delivery
    assert deliveries == 3  # returned more than 2 times: the 3rd return dead-letters it
    ((records, outcome, reason),) = drops
    assert records == [9] and outcome == "dead_lettered"
    assert "delivery-limit 2" in reason and "svc" in reason
    assert q.dead_lettered == 1 and q.lag() == 0


def test_a_delivery_held_past_the_consumer_timeout_closes_the_channel():
    env, topic, q, _, incidents = _queue(consumer_timeout_s=60.0)
    topic.send([1, 2], [1, 2])
    slow, other = Member("slow"), Member("other")
    f = q.poll(slow, 10)
    env.run(until=59)
    assert q.poll(other, 10) is None
    env.run(until=61)
    assert q.channel_closes == 1 and incidents[0][:2] == ("consumer_timeout", "slow")
    again = q.poll(other, 10)
    assert again.records == [1, 2] and again.attempts == [2, 2]
    assert not q.commit(f)  # the slow consumer's late ack: its channel is gone
    assert q.commit(again) and q.lag() == 0


def test_an_acked_delivery_never_times_out():
    env, topic, q, _, incidents = _queue(consumer_timeout_s=60.0)
    topic.send([1], [1])
    q.commit(q.poll(Member("m"), 10))
    env.run(until=1000)
    assert incidents == [] and q.channel_closes == 0


def test_max_length_with_reject_publish_sheds_the_overflow():
    env, topic, q, drops, _ = _queue(capacity=2, overflow="shed")
    topic.send([1, 2, 3], [1, 2, 3])
    assert q.lag() == 2 and drops[0][:2] == ([3], "shed")
    assert "reject-publish" in drops[0][2]


def test_no_ack_ignores_the_window_and_a_crash_loses_the_batch():
    env, topic, q, _, _ = _queue(delivery="at_most_once", prefetch_count=2)
    topic.send(list(range(10)), list(range(10)))
    m = Member("m")
    f = q.poll(m, 10)
    assert len(f.records) == 10 and q.lag() == 0
    assert not q.rewind(f)


# -- the whole pipeline on RabbitMQ ---------------------------------------------------------
def _run(scenario):
    """Run ``scenario`` and return (summary, system); an ``on_drop`` the wiring left unset
    settles the records in the ledger (the test's own wiring)."""
    from sim.record.ledger import Outcome
    from sim.system import build, run

    s = build(scenario)
    codes = {"shed": Outcome.SHED, "lost": Outcome.LOST, "dead_lettered": Outcome.DEAD_LETTERED}
    for obj in (*s.topics.values(), *s.groups.values()):
        if getattr(obj, "on_drop", None) is None:
            obj.on_drop = lambda r, o, why: s.ledger.finish(
                np.asarray(r, dtype=np.int64), codes[o], s.ledger.last_stage, why)
    res = run(s, progress=False)
    sm = {k: res.summary[k].iloc[0] for k in res.summary.columns}
    assert sm["generated"] == (sm["completed"] + sm["in_flight"] + sm["shed"]
                               + sm["dead_lettered"] + sm["lost"])
    return sm, s


def _small_on_rabbitmq(**changes):
    from sim.scenario import load_preset, on_bus, with_changes

    sc = on_bus(load_preset("small"), "rabbitmq")
    for path, value in changes.items():
        sc = with_changes(sc, path, value)
    return sc


def test_the_small_pipeline_on_rabbitmq_drains_and_conserves():
    sm, s = _run(_small_on_rabbitmq())
    assert sm["completed"] == sm["generated"] > 100 and sm["lost"] == 0
    assert sm["rebalances"] == 0
    assert len(s.topics["fraud-scores"].queues) == 2  # alert-service and monitoring-service


def test_crashes_on_rabbitmq_requeue_at_once_and_lose_nothing():
    from sim.scenario import PodCrash

    sm, s = _run(_small_on_rabbitmq(**{
        "bus.rabbitmq": RabbitMQSpec(prefetch_count=5),
        "deployments.feature_enricher.service.per_record_s": 0.2,
        "faults": [PodCrash(deployment="feature_enricher", at_s=t, restart_s=1.0)
                   for t in (10.0, 20.5, 30.0, 40.5)],
    }))
    q = s.groups["feature_enricher"]
    assert sm["in_flight"] == 0 and sm["lost"] == 0 and sm["completed"] == sm["generated"]
    assert q.redelivered > 0 and q.channel_closes == 4
