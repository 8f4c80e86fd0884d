"""Producers known in advance (sim.pods.ingress_schedule, sim.bus.ScheduledFeed) equal their
event-driven twins.

- the FCFS schedule (Kiefer–Wolfowitz recurrence) gives every request the start, end and server
  that the event-driven ``sim.pods.Ingress`` gives it, sheds the same requests, and its
  time-weighted depth / busy integrals equal the event version's;
- a whole run through the scheduled ingress equals the same run through the event-driven one
  (forced by a bounded topic that never fills): identical transaction and span frames;
- the label feed's precomputed publish times are the ticks of the ``label_publisher`` process;
- a ``ScheduledFeed`` appends on time, wakes a waiting consumer exactly when its records appear,
  and refuses any other producer.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import Scenario, run, with_changes
from sim.bus import ConsumerGroup, Member, ScheduledFeed, Topic
from sim.pods import Ingress, ServiceTime
from sim.pods.ingress_schedule import ScheduledIngress, fcfs_schedule
from sim.record.ledger import Ledger, Outcome
from sim.scenario import IngestorSpec, ServiceTimeSpec
from sim.services import LabelTable, label_publisher
from sim.topology import Stage


def _event_ingress(arrivals, spec, seed, probe_times):
    """Run the event-driven Ingress; return (start, end, server, shed, probes)."""
    env = simpy.Environment()
    n = len(arrivals)
    start, end, server = np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1)
    shed = []

    def serve(row, s, e, name):
        start[row], end[row] = s, e
        server[row] = int(name.split("-")[-1].split("/")[0])

    ing = Ingress(env, spec, np.random.default_rng(seed), serve, lambda r, why: shed.append(r))
    ing.start()

    def feed():
        for i, a in enumerate(arrivals):
            if a > env.now:
                yield env.timeout(a - env.now)
            ing.submit(i)

    probes = []

    def probe():
        for t in probe_times:
            yield env.timeout(t - env.now)
            probes.append((ing.depth.integral(), ing.busy.integral(), ing.depth.level))

    env.process(feed())
    env.process(probe())
    env.run()
    return start, end, server, sorted(shed), probes


def _scheduled_ingress(arrivals, spec, seed, probe_times):
    env = simpy.Environment()
    n = len(arrivals)
    ledger = Ledger(arrivals, Stage.INGESTOR)
    ingestor = SimpleNamespace(
        table=SimpleNamespace(arrival_s=arrivals),
        ledger=ledger,
        errors=np.full(n, None, dtype=object),
        any_error=False,
        topic_out=None,
        keys=np.arange(n),
    )
    ing = ScheduledIngress(env, spec, np.random.default_rng(seed), ingestor)
    ing.start()
    probes = []

    def probe():
        for t in probe_times:
            yield env.timeout(t - env.now)
            ing.catch_up()
            probes.append((ing.depth.integral(), ing.busy.integral(), ing.depth.level))

    env.process(probe())
    env.run()
    ing.catch_up()
    return ing, ledger, probes


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 120),
    rate=st.floats(0.5, 50.0),
    replicas=st.integers(1, 4),
    limit=st.one_of(st.none(), st.integers(0, 6)),
    startup=st.sampled_from([0.0, 0.7]),
    kind=st.sampled_from(["exponential", "lognormal"]),
    seed=st.integers(0, 10_000),
)
def test_fcfs_schedule_equals_the_event_driven_ingress(n, rate, replicas, limit, startup, kind,
                                                       seed):
    arrivals = np.cumsum(np.random.default_rng(seed + 1).exponential(1 / rate, n))
    spec = IngestorSpec(
        replicas=replicas,
        startup_s=startup,
        queue_limit=limit,
        service=ServiceTimeSpec(distribution=kind, per_record_s=0.3, cv=0.5),
    )
    horizon = float(arrivals[-1]) + 100.0 if n else 1.0
    probe_times = list(np.linspace(0.1, horizon, 7))
    start, end, server, shed, probes = _event_ingress(arrivals, spec, seed, probe_times)
    sched = fcfs_schedule(
        arrivals, replicas, ServiceTime(spec.service, np.random.default_rng(seed)),
        ready_s=startup, queue_limit=limit,
    )
    np.testing.assert_array_equal(sched.start_s, start)
    np.testing.assert_array_equal(sched.end_s, end)
    np.testing.assert_array_equal(sched.server, server)
    assert np.flatnonzero(~sched.accepted).tolist() == shed
    # the scheduled ingress: same integrals and levels, and the ledger's outcomes
    ing, ledger, probes2 = _scheduled_ingress(arrivals, spec, seed, probe_times)
    for (d1, b1, l1), (d2, b2, l2) in zip(probes, probes2, strict=True):
        assert d2 == pytest.approx(d1, rel=1e-9, abs=1e-9)
        assert b2 == pytest.approx(b1, rel=1e-9, abs=1e-9)
        assert l2 == l1
    assert ledger.check_conservation()["generated"] == n
    assert ledger.counts[Outcome.SHED] == len(shed)
    assert ledger.counts[Outcome.COMPLETED] == n - len(shed)
    np.testing.assert_array_equal(ledger.end_ingest, end)


def _two_stage(**over) -> Scenario:
    data = {
        "seed": 3,
        "last_stage": "feature_enricher",
        "workload": {
            "kind": "poisson",
            "content": "synthetic",
            "rate_per_s": 30.0,
            "live_duration_s": 30.0,
            "bank": {"n_customers": 50, "n_terminals": 80},
        },
        "deployments": {
            "transaction_ingestor": {
                "replicas": 2,
                "queue_limit": 5,
                "service": {"per_record_s": 0.06},
            },
            "feature_enricher": {
                "replicas": 2,
                "max_poll_records": 5,
                "fetch_min_records": 3,
                "fetch_max_wait_s": 0.2,
                "service": {"fixed_s": 0.01, "per_record_s": 0.02},
            },
        },
        "topics": {"transactions": {"partitions": 3}},
        "bus": {"kafka": {"rebalance_pause_s": 0.5}},
        "faults": [{"deployment": "feature_enricher", "at_s": 12.0, "restart_s": 1.0}],
        "monitoring_interval_s": 1.0,
    }
    sc = Scenario.from_dict(data)
    for path, value in over.items():
        sc = with_changes(sc, path, value)
    return sc


@pytest.mark.parametrize("cap_s, chunk", [(None, 4096), (8.0, 4096), (None, 7)])
def test_scheduled_and_event_driven_ingress_give_the_same_run(cap_s, chunk, monkeypatch):
    """A bounded topic that never fills forces the event-driven ingress; the frames agree
    (also when the feed materialises its records in small chunks)."""
    monkeypatch.setattr(ScheduledFeed, "CHUNK", chunk)
    # the crash at 12 s would start after a cap of 8 s (refused): the capped run has none
    sc = _two_stage() if cap_s is None else _two_stage(faults=[], max_duration_s=cap_s)
    fast = run(sc, progress=False)
    slow = run(with_changes(sc, "topics.transactions.capacity_records", 10**8), progress=False)
    assert fast.summary_dict()["shed"] > 0  # the queue limit is exercised
    pd.testing.assert_frame_equal(fast.transactions, slow.transactions)
    pd.testing.assert_frame_equal(fast.spans, slow.spans)


@pytest.mark.parametrize("chunk", [4096, 5])
def test_label_feed_publishes_at_the_label_publisher_ticks(chunk, monkeypatch):
    monkeypatch.setattr(ScheduledFeed, "CHUNK", chunk)
    rng = np.random.default_rng(5)
    n, live_start, speedup, interval = 300, 1_000_000.0, 80.0, 0.7
    event_s = live_start - 7 * 86400 + rng.uniform(-100.0, 3_000.0, n).round()
    labels = LabelTable(rng.integers(0, 50, n), event_s, rng.integers(0, 2, n), 7 * 86400.0)
    horizon = 60.0
    probe_times = np.arange(0.05, horizon, 0.1)

    def visible(make):
        env = simpy.Environment()
        topic = Topic(env, "labels", 3)
        make(env, topic)
        seen = []

        def probe():
            for t in probe_times:
                yield env.timeout(t - env.now)
                topic.sync()
                seen.append(list(topic.ends))

        env.process(probe())
        env.run(until=horizon)
        return seen, [log[:end] for log, end in zip(topic.logs, topic.ends, strict=True)]

    def by_process(env, topic):
        env.process(label_publisher(env, labels, topic, live_start, speedup, interval))

    def by_feed(env, topic):
        labels.feed(topic, live_start, speedup, interval)

    seen_process, logs_process = visible(by_process)
    labels.published = 0
    seen_feed, logs_feed = visible(by_feed)
    assert seen_feed == seen_process
    assert logs_feed == logs_process
    assert sum(seen_feed[-1]) > 100  # most labels came due within the horizon


@pytest.mark.parametrize("chunk", [4096, 1])
def test_scheduled_feed_appends_on_time_and_wakes_a_waiting_consumer(chunk, monkeypatch):
    monkeypatch.setattr(ScheduledFeed, "CHUNK", chunk)
    env = simpy.Environment()
    topic = Topic(env, "t", 2)
    feed = ScheduledFeed(topic, np.array([3.0, 1.0, 2.0, 2.0]), np.array([10, 11, 12, 13]),
                         np.array([0, 1, 0, 1]))
    assert topic.scheduled is feed and len(feed) == 4
    group = ConsumerGroup(env, "g", topic)
    member = Member("m")
    group.join(member)
    assert feed.next_due([0, 1], 1) == 1.0
    assert feed.next_due([0], 2) == 3.0
    assert feed.next_due([0, 1], 5) == math.inf
    woken = []

    def consumer():
        while True:
            fetched = group.fetch(member, 10)
            if fetched is None:
                yield group.wait_for_records(member)
                continue
            woken.append((env.now, fetched.records))
            group.commit(fetched)

    env.process(consumer())
    env.run(until=10)
    assert woken == [(1.0, [11]), (2.0, [13, 12]), (3.0, [10])]  # round-robin start
    assert topic.end_offset(0) == 2 and group.lag() == 0
    with pytest.raises(RuntimeError, match="fed by a schedule"):
        topic.append(0, [99])
    with pytest.raises(ValueError, match="only producer"):
        ScheduledFeed(topic, np.array([1.0]), np.array([1]), np.array([0]))


def _lingering_enricher(crash_at_s: float, rate_per_s: float, duration_s: float) -> Scenario:
    """Two enricher pods lingering for 3 records (at most 2 s), one crashing for good."""
    return Scenario.from_dict(
        {
            "seed": 2,
            "last_stage": "feature_enricher",
            "workload": {
                "kind": "poisson",
                "content": "synthetic",
                "rate_per_s": rate_per_s,
                "live_duration_s": duration_s,
                "bank": {"n_customers": 2, "n_terminals": 10},
            },
            "deployments": {
                "transaction_ingestor": {
                    "replicas": 3,
                    "service": {"distribution": "deterministic", "per_record_s": 0.01},
                },
                "feature_enricher": {
                    "replicas": 2,
                    "max_poll_records": 100,
                    "fetch_min_records": 3,
                    "fetch_max_wait_s": 2.0,
                    "service": {"distribution": "deterministic", "per_record_s": 0.01},
                },
            },
            "topics": {"transactions": {"partitions": 2}},
            "bus": {"kafka": {"rebalance_pause_s": 0.0}},
            "faults": [
                {"deployment": "feature_enricher", "at_s": crash_at_s, "pod": 1, "restart_s": 1e3}
            ],
            "max_duration_s": 1000.0,
        }
    )


def test_a_rebalance_wakes_a_lingering_consumer_on_a_scheduled_topic():
    """The survivor of a crash takes over a partition while lingering: it must not sleep on a
    timer planned for its old assignment (regression: records waited 13.5 s, not <= 2 s). The
    crash is noticed after the session timeout; from then on no record waits more than the
    linger (2 s) for the survivor."""
    sc = _lingering_enricher(10.0, 0.5, 40.0)
    fast = run(sc, progress=False)
    slow = run(with_changes(sc, "topics.transactions.capacity_records", 10**8), progress=False)
    tx = fast.transactions
    takeover_s = sc.faults[0].at_s + sc.bus.settings.session_timeout_s  # pause 0 s
    ready_s = np.maximum(tx.ingest_end_s, takeover_s)
    assert (tx.enrich_start_s - ready_s).max() <= 2.0 + 1e-9
    assert (tx.enrich_start_s >= takeover_s).any()  # the survivor served after the takeover
    pd.testing.assert_frame_equal(fast.transactions, slow.transactions)
    pd.testing.assert_frame_equal(fast.spans, slow.spans)


def test_span_pod_categories_are_the_pods_that_served_in_pipeline_order():
    """Unused ingestor servers are not categories; the order does not depend on the path."""
    sc = _lingering_enricher(100.0, 1.0, 1.5)  # 1-2 requests over 3 ingestor servers
    fast = run(sc, progress=False).spans
    slow = run(with_changes(sc, "topics.transactions.capacity_records", 10**8), progress=False)
    pd.testing.assert_frame_equal(fast, slow.spans)
    cats = list(fast.pod.cat.categories)
    assert set(cats) == set(fast.pod.astype(str))
    stages = [0 if c.startswith("transaction_ingestor") else 1 for c in cats]
    assert stages == sorted(stages)
