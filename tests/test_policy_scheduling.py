"""The kube-scheduler's fit and the Cluster Autoscaler's decisions, hand-computed (no SimPy)."""

from __future__ import annotations

import doctest

import pytest

from sim.policies import scheduling
from sim.policies.scheduling import ClusterAutoscaler, NodePool, fit
from sim.scenario.cluster import ClusterAutoscalerSpec, NodePoolSpec


def _pool(nodes: int = 1, cpu: float = 4.0, gpu: int = 0, name: str = "cpu") -> NodePool:
    return NodePool(name, NodePoolSpec(nodes=nodes, cpu=cpu, gpu=gpu))


def _ca(**kw: float) -> ClusterAutoscaler:
    return ClusterAutoscaler(ClusterAutoscalerSpec(**kw))


def test_a_gpu_pod_fits_only_a_node_with_a_free_gpu():
    cpu, gpu = _pool(2), _pool(2, cpu=8.0, gpu=1, name="gpu")
    assert fit(cpu, 1.0, 1) is None
    for i in range(2):
        node = fit(gpu, 1.0, 1)
        assert node is not None and node.name == f"gpu-node-{i}"
        gpu.bind(f"det-{i}", node, 1.0, 1)
    assert fit(gpu, 1.0, 1) is None  # both GPUs taken, 7 cores free on each
    assert fit(gpu, 1.0, 0) is not None


def test_fit_subtracts_the_requests_already_bound_and_takes_the_first_fitting_node():
    pool = _pool(2)
    for pod in ("a", "b"):
        pool.bind(pod, fit(pool, 1.5, 0), 1.5, 0)
    assert pool.bound["b"][0].name == "cpu-node-0"  # 3 of 4 cores
    assert fit(pool, 1.5, 0).name == "cpu-node-1"  # 1 core left on node 0
    assert fit(pool, 1.0, 0).name == "cpu-node-0"
    pool.unbind("a", now_s=5.0)
    assert fit(pool, 2.5, 0).name == "cpu-node-0"


def test_requests_summing_to_the_allocatable_fit_despite_float_rounding():
    pool = _pool(1)
    for i in range(40):  # 40 x 0.1 sums to 4.000000000000002 in floats
        node = fit(pool, 0.1, 0)
        assert node is not None, i
        pool.bind(f"p{i}", node, 0.1, 0)
    assert fit(pool, 0.1, 0) is None


def test_a_booting_node_takes_no_pod():
    pool = _pool(0)
    node = pool.add_node(now_s=0.0)
    assert fit(pool, 1.0, 0) is None
    pool.mark_ready(node, now_s=60.0)
    assert fit(pool, 1.0, 0) is node and node.empty_since_s == 60.0


def test_three_pods_of_1_5_cpu_on_4_cpu_nodes_need_two_nodes():
    assert _ca(max_nodes=10).scale_up(_pool(0), [(1.5, 0)] * 3, now_s=0.0) == 2


def test_scale_up_packs_the_largest_pods_first():
    # in arrival order 1, 1 | 3 | 3 would take 3 nodes; largest first 3+1 | 3+1 takes 2
    assert _ca().scale_up(_pool(0), [(1.0, 0), (1.0, 0), (3.0, 0), (3.0, 0)], 0.0) == 2


def test_scale_up_counts_the_free_room_of_ready_and_starting_nodes():
    pool = _pool(1)
    pool.bind("a", pool.nodes[0], 2.5, 0)  # 1.5 cores free on the ready node
    assert _ca().scale_up(pool, [(1.5, 0)], 0.0) == 0
    pool.add_node(now_s=0.0)  # starting: the CA counts it as there
    assert _ca().scale_up(pool, [(1.5, 0)] * 3, 0.0) == 0  # 1 on node 0, 2 on the new one
    assert _ca().scale_up(pool, [(1.5, 0)] * 4, 0.0) == 1


def test_no_node_is_added_for_a_pod_that_fits_no_node_of_the_pool():
    assert _ca().scale_up(_pool(0), [(5.0, 0)], 0.0) == 0
    assert _ca().scale_up(_pool(0), [(1.0, 1)], 0.0) == 0
    assert _ca().scale_up(_pool(0), [(5.0, 0), (1.0, 0)], 0.0) == 1


def test_max_nodes_caps_the_scale_up():
    pool = _pool(2)
    for i, node in enumerate(pool.nodes):
        pool.bind(f"a{i}", node, 4.0, 0)
    assert _ca(max_nodes=3).scale_up(pool, [(4.0, 0)] * 10, 0.0) == 1
    assert _ca(max_nodes=2).scale_up(pool, [(4.0, 0)] * 10, 0.0) == 0
    assert _ca(max_nodes=20).scale_up(pool, [(4.0, 0)] * 10, 0.0) == 10


def test_scale_down_after_exactly_the_unneeded_time_not_before():
    ca = _ca(min_nodes=0, scale_down_unneeded_s=600.0)
    pool = _pool(2)  # both empty since 0
    pool.bind("a", pool.nodes[0], 1.0, 0)
    pool.unbind("a", now_s=100.0)  # node 0 empty since 100
    assert ca.scale_down(pool, 599.9) == []
    assert [n.name for n in ca.scale_down(pool, 600.0)] == ["cpu-node-1"]
    assert [n.name for n in ca.scale_down(pool, 700.0)] == ["cpu-node-1", "cpu-node-0"]


def test_a_node_with_a_pod_or_still_booting_is_never_removed():
    ca = _ca(min_nodes=0, scale_down_unneeded_s=0.0)
    pool = _pool(1)
    pool.bind("a", pool.nodes[0], 0.5, 0)
    pool.add_node(now_s=0.0)
    assert ca.scale_down(pool, 1e6) == []


def test_scale_down_keeps_min_nodes_counting_the_longest_empty_first():
    ca = _ca(min_nodes=2, scale_down_unneeded_s=600.0)
    pool = _pool(3)
    pool.bind("a", pool.nodes[0], 1.0, 0)
    pool.unbind("a", now_s=50.0)
    assert [n.name for n in ca.scale_down(pool, 1000.0)] == ["cpu-node-1"]
    pool.remove_node(pool.nodes[1])
    assert ca.scale_down(pool, 1e6) == []


def test_node_names_are_never_reused_and_bad_moves_raise():
    pool = _pool(2)
    pool.remove_node(pool.nodes[1])
    assert pool.add_node(now_s=0.0).name == "cpu-node-2"
    pool.bind("a", pool.nodes[0], 1.0, 0)
    with pytest.raises(ValueError, match="remove_node"):
        pool.remove_node(pool.nodes[0])
    with pytest.raises(ValueError, match="bind"):
        pool.bind("a", pool.nodes[0], 1.0, 0)
    with pytest.raises(ValueError, match="bind"):
        pool.bind("b", pool.nodes[0], 3.5, 0)


def test_doctests():
    assert doctest.testmod(scheduling).failed == 0
