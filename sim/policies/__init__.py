"""Pure decisions, with no SimPy inside: unit-tested against the real systems' documented rules.

The alert-service's policy (``sim.policies.alert``) and the Kubernetes HPA's decision
(``sim.policies.hpa``, not yet driven by a loop); the KEDA trigger, circuit breaker and retry
policies of later issues belong here too. SimPy processes only drive them.
"""

from __future__ import annotations

from sim.policies.alert import AlertPolicy
from sim.policies.hpa import HorizontalPodAutoscaler, PodSample, cpu_replicas, group_pods
from sim.policies.keda import KafkaLagScaler
from sim.policies.scheduling import ClusterAutoscaler, NodePool

__all__ = [
    "AlertPolicy",
    "ClusterAutoscaler",
    "HorizontalPodAutoscaler",
    "KafkaLagScaler",
    "NodePool",
    "PodSample",
    "cpu_replicas",
    "group_pods",
]
