"""Bounds with a policy everywhere, and retention (issue 9, item 1).

A full topic blocks (back-pressure up to the ingress, which then queues or sheds by its own
policy) or sheds with a reason; the ingress blocks its callers or sheds; a producer buffer holds
what a full topic refuses and blocks or sheds when full, without losing a record in a crash
under at-least-once; retention deletes records a lagging group has not read (lost, the group
resuming where ``auto.offset.reset`` says). Runs are synthetic (no bank) or the small preset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simpy

from sim import load_preset, run, with_changes
from sim.analysis.stats import mean_ci
from sim.bus import ConsumerGroup, Topic
from sim.bus.factory import make_topics
from sim.bus.producer import ProducerBuffers
from sim.bus.retention import Retention
from sim.engine import choose_paths
from sim.pods.fcfs import fcfs_schedule
from sim.pods.service_time import ServiceTime
from sim.scenario import Scenario, ServiceTimeSpec

SLOW_ENRICHER = {"deployments.feature_enricher.service.per_record_s": 0.08}


def synthetic(seed: int = 1, duration_s: float = 30.0, **changes: object) -> Scenario:
    """Ingestor and enricher on synthetic Poisson arrivals (20 / s): no bank, ~0.3 s a run."""
    sc = Scenario.from_dict({
        "seed": seed,
        "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": 20.0,
                     "live_duration_s": duration_s},
        "last_stage": "feature_enricher",
        "max_duration_s": 600.0,
        "topics": {"transactions": {"partitions": 2}},
        "deployments": {
            "transaction_ingestor": {"replicas": 2, "service": {"per_record_s": 0.02}},
            "feature_enricher": {"max_poll_records": 5,
                                 "service": {"fixed_s": 0.05, "per_record_s": 0.02}},
        },
    })
    for key, value in changes.items():
        sc = with_changes(sc, key, value)
    return sc


def _summary(res) -> pd.Series:
    s = res.summary.iloc[0]
    parts = s["completed"] + s["in_flight"] + s["shed"] + s["dead_lettered"] + s["lost"]
    assert s["generated"] == parts  # conservation, as the run checked it
    return s


def _drop_incidents(res, kind: str) -> int:
    from sim.record.incidents import drop_count

    inc = res.incidents[res.incidents["kind"] == kind]
    return sum(drop_count(d) for d in inc["detail"])


# -- a topic that sheds --------------------------------------------------------------------
def test_a_full_shed_topic_rejects_the_records_beyond_its_bound_with_a_reason():
    env = simpy.Environment()
    topic = Topic(env, "t", 2, capacity_records=3, overflow="shed")
    ConsumerGroup(env, "g", topic)
    assert topic.send([1, 2, 3], [0, 0, 0]) is None  # fits: nothing to report
    with pytest.raises(RuntimeError, match="no on_drop"):  # a reject must be counted
        topic.send([9], [0])
    got: list[tuple[list[int], str, str]] = []
    topic.on_drop = lambda r, o, why: got.append((r, o, why))
    assert topic.send([4, 5, 6], [0, 1, 0]) is None  # never blocks
    assert topic.end_offset(0) == 3 and topic.end_offset(1) == 1
    assert got == [([4, 6], "shed", "topic t full (capacity_records=3 per partition, "
                    "overflow: shed)")]
    with pytest.raises(ValueError, match="overflow"):
        Topic(env, "t", 1, 1, overflow="drop")


def test_a_shed_topic_sheds_at_the_producing_stage_and_counts_it():
    res = run(synthetic(**SLOW_ENRICHER, **{"topics.transactions.capacity_records": 5,
                                            "topics.transactions.overflow": "shed"}),
              progress=False)
    s, tx = _summary(res), res.transactions
    shed = tx[tx["outcome"] == "shed"]
    assert s["shed"] > 0 and s["lost"] == 0
    assert set(shed["reason"]) == {"topic transactions full (capacity_records=5 per partition, "
                                   "overflow: shed)"}
    assert set(shed["outcome_stage"]) == {"transaction_ingestor"}
    assert _drop_incidents(res, "records_shed") == s["shed"]


def test_a_full_block_topic_holds_the_ingestor_back_until_its_queue_sheds():
    """Block is back-pressure: nothing is shed at the topic; the ingress fills and sheds by its
    own policy (without the bound, the same run sheds nothing)."""
    changes = {**SLOW_ENRICHER, "deployments.transaction_ingestor.queue_limit": 3}
    free = _summary(run(synthetic(**changes), progress=False))
    res = run(synthetic(**changes, **{"topics.transactions.capacity_records": 5}),
              progress=False)
    s, tx = _summary(res), res.transactions
    assert free["shed"] == 0 and s["shed"] > 0
    assert set(tx.loc[tx["outcome"] == "shed", "reason"]) == {"ingress queue full "
                                                              "(queue_limit=3)"}
    assert _drop_incidents(res, "records_shed") == 0


# -- an ingress that blocks its callers ----------------------------------------------------
BUSY_INGRESS = {"deployments.transaction_ingestor.replicas": 1,
                "deployments.transaction_ingestor.service.per_record_s": 0.06,
                "deployments.transaction_ingestor.queue_limit": 2}


def test_a_blocking_ingress_holds_its_callers_and_its_fast_path_gives_the_same_frames():
    shed = _summary(run(synthetic(**BUSY_INGRESS), progress=False))
    sc = synthetic(**BUSY_INGRESS, **{"deployments.transaction_ingestor.overflow": "block"})
    assert choose_paths(sc).scheduled_ingress
    auto = run(sc, progress=False)
    off = run(with_changes(sc, "engine.fast_paths", "off"), progress=False)
    s = _summary(auto)
    assert shed["shed"] > 0 and s["shed"] == 0 and s["completed"] == s["generated"]
    assert s["latency_p95_s"] > shed["latency_p95_s"]  # callers wait: latency from arrival
    for name in ("transactions", "spans", "incidents"):
        pd.testing.assert_frame_equal(getattr(auto, name), getattr(off, name), check_exact=True)
    depth = [r.metrics.loc[r.metrics["name"] == "tinybots_ingress_queue_depth", "value"]
             .to_numpy() for r in (auto, off)]
    np.testing.assert_array_equal(depth[0], depth[1])
    assert depth[0].max() == 2  # the queue never holds more than queue_limit


def test_the_blocking_schedule_is_fifo_and_requests_enter_the_queue_as_places_free():
    arrivals = np.sort(np.random.default_rng(3).uniform(0, 10, 200))
    spec = ServiceTimeSpec(per_record_s=0.2)
    free = fcfs_schedule(arrivals, 2, ServiceTime(spec, np.random.default_rng(4)))
    block = fcfs_schedule(arrivals, 2, ServiceTime(spec, np.random.default_rng(4)),
                          queue_limit=3, overflow="block")
    np.testing.assert_array_equal(block.start_s, free.start_s)
    assert block.accepted.all()
    np.testing.assert_array_equal(block.queued_s[3:], np.maximum(arrivals[3:],
                                                                 free.start_s[:-3]))
    assert (block.queued_s > arrivals).any()
    shed = fcfs_schedule(arrivals, 2, ServiceTime(spec, np.random.default_rng(4)), queue_limit=3)
    assert not shed.accepted.all()


# -- producer buffers ----------------------------------------------------------------------
def _buffered(limit: int | None, overflow: str) -> tuple[simpy.Environment, Topic,
                                                         ConsumerGroup, ProducerBuffers, list]:
    env = simpy.Environment()
    topic = Topic(env, "t", 1, capacity_records=2)
    group = ConsumerGroup(env, "g", topic)
    drops: list = []
    topic.on_drop = lambda r, o, why: drops.append((r, o, why))
    return env, topic, group, ProducerBuffers(topic, limit, overflow), drops


def test_a_producer_buffer_holds_what_a_full_topic_refuses_and_sheds_past_its_size():
    env, topic, group, prod, drops = _buffered(3, "shed")
    done: list[float] = []
    blocking, flushed = prod.send("p-0", [1, 2, 3, 4, 5, 6], [0] * 6, lambda: done.append(1))
    assert blocking is None and flushed is not None
    assert topic.end_offset(0) == 2 and prod.buffered("p-0") == 3
    assert drops == [([6], "shed", "producer buffer full (buffer_records=3, topic t full)")]
    env.run(until=1)
    assert not done and not flushed.triggered  # nothing committed: the buffer waits
    for _ in range(2):  # the consumer commits what it read: room, the buffer drains in order
        fetched = group.poll(group.members[0] if group.members else _join(group), 10)
        group.commit(fetched)
        env.run(until=env.now + 1)
    assert topic.logs[0][:5] == [1, 2, 3, 4, 5] and done and flushed.triggered


def _join(group: ConsumerGroup):
    from sim.bus import Member

    m = Member("m")
    group.join(m)
    return m


def test_a_full_producer_buffer_blocks_the_service_with_overflow_block():
    env, topic, group, prod, drops = _buffered(1, "block")
    blocking, flushed = prod.send("p-0", [1, 2, 3, 4], [0] * 4)
    assert blocking is not None and not drops
    ended: list[float] = []

    def service():
        yield from blocking
        ended.append(env.now)

    env.process(service())
    env.run(until=5)
    assert not ended  # still blocked: the buffer is full and nothing consumes
    m = _join(group)
    env.timeout(7 - env.now).callbacks.append(lambda _e: group.commit(group.poll(m, 10)))
    env.run(until=20)
    assert ended == [7] and topic.logs[0] == [1, 2, 3, 4] and flushed.triggered


def test_buffered_records_survive_a_crash_under_at_least_once_and_are_lost_at_most_once():
    """A crash discards the pod's buffer: at-least-once redelivers (the batch was not committed:
    ``commit_after``), at-most-once loses the buffered records with the reason."""
    base = load_preset("small")
    for key, value in {"topics.features_ready.capacity_records": 3,
                       "deployments.fraud_detector.service.per_record_s": 0.2,
                       "deployments.feature_enricher.producer.buffer_records": 30,
                       "faults": [{"deployment": "feature_enricher", "at_s": 20.0, "pod": 0,
                                   "restart_s": 2.0}]}.items():
        base = with_changes(base, key, value)
    s = _summary(run(base, progress=False))
    assert s["lost"] == 0 and s["completed"] == s["generated"] and s["duplicates"] > 0
    most = run(with_changes(base, "deployments.feature_enricher.delivery", "at_most_once"),
               progress=False)
    tx = most.transactions
    assert _summary(most)["lost"] > 0
    assert set(tx.loc[tx["outcome"] == "lost", "reason"]) == {
        "producer buffer of crashed pod feature_enricher-0 (at-most-once)"}


# -- retention -----------------------------------------------------------------------------
@pytest.mark.parametrize("reset", ["latest", "earliest"])
def test_retention_deletes_what_a_group_has_not_read_and_the_reset_says_where_it_resumes(reset):
    env = simpy.Environment()
    topic = Topic(env, "t", 1)
    Retention(topic, 5.0, reset)
    group = ConsumerGroup(env, "g", topic)
    lost: list = []
    group.on_drop = lambda r, o, why: lost.append((r, o, why))
    topic.append(0, [1, 2])
    env.run(until=3)
    topic.append(0, [3])
    env.run(until=6)  # records 1 and 2 expired at 5 s; 3 is still there
    assert topic.retention.log_start == [2]
    assert lost[0][:2] == ([1, 2], "lost") and "retention_s=5" in lost[0][2]
    if reset == "latest":
        assert lost[1][0] == [3] and "auto.offset.reset=latest" in lost[1][2]
        assert group.position == [3] and group.committed == [3]
    else:
        assert len(lost) == 1 and group.position == [2]
        m = _join(group)
        assert group.poll(m, 10).records == [3]


def test_retention_acts_only_within_the_run_and_the_fast_paths_give_way():
    env = simpy.Environment()
    assert all(t.retention is None for t in make_topics(env, Scenario()).values())  # 7 days
    sc = synthetic(**{"topics.transactions.retention_s": 5.0})
    topics = make_topics(simpy.Environment(), sc)
    assert topics["transactions"].retention is not None
    assert topics["features-ready"].retention is None
    paths = choose_paths(sc)
    assert not paths.scheduled_ingress and "retention_s" in paths.reasons["ingress"]
    labels = choose_paths(with_changes(sc, "topics.labels.retention_s", 5.0))
    assert not labels.scheduled_labels and "topics.labels.retention_s" in labels.reasons["labels"]


@pytest.mark.parametrize("reset", ["latest", "earliest"])
def test_a_lagging_group_loses_transactions_to_retention(reset):
    sc = synthetic(**SLOW_ENRICHER, **{"bus.kafka.auto_offset_reset": reset})
    kept = _summary(run(sc, progress=False))
    res = run(with_changes(sc, "topics.transactions.retention_s", 5.0), progress=False)
    s, tx = _summary(res), res.transactions
    assert kept["lost"] == 0 and s["lost"] > 0 and s["lost_retention"] == s["lost"]
    lost = tx[tx["outcome"] == "lost"]
    assert set(lost["outcome_stage"]) == {"feature_enricher"}
    assert lost["reason"].astype(str).str.startswith("retention").all()
    skipped = lost["reason"].astype(str).str.contains("auto.offset.reset=latest")
    assert skipped.any() == (reset == "latest")
    assert _drop_incidents(res, "records_lost") == s["lost"]


def test_labels_dropped_by_the_bus_are_labels_lost_not_transactions():
    sc = load_preset("small")
    for key, value in {"topics.labels.capacity_records": 1, "topics.labels.overflow": "shed",
                       "deployments.label_feed.service.per_record_s": 0.5}.items():
        sc = with_changes(sc, key, value)
    res = run(sc, progress=False)
    s = _summary(res)
    assert s["labels_lost"] > 0 and s["shed"] == 0 and s["completed"] == s["generated"]
    assert _drop_incidents(res, "records_shed") == s["labels_lost"]


# -- direction checks over replications ----------------------------------------------------
SEEDS = range(10)


def _paired(metric: str, arm_a: dict, arm_b: dict) -> tuple[float, float, float]:
    """Mean and 95% CI of ``metric(a) - metric(b)`` over :data:`SEEDS` (same seed: common
    random numbers)."""
    diff = []
    for seed in SEEDS:
        a = run(synthetic(seed, 20.0, **arm_a), progress=False).summary.iloc[0][metric]
        b = run(synthetic(seed, 20.0, **arm_b), progress=False).summary.iloc[0][metric]
        diff.append(float(a) - float(b))
    return mean_ci(diff)


def test_a_bigger_bound_sheds_fewer():
    shed = {**SLOW_ENRICHER, "topics.transactions.overflow": "shed"}
    m, lo, hi = _paired("shed", {**shed, "topics.transactions.capacity_records": 5},
                        {**shed, "topics.transactions.capacity_records": 40})
    assert lo > 0, (m, lo, hi)


def test_a_shorter_retention_loses_more_under_lag():
    ret = {**SLOW_ENRICHER, "bus.kafka.auto_offset_reset": "earliest"}
    m, lo, hi = _paired("lost_retention", {**ret, "topics.transactions.retention_s": 3.0},
                        {**ret, "topics.transactions.retention_s": 10.0})
    assert lo > 0, (m, lo, hi)
