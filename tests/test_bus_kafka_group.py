"""Kafka consumer-group semantics that matter for scaling (issue 9 item 2): assignment
strategies against Kafka's documented examples, eager vs cooperative rebalances, the session
timeout of a crashed member and the eviction of a member exceeding max_poll_interval_s."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simpy

from sim import build, run
from sim.analysis.stats import mean_ci
from sim.bus import ConsumerGroup, Member, Topic
from sim.bus.assignment import STRATEGIES, assign, assign_range, assign_round_robin, assign_sticky
from sim.pods import Deployment
from sim.scenario import DeploymentSpec, Scenario, ServiceTimeSpec


def _changed(sc: Scenario, **changes: object) -> Scenario:
    """``sc`` with dotted fields (``__`` for ``.``) set, validated once."""
    data = sc.model_dump()
    for path, value in changes.items():
        node = data
        *head, last = path.split("__")
        for key in head:
            node = node[key]
        assert last in node, path
        node[last] = value
    return Scenario.model_validate(data)


# -- assignment strategies (pure) ------------------------------------------------------------
def test_range_is_kafkas_javadoc_example_per_topic():
    # RangeAssignor javadoc: C0, C1; t0 and t1 of 3 partitions -> C0 [t0p0, t0p1, t1p0, t1p1],
    # C1 [t0p2, t1p2]: per topic, contiguous ranges, the first n % m members one more
    assert assign_range(["C1", "C0"], 3) == {"C0": [0, 1], "C1": [2]}
    assert assign_range(["a", "b", "c"], 8) == {"a": [0, 1, 2], "b": [3, 4, 5], "c": [6, 7]}


def test_round_robin_is_kafkas_javadoc_example():
    # RoundRobinAssignor javadoc: C0 [t0p0, t0p2, t1p1], C1 [t0p1, t1p0, t1p2]; the six
    # partitions of t0, t1 in sorted order are 0..5 here
    assert assign_round_robin(["C1", "C0"], 6) == {"C0": [0, 2, 4], "C1": [1, 3, 5]}


def test_sticky_is_kafkas_javadoc_example():
    # StickyAssignor javadoc: C0, C1, C2; t0..t3 of 2 partitions (t<i>p<j> = 2i + j here)
    first = assign_sticky(["C0", "C1", "C2"], 8)
    assert first == {"C0": [0, 3, 6], "C1": [1, 4, 7], "C2": [2, 5]}  # as round-robin
    # C1 leaves: round-robin moves five partitions, sticky only C1's three:
    # C0 [t0p0, t1p1, t3p0, t2p0], C2 [t1p0, t2p1, t0p1, t3p1]
    after = assign_sticky(["C0", "C2"], 8, first)
    assert after == {"C0": [0, 3, 4, 6], "C2": [1, 2, 5, 7]}
    rr = assign_round_robin(["C0", "C2"], 8)
    kept = {s: sum(len(set(a[m]) & set(first[m])) for m in a) for s, a in
            (("sticky", after), ("round_robin", rr))}
    assert kept == {"sticky": 5, "round_robin": 3}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_is_balanced_covers_and_never_uses_more_than_n(strategy):
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, m = int(rng.integers(1, 13)), int(rng.integers(0, 16))
        ids = [f"m{i}" for i in rng.permutation(m + 3)[:m]]
        prev_ids = [f"m{i}" for i in rng.permutation(m + 3)[:m]]
        owners = rng.integers(0, max(1, len(prev_ids)), n)
        prev = {mid: [p for p in range(n) if owners[p] == j] for j, mid in enumerate(prev_ids)}
        out = assign(strategy, ids, n, prev)
        got = sorted(p for ps in out.values() for p in ps)
        assert set(out) == set(ids)
        assert got == (list(range(n)) if ids else [])
        counts = [len(ps) for ps in out.values()]
        if ids:
            assert max(counts) - min(counts) <= 1
            assert sum(c > 0 for c in counts) == min(n, m)


def test_sticky_keeps_at_least_as_many_owners_as_range_and_round_robin():
    rng = np.random.default_rng(2)
    for _ in range(200):
        n, m = int(rng.integers(1, 13)), int(rng.integers(1, 8))
        ids = [f"m{i}" for i in range(m)]
        prev = assign_range(ids, n)
        new = [i for i in ids if rng.random() < 0.7] + [f"x{j}" for j in range(rng.integers(3))]
        if not new:
            continue

        def kept(a, prev=prev):
            return sum(len(set(ps) & set(prev.get(mid, ()))) for mid, ps in a.items())

        sticky = kept(assign_sticky(new, n, prev))
        assert sticky >= kept(assign_range(new, n)) and sticky >= kept(assign_round_robin(new, n))


def test_an_unknown_strategy_is_a_one_line_error_naming_the_field():
    with pytest.raises(ValueError, match="assignment_strategy.*got 'uniform'"):
        assign("uniform", ["a"], 3)
    env = simpy.Environment()
    with pytest.raises(ValueError, match="rebalance_protocol.*cooperative_sticky"):
        ConsumerGroup(env, "g", Topic(env, "t", 2), protocol="cooperative", strategy="range")


# -- eager vs cooperative ----------------------------------------------------------------------
def _group_of_two(protocol):
    env = simpy.Environment()
    topic = Topic(env, "t", 6)
    strategy = "cooperative_sticky" if protocol == "cooperative" else "sticky"
    g = ConsumerGroup(env, "g", topic, protocol=protocol, strategy=strategy,
                      rebalance_pause_s=2.0)
    log = []
    g.on_incident = lambda *row: log.append(row)
    a, b = Member("a"), Member("b")
    g.join(a)
    g.join(b)
    env.run(until=10.0)
    for p in range(6):
        topic.append(p, [p])
    return env, g, log, a, b


def test_eager_pauses_every_partition_cooperative_only_the_moved_ones():
    for protocol, paused in (("eager", 6), ("cooperative", 2)):
        env, g, log, a, b = _group_of_two(protocol)
        before = {m.name: list(m.partitions) for m in (a, b)}
        held_s, held = g.paused_partition_s, g.paused_records
        c = Member("c")
        g.join(c)  # 3, 3 -> 2, 2, 2: sticky moves one partition from each of a and b
        kind, target, detail, duration = log[-1]
        assert (kind, target, duration) == ("rebalance", "g", 2.0)
        assert f"{paused} of 6 partitions paused" in detail and "generation 3" in detail
        assert f"{protocol}/" in detail and "3 members" in detail
        kept = [p for m in (a, b) for p in m.partitions if p in before[m.name]]
        assert len(kept) == 4
        polled = g.poll(a, 10)
        if protocol == "eager":  # stop-the-world: nothing, for anyone
            assert polled is None and g.paused(a) == pytest.approx(2.0)
        else:  # a consumes what it kept; c's moved partitions wait out the pause
            assert sorted(polled.records) == sorted(a.partitions) and g.paused(a) == 0.0
            assert g.poll(c, 10) is None and g.paused(c) == pytest.approx(2.0)
        env.run(until=12.5)
        assert g.poll(c, 10).records == c.partitions  # after the pause
        assert g.paused_partition_s - held_s == pytest.approx(2.0 * paused)
        assert g.paused_records - held == paused  # one record waits on each partition


def test_a_pause_end_wakes_a_member_waiting_on_its_live_partitions():
    env, g, _, a, b = _group_of_two("cooperative")
    got = []

    def consumer(m):
        while True:
            f = g.poll(m, 10)
            if f is None:
                yield from g.ready(m)
                continue
            got.append((env.now, m.name, f.records))
            g.commit(f)

    c = Member("c")
    g.join(c)
    env.process(consumer(c))
    env.run(until=20.0)
    assert got and got[0][0] == pytest.approx(12.0) and got[0][2] == sorted(c.partitions)


def _membership_change_run(small, protocol, seed):
    sc = _changed(
        small, seed=seed, last_stage="feature_enricher", workload__live_duration_s=3600.0,
        topics__transactions__partitions=6, deployments__feature_enricher__replicas=3,
        bus__kafka__rebalance_protocol=protocol,
        bus__kafka__assignment_strategy=("cooperative_sticky" if protocol == "cooperative"
                                         else "sticky"),
        bus__kafka__session_timeout_s=6.0,
        faults=[{"deployment": "feature_enricher", "at_s": 4.0, "pod": 1, "restart_s": 2.0}],
    )
    s = build(sc)
    run(s, progress=False)
    return s.groups["feature_enricher"].paused_records


@pytest.mark.slow
def test_eager_pauses_more_records_than_cooperative_on_the_same_membership_change(small):
    """A crash, its session timeout and the restart's join: eager holds every partition of the
    group each time, cooperative only the moved ones (95% CI of the paired difference)."""
    diffs = [
        _membership_change_run(small, "eager", seed) - _membership_change_run(
            small, "cooperative", seed)
        for seed in range(10)
    ]
    mean, lo, hi = mean_ci(diffs)
    assert lo > 0, (mean, lo, hi, diffs)


# -- session timeout ---------------------------------------------------------------------------
class _Handler:
    def __init__(self, env):
        self.env, self.begun, self.dropped = env, [], []

    def begin(self, records, pod):
        self.begun.append((self.env.now, pod, list(records)))
        return list(records)

    def finish(self, rows, start_s, pod, fetched):
        return None

    def crashed(self, pod, lost, records):
        pass

    def drop(self, records, reason):
        self.dropped.append(records)

    def release(self):
        pass


def _det(fixed=0.0, per=0.01):
    return ServiceTimeSpec(distribution="deterministic", fixed_s=fixed, per_record_s=per)


def _steady(env, topic, every_s=0.5, until_s=60.0):
    """One record per partition every ``every_s`` (record = partition + 10 × tick)."""
    def produce():
        tick = 0
        while env.now < until_s:
            for p in range(topic.n_partitions):
                topic.append(p, [p + 10 * tick])
            tick += 1
            yield env.timeout(every_s)
    env.process(produce())


def test_a_crashed_members_partitions_idle_for_the_session_timeout_then_resume():
    env = simpy.Environment()
    topic = Topic(env, "t", 2)
    group = ConsumerGroup(env, "g", topic, session_timeout_s=10.0, rebalance_pause_s=1.0)
    spec = DeploymentSpec(replicas=2, max_poll_records=10, service=_det())
    h = _Handler(env)
    dep = Deployment(env, "d", spec, group, h, np.random.default_rng(0))
    dep.start()
    _steady(env, topic)
    env.run(until=5.0)
    assert group.members[0].partitions == [0]  # d-0 (the first id) owns partition 0
    dep.crash(0, restart_s=1000.0)
    env.run(until=60.0)
    p0 = [t for t, _, recs in h.begun if any(r % 10 == 0 for r in recs)]
    p1 = [t for t, _, recs in h.begun if any(r % 10 == 1 for r in recs)]
    gap = [t for t in p0 if 5.0 < t]
    assert gap and gap[0] == pytest.approx(5.0 + 10.0 + 1.0)  # session timeout, then the pause
    assert any(5.0 < t < 15.0 for t in p1)  # the live member kept consuming its partition
    assert {pod for t, pod, _ in h.begun if t > 15.0} == {"d-1"}
    assert group.lag() <= 2 and group.rebalances == 3  # 2 joins, then the expiry


def test_graceful_leave_rebalances_at_once():
    env = simpy.Environment()
    g = ConsumerGroup(env, "g", Topic(env, "t", 2), session_timeout_s=10.0)
    a, b = Member("a"), Member("b")
    g.join(a)
    g.join(b)
    g.leave(a)
    assert b.partitions == [0, 1]
    g.crash(b)
    assert b.partitions == [0, 1] and g.rebalances == 3
    env.run(until=10.5)
    assert g.members == [] and g.rebalances == 4


# -- max.poll.interval.ms ----------------------------------------------------------------------
def test_a_member_that_does_not_poll_in_time_is_evicted_and_its_records_redelivered():
    env = simpy.Environment()
    topic = Topic(env, "t", 1)
    topic.append(0, [10, 11, 12])
    g = ConsumerGroup(env, "g", topic, max_poll_interval_s=3.0)
    log = []
    g.on_incident = lambda *row: log.append(row[:2])
    slow, other = Member("a"), Member("b")
    g.join(slow)
    g.join(other)
    late = g.poll(slow, 10)  # then 5 s of work: past max_poll_interval_s
    env.run(until=2.9)
    assert g.evictions == 0 and other.partitions == []
    env.run(until=3.1)
    assert g.evictions == 1 and ("member_evicted", "g") in log and other.partitions == [0]
    again = g.poll(other, 10)
    assert again.records == [10, 11, 12] and again.attempts == [2, 2, 2]
    assert g.redelivered == 3
    env.run(until=5.0)
    assert g.commit(late) is False and g.committed == [0]  # CommitFailedException
    rebalances = g.rebalances
    assert g.poll(slow, 10) is None and slow in g.members  # its next poll rejoins
    assert g.rebalances == rebalances + 1
    assert g.commit(again) is True and g.committed == [3]


def test_a_slow_deployment_is_evicted_its_commit_fails_and_another_pod_redelivers():
    env = simpy.Environment()
    topic = Topic(env, "t", 1)
    topic.append(0, list(range(4)))
    group = ConsumerGroup(env, "g", topic, max_poll_interval_s=3.0)
    # 4 records x 1 s per record = 4 s per poll > max_poll_interval_s
    spec = DeploymentSpec(replicas=2, max_poll_records=4, service=_det(0.0, 1.0))
    h = _Handler(env)
    dep = Deployment(env, "d", spec, group, h, np.random.default_rng(0))
    dep.start()
    env.run(until=5.0)
    assert [(t, pod) for t, pod, _ in h.begun] == [(0.0, "d-0"), (3.0, "d-1")]
    assert h.begun[1][2] == h.begun[0][2] and group.redelivered == 4
    assert dep.failed_commits == 1 and group.committed == [0]  # d-0's commit at 4 s failed
    assert group.evictions == 1 and len(group.members) == 2  # and d-0 rejoined


@pytest.mark.slow
def test_evictions_in_a_pipeline_redeliver_count_duplicates_and_lose_nothing(small):
    # an enricher poll takes 0.6 s + 0.05 s per record, exponentially distributed: about one
    # in four takes longer than max_poll_interval_s
    sc = _changed(small, last_stage="fraud_detector", bus__kafka__max_poll_interval_s=1.0,
                  deployments__feature_enricher__service__fixed_s=0.6)
    s = build(sc)
    res = run(s, progress=False)
    group = s.groups["feature_enricher"]
    assert group.evictions > 0 and group.redelivered > 0
    assert s.deployments["feature_enricher"].failed_commits > 0
    summary = res.summary.iloc[0]
    assert summary["duplicates"] > 0 and summary["lost"] == 0
    assert (res.incidents["kind"] == "member_evicted").sum() == group.evictions


@pytest.mark.slow
def test_cooperative_pauses_give_the_same_run_on_the_fast_paths_and_off(small):
    """Per-partition pauses on a scheduled topic (the label feed's, the precomputed ingress's)
    wake and hold consumers, lingering or not, as on the event-driven topics."""
    sc = _changed(small, deployments__label_feed__replicas=2, topics__labels__partitions=3,
                  deployments__feature_enricher__replicas=2, bus__kafka__session_timeout_s=6.0,
                  deployments__feature_enricher__fetch_min_records=5,  # a linger too
                  deployments__feature_enricher__fetch_max_wait_s=0.5,
                  bus__kafka__rebalance_protocol="cooperative",
                  bus__kafka__assignment_strategy="cooperative_sticky",
                  faults=[{"deployment": "label_feed", "at_s": 5.0, "restart_s": 1.0},
                          {"deployment": "feature_enricher", "at_s": 7.0, "restart_s": 1.0}])
    auto = run(sc, progress=False)
    off = run(_changed(sc, engine__fast_paths="off"), progress=False)
    assert (auto.incidents["kind"] == "rebalance").sum() >= 8
    for name in ("transactions", "spans", "incidents"):
        pd.testing.assert_frame_equal(getattr(auto, name), getattr(off, name), check_exact=True)
