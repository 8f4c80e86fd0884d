"""The pod lifecycle under scaling (issue 10), on small deterministic runs.

Each test builds a run, adds a driver process that calls ``scale_to`` (as ``kubectl scale`` or
an autoscaler would) at chosen times or when a pod is found busy, and runs it to its end with
``sim.run`` (which checks conservation). What the tests follow, after Kubernetes and Kafka:

- a pod removed by a scale-down finishes its batch in hand, commits, and leaves its group at
  once (``LeaveGroup``: a rebalance then, not after ``session_timeout_s``); if the batch outlasts
  ``termination_grace_period_s`` it is killed then, and its uncommitted batch is delivered
  again (at-least-once) or lost with a reason naming the scale-down (at-most-once);
- a new pod is ready ``startup_s`` after it is bound to a node: at once on an unlimited
  cluster, else when a node frees or the node the Cluster Autoscaler added at its scan is
  ready ``node_startup_s`` later;
- the ReplicaSet removes Pending pods first, then pods not ready, then the most recently ready;
- the event-driven ingress keeps its FIFO and every request when its pods change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest
import simpy

from sim import build, run
from sim.record.results import Results
from sim.scenario import Scenario
from sim.system import System

ENRICHER = "feature_enricher"
BASE = {
    "seed": 0,
    "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": 2.0,
                 "live_duration_s": 30.0},
    "last_stage": ENRICHER,
    "topics": {"transactions": {"partitions": 2}},
    "engine": {"fast_paths": "off"},
    "bus": {"kind": "kafka", "kafka": {"rebalance_pause_s": 0.5, "session_timeout_s": 40.0}},
    "deployments": {
        "transaction_ingestor": {"replicas": 1, "service": {"distribution": "deterministic",
                                                            "per_record_s": 0.01}},
        ENRICHER: {"replicas": 2, "max_poll_records": 5,
                   "service": {"distribution": "deterministic", "fixed_s": 4.0,
                               "per_record_s": 0.0}},
    },
    "monitoring_interval_s": 1.0,
    "max_duration_s": 400.0,
}


def scenario(changes: dict | None = None) -> Scenario:
    """:data:`BASE` with ``changes`` merged in (nested dicts merge, other values replace)."""

    def merge(a: dict, b: dict) -> dict:
        out = copy.deepcopy(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
                else v
        return out

    return Scenario.from_dict(merge(BASE, changes or {}))


Driver = Callable[[System], Iterator[simpy.Event]]


class Begun(list):
    """``(time_s, pod, records)`` of every batch the enricher's consumers began."""


def run_driven(sc: Scenario, driver: Driver) -> tuple[Results, System, Begun]:
    """Build ``sc``, spy on the enricher's batches, run ``driver(system)`` as a SimPy process
    beside the pipeline, and run to the end (``run`` checks conservation)."""
    s = build(sc)
    begun = Begun()
    dep = s.deployments.get(ENRICHER)
    if dep is not None:
        real = dep.handler.begin

        def spy(records: list[int], pod: str) -> list[int]:
            begun.append((s.env.now, pod, list(records)))
            return real(records, pod)

        dep.handler.begin = spy  # type: ignore[method-assign]
    s.env.process(driver(s))
    return run(s, progress=False), s, begun


def when_busy(s: System, index: int, after_s: float = 1.0) -> Iterator[simpy.Event]:
    """Wait (in steps of 0.05 s) until pod ``index`` of the enricher has a batch in hand."""
    dep = s.deployments[ENRICHER]
    while s.env.now < after_s or not dep.pods[index].busy_members:
        yield s.env.timeout(0.05)


def incidents(res: Results, kind: str, target: str | None = None) -> pd.DataFrame:
    inc = res.incidents
    inc = inc[inc.kind == kind]
    return inc if target is None else inc[inc.target == target]


def left_rebalances(res: Results, pod: str) -> pd.DataFrame:
    """The enricher group's rebalances caused by a consumer of ``pod`` leaving."""
    r = incidents(res, "rebalance", "feature-enricher")
    return r[r.detail.str.contains(f"({pod}/c", regex=False) & r.detail.str.contains("left")]


def last_batch_before(begun: Begun, pod: str, t: float) -> tuple[float, list[int]]:
    """The last batch ``pod`` began at or before ``t``: (start, records)."""
    start, _, records = [b for b in begun if b[1] == pod and b[0] <= t][-1]
    return start, records


