"""The HPA policy against the Kubernetes controller's documented behaviour (autoscaling/v2)."""

from __future__ import annotations

import doctest
import math

import pytest

from sim.policies import hpa as hpa_module
from sim.policies import hpa_cpu
from sim.policies.hpa import HorizontalPodAutoscaler, ScalingPolicy
from sim.policies.hpa_cpu import PodSample, cpu_replicas, group_pods
from sim.scenario import AutoscalingSpec


def test_replicas_follow_ceil_of_ready_times_ratio_outside_the_tolerance():
    hpa = HorizontalPodAutoscaler(1, 100, scale_down_window_s=0.0)
    assert hpa.decide(0.0, current=3, ready=3, metric=0.90, target=0.80).applied == 4  # ceil 3.375
    assert hpa.decide(15.0, current=4, ready=4, metric=0.85, target=0.80).applied == 4  # 6 % off
    assert hpa.decide(30.0, current=4, ready=4, metric=0.89, target=0.80).applied == 5  # 11 %
    assert hpa.decide(45.0, current=5, ready=5, metric=0.40, target=0.80).applied == 3  # ceil 2.5


def test_scale_up_is_limited_to_the_larger_of_100_percent_and_4_pods_per_15_s():
    hpa = HorizontalPodAutoscaler(1, 100)
    d = hpa.decide(0.0, current=1, ready=1, metric=10.0, target=1.0)
    assert (d.raw, d.applied) == (10, 5)  # max(1 + 4, 2 x 1)
    d = hpa.decide(5.0, current=5, ready=5, metric=4.0, target=1.0)
    assert d.applied == 5  # the period started at 1 replica: limit 5 until 15 s have passed
    d = hpa.decide(15.0, current=5, ready=5, metric=4.0, target=1.0)
    assert (d.raw, d.applied) == (20, 10)  # max(5 + 4, 2 x 5)


def test_a_dip_shorter_than_the_scale_down_window_never_scales_down():
    hpa = HorizontalPodAutoscaler(1, 100)  # scale-down stabilization 300 s
    assert hpa.decide(0.0, current=8, ready=8, metric=0.8, target=0.8).applied == 8
    for t in range(15, 300, 15):  # load halves for just under the window
        assert hpa.decide(float(t), current=8, ready=8, metric=0.4, target=0.8).applied == 8
    # once the last high recommendation (t = 0) has left the window, it scales down
    assert hpa.decide(300.0, current=8, ready=8, metric=0.4, target=0.8).applied == 4


def test_bounds_clamp_and_bad_input_names_the_argument():
    hpa = HorizontalPodAutoscaler(2, 6, scale_down_window_s=0.0)
    assert hpa.decide(0.0, current=4, ready=4, metric=10.0, target=1.0).applied == 6
    assert hpa.decide(15.0, current=6, ready=6, metric=0.0, target=1.0).applied == 2
    with pytest.raises(ValueError, match="min_replicas"):
        HorizontalPodAutoscaler(5, 2)
    with pytest.raises(ValueError, match="target"):
        hpa.decide(30.0, current=2, ready=2, metric=0.5, target=0.0)
    with pytest.raises(ValueError, match="scaling policy"):
        HorizontalPodAutoscaler(scale_up=(ScalingPolicy("Nodes", 1, 15.0),))


def test_scale_down_rate_policy_counts_from_the_start_of_its_period():
    slow = (ScalingPolicy("Pods", 1, 60.0),)  # at most one pod removed a minute
    hpa = HorizontalPodAutoscaler(1, 100, scale_down_window_s=0.0, scale_down=slow)
    assert hpa.decide(0.0, current=10, ready=10, metric=0.1, target=1.0).applied == 9
    assert hpa.decide(15.0, current=9, ready=9, metric=0.1, target=1.0).applied == 9
    assert hpa.decide(61.0, current=9, ready=9, metric=0.1, target=1.0).applied == 8


def test_tolerance_is_inclusive_on_both_sides_of_the_target():
    hpa = HorizontalPodAutoscaler(1, 100, scale_down_window_s=0.0)
    assert hpa.decide(0.0, current=10, ready=10, metric=1.09, target=1.0).applied == 10
    assert hpa.decide(15.0, current=10, ready=10, metric=1.11, target=1.0).applied == 12
    assert hpa.decide(30.0, current=10, ready=10, metric=0.91, target=1.0).applied == 10
    assert hpa.decide(45.0, current=10, ready=10, metric=0.89, target=1.0).applied == 9
    exact = HorizontalPodAutoscaler(1, 100, tolerance=0.125)  # representable boundary
    assert exact.decide(0.0, current=8, ready=8, metric=1.125, target=1.0).applied == 8
    assert exact.decide(15.0, current=8, ready=8, metric=1.25, target=1.0).applied == 10


