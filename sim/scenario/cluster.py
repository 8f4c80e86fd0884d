"""The cluster: autoscalers per deployment, pod resources, node pools and the cluster autoscaler.

Field names and defaults follow the real controllers:

- the Kubernetes Horizontal Pod Autoscaler (autoscaling/v2): ``spec.behavior`` (stabilization
  windows, scale-up and scale-down policies), the controller's tolerance 0.1 and sync period
  15 s, its CPU-initialization (5 min) and initial-readiness-delay (30 s) periods;
- KEDA's Apache Kafka scaler (``lagThreshold`` 10, ``activationLagThreshold`` 0,
  ``allowIdleConsumers`` false, ``pollingInterval`` 30 s, ``cooldownPeriod`` 300 s); KEDA drives
  an HPA, so :class:`BehaviorSpec` applies to it too;
- pod ``resources.requests`` and node allocatable CPU / GPU (``nvidia.com/gpu``), the
  kube-scheduler's fit, and the Cluster Autoscaler (scan interval 10 s, a node unneeded for
  10 minutes is removed).

An empty ``cluster.node_pools`` (the default) is an unlimited cluster: every pod fits at once.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, StrictBool, ValidationInfo, field_validator, model_validator

from sim.scenario.base import Frozen as _Frozen
from sim.scenario.base import fill_kind_block, refuse_other_kind

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")

__all__ = [
    "AutoscalingSpec",
    "BehaviorSpec",
    "ClusterAutoscalerSpec",
    "ClusterSpec",
    "CpuTriggerSpec",
    "KafkaLagTriggerSpec",
    "NodePoolSpec",
    "ResourcesSpec",
    "cluster_errors",
]


class BehaviorSpec(_Frozen):
    """An HPA's ``spec.behavior`` and tolerance (Kubernetes defaults).

    Scale-up: no stabilization window, at most ``scale_up_percent`` % or ``scale_up_pods``
    pods per ``scale_up_period_s``, whichever allows more (``selectPolicy: Max``). Scale-down:
    the highest recommendation of the last ``scale_down_stabilization_s`` wins (300 s), at most
    ``scale_down_percent`` % per ``scale_down_period_s``. No change while the usage ratio is
    within ``1 ± tolerance`` (0.1). Both windows 0 give an autoscaler that follows every
    swing of its metric (thrashing).
    """

    tolerance: float = Field(0.1, ge=0.0, lt=1.0)
    scale_up_stabilization_s: float = Field(0.0, ge=0.0, le=3600.0)
    scale_up_percent: int = Field(100, ge=1, le=10_000)
    scale_up_pods: int = Field(4, ge=1, le=1000)
    scale_up_period_s: float = Field(15.0, gt=0.0, le=1800.0)
    scale_down_stabilization_s: float = Field(300.0, ge=0.0, le=3600.0)
    scale_down_percent: int = Field(100, ge=1, le=100)
    scale_down_period_s: float = Field(15.0, gt=0.0, le=1800.0)


class CpuTriggerSpec(_Frozen):
    """The HPA's CPU ``Resource`` metric: mean utilisation of the pods' requests.

    ``target_utilization`` is ``averageUtilization`` / 100 (commonly 0.8). A pod younger than
    ``cpu_initialization_s`` (5 min) counts only once it is ready and its whole sample window
    (one sync period) lies after it became ready; an older pod that is not ready counts only if
    it was ready once ``initial_readiness_delay_s`` (30 s) after its start (the controller's
    ``--horizontal-pod-autoscaler-cpu-initialization-period`` and
    ``--horizontal-pod-autoscaler-initial-readiness-delay``).
    """

    target_utilization: float = Field(0.8, gt=0.0, le=1.0)
    cpu_initialization_s: float = Field(300.0, ge=0.0, le=3600.0)
    initial_readiness_delay_s: float = Field(30.0, ge=0.0, le=3600.0)


class KafkaLagTriggerSpec(_Frozen):
    """KEDA's Kafka trigger: replicas = ceil(lag / ``lag_threshold``), capped at the topic's
    partitions unless ``allow_idle_consumers``.

    The group's lag is read every ``polling_interval_s`` (KEDA's ``pollingInterval``; the
    HPA's syncs use the last reading, as with ``useCachedMetrics``). At or below
    ``activation_lag_threshold`` the trigger is inactive: the deployment scales to zero
    ``cooldown_s`` after the trigger was last active (``cooldownPeriod``; only when
    ``min_replicas`` is 0, as in KEDA). On SQS and RabbitMQ the metric is the queue's backlog
    (KEDA's ``aws-sqs-queue`` and ``rabbitmq`` scalers) and no partition cap applies.
    """

    lag_threshold: int = Field(10, ge=1, le=100_000_000)
    activation_lag_threshold: int = Field(0, ge=0, le=100_000_000)
    allow_idle_consumers: StrictBool = False
    polling_interval_s: float = Field(30.0, ge=1.0, le=3600.0)
    cooldown_s: float = Field(300.0, ge=0.0, le=86400.0)


class AutoscalingSpec(_Frozen):
    """A deployment's autoscaler: ``kind`` ``hpa`` (CPU) or ``keda`` (consumer lag).

    ``min_replicas`` / ``max_replicas`` bound the replicas (``min_replicas`` 0 only with KEDA,
    which can scale to zero); the HPA controller syncs every ``sync_period_s`` (15 s). Only the
    block of ``kind`` may be given (``hpa`` or ``keda``; filled with defaults).
    """

    kind: Literal["hpa", "keda"] = "hpa"
    min_replicas: int = Field(1, ge=0, le=1000)
    max_replicas: int = Field(10, ge=1, le=1000)
    sync_period_s: float = Field(15.0, ge=1.0, le=3600.0)
    behavior: BehaviorSpec = BehaviorSpec()
    hpa: CpuTriggerSpec | None = None
    keda: KafkaLagTriggerSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        return fill_kind_block(data, ("hpa", "keda"), "hpa")

    @field_validator("hpa", "keda")
    @classmethod
    def _of_its_kind(cls, block: Any, info: ValidationInfo) -> Any:
        return refuse_other_kind(block, str(info.field_name), info.data.get("kind"),
                                 "autoscaler")

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas: must be <= max_replicas ({self.max_replicas}), got "
                f"{self.min_replicas}"
            )
        if self.min_replicas == 0 and self.kind == "hpa":
            raise ValueError(
                "min_replicas: must be >= 1 for an hpa autoscaler (a CPU metric cannot wake "
                "a deployment of zero pods; kind: keda scales to zero), got 0"
            )
        return self

    @property
    def trigger(self) -> CpuTriggerSpec | KafkaLagTriggerSpec:
        """The block of :attr:`kind` (filled with defaults at validation)."""
        block = getattr(self, self.kind)
        assert block is not None  # filled by _fill
        return block


class ResourcesSpec(_Frozen):
    """A pod's ``resources.requests``: CPU cores and GPUs (``nvidia.com/gpu``, whole devices).

    The kube-scheduler places a pod on a node only where the requests fit the node's
    allocatable resources less the requests of the pods already there.
    """

    cpu: float = Field(0.5, gt=0.0, le=1024.0)
    gpu: int = Field(0, ge=0, le=64)


class ClusterAutoscalerSpec(_Frozen):
    """The Cluster Autoscaler of one node pool.

    Every ``scan_interval_s`` (10 s) it adds nodes for the pods that are Pending because no
    node has room (up to ``max_nodes``); a new node is ready ``node_startup_s`` later (a cloud
    VM's boot and kubelet registration: about a minute, not a Kubernetes default). A node with
    no pod for ``scale_down_unneeded_s`` (10 minutes) is removed, down to ``min_nodes``.
    """

    min_nodes: int = Field(0, ge=0, le=10_000)
    max_nodes: int = Field(10, ge=1, le=10_000)
    node_startup_s: float = Field(60.0, ge=0.0, le=3600.0)
    scan_interval_s: float = Field(10.0, ge=1.0, le=3600.0)
    scale_down_unneeded_s: float = Field(600.0, ge=0.0, le=86400.0)


class NodePoolSpec(_Frozen):
    """A node pool: ``nodes`` nodes at the start, each with ``cpu`` cores and ``gpu`` GPUs
    allocatable; ``autoscaler`` (None = fixed size) adds and removes nodes."""

    nodes: int = Field(1, ge=0, le=10_000)
    cpu: float = Field(4.0, gt=0.0, le=1024.0)
    gpu: int = Field(0, ge=0, le=64)
    autoscaler: ClusterAutoscalerSpec | None = None


class ClusterSpec(_Frozen):
    """The cluster's node pools by name; empty (the default) = unlimited (every pod fits)."""

    node_pools: dict[str, NodePoolSpec] = Field(default_factory=dict)

    @field_validator("node_pools")
    @classmethod
    def _names(cls, pools: dict[str, NodePoolSpec]) -> dict[str, NodePoolSpec]:
        """Pool names are Kubernetes names (DNS-1123 labels: ``cpu``, ``gpu-a100``)."""
        for name in pools:
            if not _DNS_LABEL.fullmatch(name):
                raise ValueError(
                    f"pool name {name!r}: must be 1-63 lower-case letters, digits or '-', "
                    "starting and ending with a letter or digit (a Kubernetes name)"
                )
        return pools

    def __hash__(self) -> int:
        """Hash of the pools in order (a frozen block stays hashable, as every scenario
        block is: a dict field alone is not)."""
        return hash(tuple(self.node_pools.items()))


def cluster_errors(sc: Any) -> str | None:
    """The first inconsistency between the deployments and the cluster of scenario ``sc``.

    - ``replicas`` outside the autoscaler's ``min_replicas..max_replicas``;
    - a KEDA (lag) autoscaler on the ingestor, which consumes no topic;
    - KEDA knobs that would not act: ``allow_idle_consumers`` on a queue bus (no partition
      cap), a ``cooldown_s`` other than the default with ``min_replicas`` above 0 (it is the
      wait before zero);
    - ``node_pool`` naming no pool of ``cluster.node_pools`` (or set on an unlimited cluster);
    - a pod whose requests fit no node of its pool (a GPU pod on a pool without GPUs): it
      would be Pending for ever;
    - a pool of 0 nodes without an autoscaler, or whose ``nodes`` lie outside its
      autoscaler's ``min_nodes..max_nodes``.
    """
    from sim.topology import SERVICES

    pools = sc.cluster.node_pools
    for name, pool in pools.items():
        where, a = f"cluster.node_pools.{name}", pool.autoscaler
        if pool.nodes == 0 and a is None:
            return (f"{where}.nodes: a pool of 0 nodes without an autoscaler can run no pod; "
                    "give it nodes >= 1 or an autoscaler")
        if a is not None and not a.min_nodes <= pool.nodes <= a.max_nodes:
            return (f"{where}.nodes: must lie in autoscaler.min_nodes..max_nodes "
                    f"({a.min_nodes}..{a.max_nodes}), got {pool.nodes}")
    first = next(iter(pools), None)
    for row in SERVICES:
        spec = getattr(sc.deployments, row.deployment)
        where = f"deployments.{row.deployment}"
        a = spec.autoscaling
        if a is not None:
            if not a.min_replicas <= spec.replicas <= a.max_replicas:
                return (f"{where}.replicas: must lie in autoscaling.min_replicas..max_replicas "
                        f"({a.min_replicas}..{a.max_replicas}), got {spec.replicas}")
            if a.kind == "keda" and row.topic_in is None:
                return (f"{where}.autoscaling.kind: 'keda' scales on a consumer's lag and "
                        f"{row.deployment} consumes no topic; use kind: hpa")
            k = a.keda
            if k is not None and k.allow_idle_consumers and sc.bus.kind != "kafka":
                return (f"{where}.autoscaling.keda.allow_idle_consumers: lifts the cap at the "
                        f"partition count, and a {sc.bus.kind} queue has none; remove it")
            cooldown = KafkaLagTriggerSpec.model_fields["cooldown_s"].default
            if k is not None and k.cooldown_s != cooldown and a.min_replicas > 0:
                return (f"{where}.autoscaling.keda.cooldown_s: KEDA's cooldownPeriod is the "
                        "wait before scaling to zero and acts only with min_replicas: 0 "
                        f"(got {a.min_replicas}); remove it or set min_replicas: 0")
        if spec.node_pool is not None and spec.node_pool not in pools:
            known = ", ".join(pools) or "none: cluster.node_pools is empty (unlimited)"
            return f"{where}.node_pool: no pool {spec.node_pool!r} (pools: {known})"
        name = spec.node_pool or first
        if name is None:
            continue
        pool, req = pools[name], spec.resources
        if req.gpu > pool.gpu:
            return (f"{where}.resources.gpu: {req.gpu} GPU per pod, but the nodes of pool "
                    f"{name!r} have {pool.gpu}; run it on a pool with GPUs (node_pool)")
        if req.cpu > pool.cpu:
            return (f"{where}.resources.cpu: {req.cpu:g} cores per pod, but the nodes of pool "
                    f"{name!r} have {pool.cpu:g}")
    return None