def accounted(res: Results) -> dict:
    s = res.summary_dict()
    assert s["generated"] == sum(
        s[k] for k in ("completed", "in_flight", "shed", "dead_lettered", "lost"))
    return s


# -- (a) scale-down of a busy consumer pod ------------------------------------------------------


def test_a_removed_pod_finishes_its_batch_commits_and_leaves_at_once() -> None:
    """Grace 30 s > the 4 s batch: the batch is served by the leaving pod and committed (never
    delivered again); its member leaves at the batch's end (a rebalance then, long before the
    session timeout of 40 s); the pod is gone then."""
    t_down: list[float] = []

    def driver(s: System):
        yield from when_busy(s, 1, after_s=5.0)
        t_down.append(s.env.now)
        s.deployments[ENRICHER].scale_to(1)

    res, s, begun = run_driven(scenario(), driver)
    t = t_down[0]
    summary = accounted(res)
    assert summary["lost"] == 0 and summary["completed"] == summary["generated"]
    start, batch = last_batch_before(begun, "feature_enricher-1", t)
    end = start + 4.0
    assert start <= t < end and len(batch) >= 2
    spans = res.spans[res.spans.service == ENRICHER]
    mine = spans[spans.trace_id.isin(batch)]
    assert set(mine.pod) == {"feature_enricher-1"} and np.allclose(mine.end_s, end)
    assert not spans[(spans.pod == "feature_enricher-1") & (spans.start_s > t)].size
    again = [b for b in begun if b[0] > t and set(b[2]) & set(batch)]
    assert again == []  # committed: not delivered again
    assert s.groups[ENRICHER].redelivered == 0
    left = left_rebalances(res, "feature_enricher-1")
    assert list(left.time_s) == pytest.approx([end])
    assert end < t + res.scenario.bus.kafka.session_timeout_s
    gone = incidents(res, "pod_terminated", "feature_enricher-1")
    assert list(gone.time_s) == pytest.approx([end])
    assert list(incidents(res, "pod_terminating", "feature_enricher-1").time_s) == [t]


def test_a_removed_idle_pod_leaves_its_group_at_the_scale_down() -> None:
    """An idle consumer of a removed pod leaves at once: the rebalance is at the scale-down
    time (not ``session_timeout_s`` later)."""
    t_down: list[float] = []

    def driver(s: System):
        dep = s.deployments[ENRICHER]
        while s.env.now < 2.0 or dep.pods[1].busy_members or not dep.pods[1].ready:
            yield s.env.timeout(0.05)
        t_down.append(s.env.now)
        dep.scale_to(1)

    res, _, _ = run_driven(scenario(), driver)
    t = t_down[0]
    assert accounted(res)["lost"] == 0
    assert list(left_rebalances(res, "feature_enricher-1").time_s) == [t]
    assert list(incidents(res, "pod_terminated", "feature_enricher-1").time_s) == [t]


def test_a_batch_outlasting_the_grace_period_is_killed_and_delivered_again() -> None:
    """A 10 s batch, a 2 s grace period: the pod is killed 2 s after the scale-down. A killed
    consumer sends no LeaveGroup (SIGKILL): the group removes it ``session_timeout_s`` after
    the kill, as for a crash, and its uncommitted batch is then
    delivered again to the remaining pod, which serves each record once; the redelivery is
    counted (group and summary)."""
    t_down: list[float] = []

    def driver(s: System):
        yield from when_busy(s, 1, after_s=11.0)
        t_down.append(s.env.now)
        s.deployments[ENRICHER].scale_to(1)

    sc = scenario({"deployments": {ENRICHER: {"termination_grace_period_s": 2.0,
                                              "service": {"fixed_s": 10.0}}}})
    res, s, begun = run_driven(sc, driver)
    t = t_down[0]
    kill = t + 2.0
    summary = accounted(res)
    assert summary["lost"] == 0 and summary["completed"] == summary["generated"]
    start, batch = last_batch_before(begun, "feature_enricher-1", t)
    assert start + 10.0 > kill and len(batch) >= 2  # the batch outlasts the grace period
    assert list(incidents(res, "pod_terminated", "feature_enricher-1").time_s) == \
        pytest.approx([kill])
    timeout = res.scenario.bus.kafka.session_timeout_s
    expired = incidents(res, "rebalance", "feature-enricher")
    expired = expired[expired.detail.str.contains("feature_enricher-1/c", regex=False)
                      & expired.detail.str.contains("session timeout")]
    assert list(expired.time_s) == pytest.approx([kill + timeout])
    assert left_rebalances(res, "feature_enricher-1").empty  # no LeaveGroup from a kill
    redone = [b for b in begun if b[0] >= kill - 1e-9 and set(batch) & set(b[2])]
    assert redone and {b[1] for b in redone} == {"feature_enricher-0"}
    assert set(batch) <= {r for b in redone for r in b[2]}  # all of it delivered again
    spans = res.spans[(res.spans.service == ENRICHER) & res.spans.trace_id.isin(batch)]
    assert len(spans) == len(batch) and set(spans.pod) == {"feature_enricher-0"}
    assert (spans.start_s >= kill - 1e-9).all()
    assert s.groups[ENRICHER].redelivered >= len(batch)
    assert summary["redelivered"] >= len(batch)
    assert not incidents(res, "records_lost").size