def test_scale_down_follows_the_highest_recommendation_left_in_the_window():
    hpa = HorizontalPodAutoscaler(1, 100)  # 300 s window
    raws = {0: 8, 15: 6, 30: 4}  # load falls over three syncs, then stays low
    for t in range(0, 300, 15):
        r = raws.get(t, 4)
        assert hpa.recommend(float(t), current=8, raw=r, ratio=r / 8).applied == 8
    assert hpa.recommend(300.0, current=8, raw=4, ratio=0.5).applied == 6  # 8 (t=0) has left
    assert hpa.recommend(315.0, current=6, raw=4, ratio=0.5).applied == 4  # 6 (t=15) has left


def test_a_rebound_inside_the_window_restarts_the_wait():
    hpa = HorizontalPodAutoscaler(1, 100)
    hpa.recommend(0.0, current=8, raw=8, ratio=1.0)
    for t in range(15, 600, 15):  # one high sync at 150 s in a long dip
        raw = 8 if t == 150 else 4
        d = hpa.recommend(float(t), current=8, raw=raw, ratio=raw / 8)
        assert d.applied == (8 if t < 450 else 4), t  # 450 = 150 + 300


def test_scale_up_limits_from_1_2_and_10_replicas():
    for current, raw, limit in ((1, 50, 5), (2, 50, 6), (10, 50, 20), (10, 12, 12)):
        hpa = HorizontalPodAutoscaler(1, 100)
        assert hpa.recommend(0.0, current=current, raw=raw, ratio=5.0).applied == limit


def test_the_period_starts_from_replicas_before_scalings_of_either_direction():
    hpa = HorizontalPodAutoscaler(1, 100, scale_down_window_s=0.0)
    assert hpa.recommend(0.0, current=10, raw=5, ratio=0.5).applied == 5
    # the period began at 10 replicas (5 removed since): limit max(10 + 4, 2 x 10)
    assert hpa.recommend(5.0, current=5, raw=30, ratio=6.0).applied == 20


def test_percent_scale_down_rounds_down_like_the_go_conversion():
    half = (ScalingPolicy("Percent", 50, 15.0),)
    hpa = HorizontalPodAutoscaler(1, 100, scale_down_window_s=0.0, scale_down=half)
    assert hpa.recommend(0.0, current=5, raw=1, ratio=0.2).applied == 2  # int(2.5), not 3


def test_min_replicas_0_and_the_rate_limit_from_0_replicas():
    hpa = HorizontalPodAutoscaler(0, 100, scale_down_window_s=0.0)
    assert hpa.recommend(0.0, current=0, raw=10, ratio=10.0).applied == 4  # Pods: 0 + 4
    assert hpa.recommend(15.0, current=4, raw=0, ratio=0.0).applied == 0
    with pytest.raises(ValueError, match="max_replicas"):
        HorizontalPodAutoscaler(0, 0)
    with pytest.raises(ValueError, match="scale_up"):
        HorizontalPodAutoscaler(scale_up=())
    with pytest.raises(ValueError, match="raw"):
        hpa.recommend(30.0, current=0, raw=-1, ratio=0.0)


def test_from_spec_takes_bounds_and_behavior():
    spec = AutoscalingSpec(min_replicas=2, max_replicas=7, behavior={
        "tolerance": 0.2, "scale_up_pods": 1, "scale_up_percent": 1, "scale_up_period_s": 60.0,
        "scale_down_stabilization_s": 0.0, "scale_down_percent": 50})
    hpa = HorizontalPodAutoscaler.from_spec(spec)
    assert (hpa.min_replicas, hpa.max_replicas, hpa.tolerance) == (2, 7, 0.2)
    assert hpa.recommend(0.0, current=2, raw=6, ratio=3.0).applied == 3  # 1 pod a minute
    assert hpa.recommend(30.0, current=3, raw=6, ratio=2.0).applied == 3
    assert hpa.recommend(61.0, current=3, raw=6, ratio=2.0).applied == 4
    assert hpa.recommend(62.0, current=4, raw=2, ratio=0.5).applied == 2  # 50 % of 4, no window


def _pod(started, ready, since, util=0.5):
    return PodSample(started_s=started, ready=ready, ready_since_s=since, utilization=util)


