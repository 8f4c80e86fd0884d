"""Pure decisions, with no SimPy inside: unit-tested against the real systems' documented rules.

- ``sim.policies.alert``: the alert-service's policy;
- ``sim.policies.backoff``: the kubelet's CrashLoopBackOff (restart delays of a crashing pod);
- ``sim.policies.breaker``: resilience4j's circuit breaker (closed, open, half-open);
- ``sim.policies.bulkhead``: resilience4j's semaphore bulkhead (max concurrent calls);
- ``sim.policies.hpa``: the Kubernetes HPA's stabilization, rate limits and bounds;
  ``sim.policies.hpa_cpu``: its replica count from CPU utilisation (``replica_calculator.go``);
- ``sim.policies.keda``: KEDA's Kafka lag trigger, driving an HPA;
- ``sim.policies.retry``: retries with exponential back-off and jitter, gRPC's retry budget;
- ``sim.policies.scheduling``: the kube-scheduler's fit and the Cluster Autoscaler;
- ``sim.policies.slo``: the SRE workbook's multiwindow, multi-burn-rate SLO alerts (applied
  to a run's records by ``sim.analysis.isolation``).

SimPy processes only drive them: ``sim.pods.autoscaler`` and ``sim.pods.cluster`` (the
autoscalers, the scheduler), ``sim.faults.pods`` (CrashLoopBackOff), ``sim.pods.retries``
(retries of failed processing) and ``sim.services.resilient_call`` (the feature-store call's
timeout, retries, retry budget, breaker and bulkhead).
"""

from __future__ import annotations

from sim.policies.alert import AlertPolicy
from sim.policies.backoff import CrashLoopBackOff
from sim.policies.breaker import BreakerConfig, CircuitBreaker
from sim.policies.bulkhead import Bulkhead
from sim.policies.hpa import HorizontalPodAutoscaler
from sim.policies.hpa_cpu import PodSample, cpu_replicas, group_pods
from sim.policies.keda import KafkaLagScaler
from sim.policies.retry import RetryBudget, RetryPolicy
from sim.policies.scheduling import ClusterAutoscaler, NodePool
from sim.policies.slo import BurnWindow, alert_intervals

__all__ = [
    "AlertPolicy",
    "BreakerConfig",
    "Bulkhead",
    "BurnWindow",
    "CircuitBreaker",
    "ClusterAutoscaler",
    "CrashLoopBackOff",
    "HorizontalPodAutoscaler",
    "KafkaLagScaler",
    "NodePool",
    "PodSample",
    "RetryBudget",
    "RetryPolicy",
    "alert_intervals",
    "cpu_replicas",
    "group_pods",
]