# -- (b) scale to zero and back ------------------------------------------------------------------


def test_b_scale_to_zero_holds_the_records_until_a_new_pod_is_ready() -> None:
    sc = scenario({"deployments": {ENRICHER: {"replicas": 1, "startup_s": 2.0,
                                              "service": {"fixed_s": 0.3}}}})

    def driver(s: System):
        yield s.env.timeout(5.0)
        s.deployments[ENRICHER].scale_to(0)
        yield s.env.timeout(7.0)
        s.deployments[ENRICHER].scale_to(1)

    res, _, begun = run_driven(sc, driver)
    summary = accounted(res)
    assert summary["lost"] == 0 and summary["completed"] == summary["generated"]
    ready = incidents(res, "pod_ready", "feature_enricher-1")
    assert list(ready.time_s) == pytest.approx([14.0])  # created at 12 + startup 2
    gone = incidents(res, "pod_terminated", "feature_enricher-0").time_s.iloc[0]
    assert 5.0 <= gone <= 5.3  # its batch in hand (0.3 s) done
    assert not [b for b in begun if gone < b[0] < 14.0]  # nobody consumes meanwhile
    tx = res.transactions
    held = tx[(tx.ingest_end_s > gone) & (tx.ingest_end_s < 12.0)]
    assert len(held) and (held.enrich_start_s >= 14.0).all()
    assert (held.outcome == "completed").all()
    m = res.metrics
    spec = m[(m.name == "kube_deployment_spec_replicas") & m.labels.str.contains(ENRICHER)]
    during = spec[(spec.time_s > 5.0) & (spec.time_s < 12.0)]
    assert len(during) and (during.value == 0).all()
    assert (spec[spec.time_s > 12.0].value == 1).all()


# -- (c) readiness of a scaled-up pod ------------------------------------------------------------


def test_c_a_new_pod_is_ready_startup_s_after_it_is_created_on_an_unlimited_cluster() -> None:
    sc = scenario({"deployments": {ENRICHER: {"replicas": 1, "startup_s": 3.0}}})

    def driver(s: System):
        yield s.env.timeout(2.5)
        s.deployments[ENRICHER].scale_to(3)

    res, _, _ = run_driven(sc, driver)
    created = incidents(res, "pod_created")
    assert list(created.target) == ["feature_enricher-1", "feature_enricher-2"]
    assert list(created.time_s) == [2.5, 2.5]
    for pod in created.target:
        assert list(incidents(res, "pod_ready", pod).time_s) == pytest.approx([5.5])
    assert accounted(res)["lost"] == 0


