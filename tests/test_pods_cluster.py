"""The cluster in time: Pending pods wait for a freed node or a new one (plain SimPy, no run)."""

from __future__ import annotations

import doctest

import pytest
import simpy

from sim.pods import cluster as cluster_module
from sim.pods.cluster import Cluster
from sim.record.incidents import IncidentLog
from sim.scenario.cluster import ClusterAutoscalerSpec, ClusterSpec, NodePoolSpec


def _cluster(env: simpy.Environment, **pools: NodePoolSpec) -> tuple[Cluster, IncidentLog]:
    log = IncidentLog(env)
    return Cluster(env, ClusterSpec(node_pools=pools), log), log


def _kinds(log: IncidentLog, kind: str) -> list[tuple[float, str, str, float]]:
    return [(t, target, detail, d) for t, k, target, detail, d in log.rows if k == kind]


def _at(env: simpy.Environment, t: float, action) -> None:
    def proc():
        yield env.timeout(t)
        action()
    env.process(proc())


def test_unlimited_when_there_are_no_pools():
    env = simpy.Environment()
    assert _cluster(env)[0].unlimited
    assert not _cluster(env, cpu=NodePoolSpec())[0].unlimited
    with pytest.raises(ValueError, match="node_pool"):
        _cluster(env)[0].schedule("a-0", None, 1.0, 0)


def test_a_pod_that_does_not_fit_is_pending_until_a_pod_is_released():
    env = simpy.Environment()
    c, log = _cluster(env, cpu=NodePoolSpec(nodes=1, cpu=2.0))
    assert c.schedule("a-0", None, 1.5, 0).value == "cpu-node-0"
    ev = c.schedule("a-1", "cpu", 1.5, 0)
    assert not ev.triggered and c.pending() == c.pending("cpu") == 1
    assert [(t, pod) for t, pod, _, _ in _kinds(log, "pod_pending")] == [(0.0, "a-1")]
    assert "pool cpu has cpu 1.5, gpu 0 free" in _kinds(log, "pod_pending")[0][2]
    bound_at = []
    ev.callbacks.append(lambda e: bound_at.append((env.now, e.value)))
    _at(env, 5.0, lambda: c.release("a-0"))
    env.run(until=10.0)
    assert bound_at == [(5.0, "cpu-node-0")] and c.pending() == 0
    assert [(t, d) for t, _, _, d in _kinds(log, "pod_scheduled")] == [(5.0, 5.0)]


def test_a_pending_pod_waits_for_the_node_added_at_the_next_scan_and_its_startup():
    env = simpy.Environment()
    ca = ClusterAutoscalerSpec(min_nodes=1, max_nodes=3, node_startup_s=60.0,
                               scan_interval_s=10.0)
    c, log = _cluster(env, cpu=NodePoolSpec(nodes=1, cpu=2.0, autoscaler=ca))
    c.schedule("a-0", None, 2.0, 0)
    c.start()
    bound_at = []

    def pend():
        ev = c.schedule("a-1", None, 1.0, 0)
        ev.callbacks.append(lambda e: bound_at.append((env.now, e.value)))
    _at(env, 3.0, pend)
    env.run(until=20.0)  # scans at 0, 10: the node is added at 10
    assert (c.nodes_ready("cpu"), c.nodes_starting("cpu"), c.pending()) == (1, 1, 1)
    assert _kinds(log, "node_added") == [
        (10.0, "cpu-node-1", "for 1 pending pods, ready in 60 s", 60.0)]
    assert dict(((m, lab), v) for m, lab, v in c.sample()) == {
        ("cluster_autoscaler_nodes_count", "pool=cpu,state=ready"): 1.0,
        ("cluster_autoscaler_nodes_count", "pool=cpu,state=starting"): 1.0,
        ("kube_pod_status_phase", "pool=cpu,phase=Pending"): 1.0}
    env.run(until=69.9)
    assert bound_at == []
    env.run(until=100.0)
    assert bound_at == [(70.0, "cpu-node-1")]
    assert [t for t, *_ in _kinds(log, "node_ready")] == [70.0]
    assert len(_kinds(log, "node_added")) == 1  # the starting node counted at the scans 20..60
    assert (c.nodes_ready("cpu"), c.nodes_starting("cpu"), c.pending()) == (2, 0, 0)


