"""The KEDA Kafka-lag policy against KEDA's documented behaviour (scaler, executor, its HPA)."""

from __future__ import annotations

import doctest

import pytest

from sim.policies import keda as keda_module
from sim.policies.hpa import HorizontalPodAutoscaler, ScalingPolicy
from sim.policies.keda import KafkaLagScaler
from sim.scenario import AutoscalingSpec


def test_desired_is_capped_at_the_partitions_unless_idle_consumers_are_allowed():
    capped = KafkaLagScaler(lag_threshold=10)
    idle = KafkaLagScaler(lag_threshold=10, allow_idle_consumers=True)
    assert capped.desired(95, partitions=12) == 10  # ceil(9.5)
    assert capped.desired(1000, partitions=12) == 12  # min(100, 12)
    assert idle.desired(1000, partitions=12) == 100
    assert capped.desired(1000, partitions=None) == 100  # a queue: no partitions to cap at
    assert capped.desired(0, partitions=12) == 0


def test_the_cap_also_bounds_the_hpa_decision():
    big = HorizontalPodAutoscaler(1, 100, scale_up=(ScalingPolicy("Pods", 1000, 15.0),))
    k = KafkaLagScaler(10, hpa=big)
    assert k.decide(0.0, current=2, lag=1000, partitions=6).applied == 6
    k = KafkaLagScaler(10, allow_idle_consumers=True, hpa=HorizontalPodAutoscaler(1, 100))
    assert k.decide(0.0, current=2, lag=1000, partitions=6).applied == 6  # max(2+4, 2x2)
    assert k.decide(15.0, current=6, lag=1000, partitions=6).applied == 12  # past 6


def test_activation_from_zero_is_keda_s_own_step_to_one():
    k = KafkaLagScaler(10, activation_lag_threshold=5)
    assert k.decide(0.0, current=0, lag=5, partitions=12).applied == 0  # not above 5
    assert k.decide(15.0, current=0, lag=6, partitions=12).applied == 1  # above 5: active
    d = KafkaLagScaler(10).decide(30.0, current=0, lag=800, partitions=12)
    assert (d.raw, d.applied) == (1, 1)  # to 1, not min(80, 12) rate-limited to 4 by the HPA
    d = k.decide(45.0, current=1, lag=800, partitions=12)
    assert d.applied == 5  # then the HPA: max(1 + 4, 2 x 1)
    floor2 = KafkaLagScaler(10, hpa=HorizontalPodAutoscaler(2, 10))
    assert floor2.decide(0.0, current=0, lag=800, partitions=12).applied == 2  # minReplicaCount


def test_scale_to_zero_waits_for_the_cooldown_after_the_last_active_poll():
    hpa = HorizontalPodAutoscaler(0, 20, scale_down_window_s=0.0)
    k = KafkaLagScaler(10, cooldown_s=300.0, hpa=hpa)
    assert k.decide(0.0, current=3, lag=30, partitions=12).applied == 3
    for t in range(30, 301, 30):  # lag gone: the HPA floors at 1 while cooling down
        assert k.decide(float(t), current=1, lag=0, partitions=12).applied == 1, t
    d = k.decide(330.0, current=1, lag=0, partitions=12)
    assert (d.raw, d.applied) == (0, 0)  # more than 300 s since active at t = 0
    assert k.decide(360.0, current=0, lag=0, partitions=12).applied == 0


def test_no_scale_to_zero_with_a_floor_and_at_once_if_never_active():
    floor1 = KafkaLagScaler(10, hpa=HorizontalPodAutoscaler(1, 20, scale_down_window_s=0.0))
    assert floor1.decide(0.0, current=3, lag=0, partitions=12).applied == 1
    assert floor1.decide(900.0, current=1, lag=0, partitions=12).applied == 1
    never = KafkaLagScaler(10, hpa=HorizontalPodAutoscaler(0, 20))
    assert never.decide(0.0, current=3, lag=0, partitions=12).applied == 0  # nil lastActiveTime


def test_the_tolerance_applies_to_lag_per_replica_against_the_threshold():
    k = KafkaLagScaler(10, hpa=HorizontalPodAutoscaler(1, 100))
    d = k.decide(0.0, current=10, lag=105, partitions=None)
    assert (d.ratio, d.applied) == (pytest.approx(1.05), 10)  # ceil(10.5) = 11 would be +10 %
    assert k.decide(15.0, current=10, lag=115, partitions=None).applied == 12


def test_from_spec_and_bad_input():
    spec = AutoscalingSpec(kind="keda", min_replicas=0, max_replicas=8, keda={
        "lag_threshold": 100, "activation_lag_threshold": 50, "allow_idle_consumers": True,
        "cooldown_s": 60.0})
    k = KafkaLagScaler.from_spec(spec)
    assert (k.lag_threshold, k.activation_lag_threshold, k.allow_idle_consumers,
            k.cooldown_s) == (100, 50, True, 60.0)
    assert (k.hpa.min_replicas, k.hpa.max_replicas, k.hpa.down_window_s) == (0, 8, 300.0)
    with pytest.raises(ValueError, match="autoscaling.kind"):
        KafkaLagScaler.from_spec(AutoscalingSpec(kind="hpa"))
    with pytest.raises(ValueError, match="lag_threshold"):
        KafkaLagScaler(lag_threshold=0)
    with pytest.raises(ValueError, match="partitions"):
        KafkaLagScaler().desired(10, partitions=0)


def test_doctests():
    assert doctest.testmod(keda_module).failed == 0