def test_c_a_pending_pod_is_ready_after_the_node_added_at_the_next_scan_starts() -> None:
    """Pool of one 2-cpu node, full; the Cluster Autoscaler scans at 0, 10, 20... A pod created
    at 3 is Pending, a node is added at the scan at 10, ready at 10 + node_startup_s = 17, the
    pod is bound then and ready startup_s = 2 later."""
    sc = scenario({
        "cluster": {"node_pools": {"cpu": {"nodes": 1, "cpu": 2.0, "autoscaler": {
            "max_nodes": 3, "node_startup_s": 7.0, "scan_interval_s": 10.0}}}},
        "deployments": {
            "transaction_ingestor": {"resources": {"cpu": 0.5}},
            "label_feed": {"resources": {"cpu": 0.5}},
            ENRICHER: {"replicas": 1, "startup_s": 2.0, "resources": {"cpu": 1.0}},
        },
    })

    def driver(s: System):
        yield s.env.timeout(3.0)
        s.deployments[ENRICHER].scale_to(2)

    res, _, _ = run_driven(sc, driver)
    pod = "feature_enricher-1"
    assert list(incidents(res, "pod_pending", pod).time_s) == [3.0]
    assert list(incidents(res, "node_added").time_s) == [10.0]
    assert list(incidents(res, "node_ready").time_s) == pytest.approx([17.0])
    assert list(incidents(res, "pod_scheduled", pod).time_s) == pytest.approx([17.0])
    assert list(incidents(res, "pod_ready", pod).time_s) == pytest.approx([19.0])
    assert res.summary_dict()["max_pods_pending"] == 1
    assert accounted(res)["lost"] == 0


# -- (d) which pods a scale-down removes ---------------------------------------------------------


def test_d_removal_order_pending_then_not_ready_then_most_recently_ready() -> None:
    """Pods 0, 1, 2 made ready at 5, 15, 25; pod 0 crashes at 26 and is ready again at 31 (the
    most recently ready); at 33 pod 3 is bound and starting, pod 4 Pending (the node is full).
    Scaling down one at a time removes 4 (Pending), 3 (not ready), 0 (ready at 31), then 2."""
    sc = scenario({
        "workload": {"live_duration_s": 60.0},
        "cluster": {"node_pools": {"cpu": {"nodes": 1, "cpu": 4.5}}},
        "deployments": {
            "transaction_ingestor": {"resources": {"cpu": 0.25}},
            "label_feed": {"resources": {"cpu": 0.25}},
            ENRICHER: {"replicas": 1, "startup_s": 5.0, "resources": {"cpu": 1.0},
                       "service": {"fixed_s": 0.2}},
        },
    })
    plan = [(10.0, 2), (20.0, 3), (26.0, "crash"), (33.0, 5), (34.0, 4), (35.0, 3), (36.0, 2),
            (37.0, 1)]

    def driver(s: System):
        dep = s.deployments[ENRICHER]
        for at, n in plan:
            yield s.env.timeout(at - s.env.now)
            if n == "crash":
                dep.crash(0, restart_s=0.0)
            else:
                dep.scale_to(n)

    res, _, _ = run_driven(sc, driver)
    ready = incidents(res, "pod_ready")
    assert list(ready[ready.target == "feature_enricher-0"].time_s) == pytest.approx([5.0, 31.0])
    assert list(incidents(res, "pod_pending").target) == ["feature_enricher-4"]
    term = incidents(res, "pod_terminating")
    assert list(zip(term.time_s, term.target, strict=True)) == [
        (34.0, "feature_enricher-4"), (35.0, "feature_enricher-3"),
        (36.0, "feature_enricher-0"), (37.0, "feature_enricher-2"),
    ]
    assert not incidents(res, "pod_ready", "feature_enricher-3").size  # removed while starting
    assert accounted(res)["lost"] == 0


# -- (e) the ingress scaled up and down ----------------------------------------------------------


