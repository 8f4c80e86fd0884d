"""The HPA policy against the Kubernetes controller's documented behaviour (autoscaling/v2)."""

from __future__ import annotations

import pytest

from sim.policies.hpa import HorizontalPodAutoscaler, ScalingPolicy


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