def test_group_pods_follows_the_controllers_readiness_rules():
    now, window = 1000.0, 15.0
    counts, unready, missing = ([0.5], 0, 0), ([], 1, 0), ([], 0, 1)
    cases = [  # (pod, group)
        (_pod(900.0, False, None), unready),  # young, not ready
        (_pod(900.0, True, 990.0), unready),  # young, ready 10 s: sample predates readiness
        (_pod(900.0, True, 985.0), counts),  # young, ready one full window
        (_pod(0.0, False, None), unready),  # old, never ready
        (_pod(0.0, False, 20.0), unready),  # old, ready only within the 30 s delay
        (_pod(0.0, False, 500.0), counts),  # old, was ready later: its sample counts
        (_pod(0.0, True, 999.0), counts),  # old and ready: counts at once
        (_pod(0.0, True, 10.0, util=None), missing),  # no sample: missing
        (_pod(0.0, False, 500.0, util=None), missing),  # crashed after it was ready
    ]
    for pod, group in cases:
        assert tuple(group_pods(now, [pod], window)) == group, pod
    settled = group_pods(now, [_pod(600.0, True, 999.0)], window, cpu_initialization_s=60.0)
    assert tuple(settled) == counts  # past a shorter initialization period, ready counts at once


def test_the_initial_readiness_delay_decides_unready_or_missing():
    """An old pod, not ready now, that became ready 20 s after its start: within a 30 s
    readiness delay that was its initial readiness, so it is unready; with a 10 s delay it had
    been ready and has crashed since: missing (counted at 100 % on a scale-down)."""
    crashed = _pod(0.0, False, 20.0, util=None)
    assert group_pods(1000.0, [crashed], 15.0, initial_readiness_delay_s=30.0).unready == 1
    assert group_pods(1000.0, [crashed], 15.0, initial_readiness_delay_s=10.0).missing == 1


def test_missing_pods_count_at_100_percent_on_a_scale_down_and_0_on_a_scale_up():
    # 2 pods at 20 % of a 50 % target would scale 4 -> 1; 2 missing at 100 % make it 4 x 0.6/0.5
    assert cpu_replicas(4, [0.2, 0.2], 0, target=0.5) == (1, pytest.approx(0.4))
    assert cpu_replicas(4, [0.2, 0.2], 0, target=0.5, missing=2)[0] == 4  # flips: no change
    assert cpu_replicas(4, [0.3, 0.3], 0, target=0.5, missing=1)[0] == 4  # 1.6/3 = 1.07: tol.
    assert cpu_replicas(4, [0.1, 0.1], 0, target=0.5, missing=1)[0] == 3  # 1.2/3/0.5: ceil 2.4
    # a scale-up: 2 pods at 100 % of a 50 % target ask for 4; 2 missing at 0 % bring the
    # ratio to 1.0 (within the tolerance): no change; 1 missing: 2/3 / 0.5 over 3 pods: 4
    assert cpu_replicas(2, [1.0, 1.0], 0, target=0.5) == (4, pytest.approx(2.0))
    assert cpu_replicas(2, [1.0, 1.0], 0, target=0.5, missing=2)[0] == 2
    assert cpu_replicas(3, [1.0, 1.0], 0, target=0.5, missing=1)[0] == 4


def test_cpu_replicas_without_unready_pods_is_ceil_of_ratio_times_ready():
    assert cpu_replicas(4, [0.9] * 4, 0, target=0.6) == (6, pytest.approx(1.5))
    assert cpu_replicas(4, [0.62] * 4, 0, target=0.6)[0] == 4  # within 10 %
    raw, ratio = cpu_replicas(3, [], 2, target=0.6)
    assert raw == 3 and math.isnan(ratio)  # no metric: the sync fails, nothing changes


def test_cpu_replicas_damps_a_scale_up_by_counting_unready_pods_at_zero():
    # 4 ready at 150 % of target, 4 starting: 0.9 x 4 / 8 / 0.6 = 0.75 -> the direction flips
    assert cpu_replicas(8, [0.9] * 4, 4, target=0.6)[0] == 8
    # 4 ready at 300 %, 2 starting: 1.8 x 4 / 6 / 0.6 = 2.0 -> ceil(2.0 x 6) = 12, not 16
    assert cpu_replicas(6, [1.8] * 4, 2, target=0.6)[0] == 12
    # 4 ready at 200 %, 4 starting: new ratio 1.2 x 4 / 8 / 0.6 = 1.0 -> within the tolerance
    assert cpu_replicas(8, [1.2] * 4, 4, target=0.6)[0] == 8
    # fewer pods than now although scaling up (unready left out of `current`): keep current
    assert cpu_replicas(10, [1.0, 1.0], 1, target=0.5)[0] == 10


def test_cpu_replicas_scales_down_on_the_ready_pods_alone():
    # ratio <= 1: unready pods are not counted: ceil(0.5 x 2) = 1 although 4 run
    assert cpu_replicas(4, [0.3, 0.3], 2, target=0.6)[0] == 1


def test_doctests():
    assert doctest.testmod(hpa_module).failed == 0
    assert doctest.testmod(hpa_cpu).failed == 0