def test_e_the_ingress_keeps_every_request_and_its_fifo_when_scaled() -> None:
    """The ingestor alone (event path), 0.3 s per request at 5 requests/s: one server is
    overloaded. Scaled to 3 at 5 (ready at 6), to 1 at 15, to 2 at 25: every request is served,
    in arrival order, and the removed pods' servers take no request after 15 (the one in hand
    is finished)."""
    sc = scenario({
        "last_stage": "transaction_ingestor",
        "workload": {"rate_per_s": 5.0, "live_duration_s": 40.0},
        "deployments": {"transaction_ingestor": {"replicas": 1, "startup_s": 1.0,
                                                 "service": {"per_record_s": 0.3}}},
    })

    def driver(s: System):
        for at, n in [(5.0, 3), (15.0, 1), (25.0, 2)]:
            yield s.env.timeout(at - s.env.now)
            s.ingress.scale_to(n)

    res, s, _ = run_driven(sc, driver)
    assert not s.paths.scheduled_ingress
    summary = accounted(res)
    assert summary["completed"] == summary["generated"] and summary["shed"] == 0
    tx = res.transactions.sort_values("row")
    assert (np.diff(tx.ingest_start_s.to_numpy()) >= 0).all()  # FIFO: served in arrival order
    sp = res.spans[res.spans.service == "transaction_ingestor"]
    pod = sp.pod.astype(str).str.split("/").str[0]
    removed = pod.isin(["transaction_ingestor-1", "transaction_ingestor-2"])
    assert (sp[removed].start_s < 15.0).all()
    assert (sp[removed].end_s > 15.0).any()  # a request in hand at the scale-down is finished
    assert (sp[pod == "transaction_ingestor-3"].start_s >= 26.0).all()
    for p in ["transaction_ingestor-1", "transaction_ingestor-2"]:
        gone = incidents(res, "pod_terminated", p).time_s
        assert len(gone) == 1 and gone.iloc[0] == pytest.approx(sp[pod == p].end_s.max())


# -- (f) at-most-once ----------------------------------------------------------------------------


@pytest.mark.parametrize("grace_s", [2.0, 30.0])
def test_f_at_most_once_a_kill_at_scale_down_loses_the_batch_in_hand(grace_s: float) -> None:
    """A 10 s batch: with a 2 s grace period the kill loses it, each record counted lost with
    a reason naming the scale-down; with 30 s the batch is finished and nothing is lost."""
    t_down: list[float] = []

    def driver(s: System):
        yield from when_busy(s, 1, after_s=11.0)
        t_down.append(s.env.now)
        s.deployments[ENRICHER].scale_to(1)

    sc = scenario({"deployments": {ENRICHER: {
        "delivery": "at_most_once", "termination_grace_period_s": grace_s,
        "service": {"fixed_s": 10.0}}}})
    res, _, begun = run_driven(sc, driver)
    summary = accounted(res)
    _, batch = last_batch_before(begun, "feature_enricher-1", t_down[0])
    assert len(batch) >= 2
    tx = res.transactions
    lost = tx[tx.outcome == "lost"]
    if grace_s < 10.0:
        assert sorted(lost.row) == sorted(batch) and summary["lost"] == len(batch)
        assert lost.reason.astype(str).str.contains("scale-down").all()
        assert (lost.outcome_stage == ENRICHER).all()
        rec = incidents(res, "records_lost", "feature_enricher-1")
        assert list(rec.time_s) == pytest.approx([t_down[0] + grace_s])
        assert f"{len(batch)} records" in rec.detail.iloc[0]
        assert "scale-down" in rec.detail.iloc[0]
    else:
        assert summary["lost"] == 0
    assert summary["completed"] + summary["lost"] == summary["generated"]


# -- a rebalance that moves a busy member's partition ---------------------------------------------


def test_a_killed_batch_is_delivered_again_after_its_partition_moved() -> None:
    """Pod 1's consumer c1 holds 4 records of partition 3 (8 s of work) when pod 1 is removed
    at 20.2; its idle c0 leaves at once, and round-robin moves partition 3 to pod 0. Pod 0 may
    not poll partition 3 while c1 still holds its batch (Kafka revokes it inside c1's next
    poll); c1 is killed at 26.2 (grace 6 s), its batch goes back to the committed offset and
    pod 0 serves it. (Before the fix, pod 0 read on past the batch and committed past it, and
    the batch stayed in flight for ever.)"""
    sc = scenario({
        "workload": {"rate_per_s": 1.5, "live_duration_s": 40.0},
        "topics": {"transactions": {"partitions": 4}},
        "bus": {"kafka": {"rebalance_pause_s": 0.0, "assignment_strategy": "round_robin"}},
        "deployments": {ENRICHER: {"concurrency": 2, "termination_grace_period_s": 6.0,
                                   "service": {"fixed_s": 0.0, "per_record_s": 2.0}}},
        "max_duration_s": 300.0,
    })

    def driver(s: System):
        yield s.env.timeout(20.2)
        s.deployments[ENRICHER].scale_to(1)

    res, _, _ = run_driven(sc, driver)
    summary = accounted(res)
    assert summary["completed"] == summary["generated"], (
        res.transactions.loc[res.transactions.outcome == "in_flight", "row"].tolist())