def test_cancel_removes_a_pending_pod_and_no_node_is_added_for_it():
    env = simpy.Environment()
    ca = ClusterAutoscalerSpec(min_nodes=1, max_nodes=3, scan_interval_s=10.0)
    c, log = _cluster(env, cpu=NodePoolSpec(nodes=1, cpu=2.0, autoscaler=ca))
    c.schedule("a-0", None, 2.0, 0)
    ev = c.schedule("a-1", None, 1.0, 0)
    c.cancel("a-1")
    assert c.pending() == 0
    c.start()
    _at(env, 15.0, lambda: c.release("a-0"))
    env.run(until=100.0)
    assert not ev.triggered and _kinds(log, "node_added") == []
    with pytest.raises(KeyError):
        c.release("a-1")


def test_an_empty_node_is_removed_at_the_first_scan_after_the_unneeded_time_down_to_min():
    env = simpy.Environment()
    ca = ClusterAutoscalerSpec(min_nodes=1, max_nodes=3, scan_interval_s=10.0,
                               scale_down_unneeded_s=600.0)
    c, log = _cluster(env, cpu=NodePoolSpec(nodes=2, cpu=2.0, autoscaler=ca))
    c.schedule("a-0", None, 1.0, 0)  # on node 0; node 1 empty since 0
    c.start()
    _at(env, 100.0, lambda: c.release("a-0"))  # node 0 empty since 100: kept by min_nodes
    env.run(until=599.0)
    assert c.nodes_ready("cpu") == 2
    env.run(until=2000.0)
    assert [(t, node) for t, node, _, _ in _kinds(log, "node_removed")] == [
        (600.0, "cpu-node-1")]
    assert c.nodes_ready("cpu") == 1


def test_pending_pods_are_tried_in_order_without_head_of_line_blocking():
    env = simpy.Environment()
    c, _ = _cluster(env, cpu=NodePoolSpec(nodes=1, cpu=3.0))
    c.schedule("a-0", None, 1.5, 0)
    c.schedule("a-1", None, 1.5, 0)
    big, small1, small2 = (c.schedule("b-0", None, 2.0, 0), c.schedule("c-0", None, 1.0, 0),
                           c.schedule("c-1", None, 1.0, 0))
    c.release("a-0")  # 1.5 cores free: the big pod waits, the first small one is bound
    assert (big.triggered, small1.triggered, small2.triggered) == (False, True, False)
    c.release("a-1")  # 2.0 free: the big one (older) goes first, the small one no longer fits
    assert (big.triggered, small2.triggered) == (True, False)


def test_pods_go_to_their_pool_and_bad_requests_name_the_field():
    env = simpy.Environment()
    c, _ = _cluster(env, cpu=NodePoolSpec(nodes=1, cpu=4.0),
                    gpu=NodePoolSpec(nodes=1, cpu=8.0, gpu=1))
    assert c.schedule("enr-0", None, 1.0, 0).value == "cpu-node-0"  # None = first pool
    assert c.schedule("det-0", "gpu", 1.0, 1).value == "gpu-node-0"
    assert not c.schedule("det-1", "gpu", 1.0, 1).triggered
    assert (c.pending("cpu"), c.pending("gpu")) == (0, 1)
    with pytest.raises(ValueError, match="node_pool: no pool 'tpu'"):
        c.schedule("x-0", "tpu", 1.0, 0)
    with pytest.raises(ValueError, match="already"):
        c.schedule("enr-0", None, 1.0, 0)
    with pytest.raises(ValueError, match="resources"):
        c.schedule("x-1", None, 0.0, 0)


def test_doctests():
    assert doctest.testmod(cluster_module).failed == 0
