"""Faults: declarative, frozen specs in ``scenario.faults``, one model per ``kind``.

Each fault is scheduled (``at_s``: it starts then and lasts ``duration_s``) or random
(``rate_per_h``: occurrences of a Poisson process of that rate per hour of processing time over
the workload's arrivals, each lasting ``duration_s``, drawn from the run's ``faults`` stream
so that the transaction stream is unchanged; :func:`sim.faults.schedule.occurrences`). Exactly
one of ``at_s`` and ``rate_per_h`` is given. Kinds (``kind``, the tag of the union):

- ``pod_crash``: pod ``pod`` of ``deployment`` (any, the ingestor included) crashes at
  ``at_s``. With ``duration_s > 0`` it is a crash loop: until ``at_s + duration_s`` the pod
  crashes again ``uptime_s`` after each start, and the kubelet restarts it after its
  CrashLoopBackOff delay (10 s, doubling to 300 s, reset after 10 minutes running; Kubernetes'
  container restart policy); ``restart_s`` is the first delay. A mapping without ``kind`` is a
  ``pod_crash`` (scenarios written before the union).
- ``deployment_outage``: every pod of ``deployment`` down for ``duration_s`` (then restarted).
- ``broker_outage``: the brokers of ``topics`` (empty: every topic) refuse produce and fetch for
  ``duration_s``; producers buffer (``deployments.*.producer``) to their bound, then block or
  shed by its ``overflow``.
- ``partition_unavailable``: partition ``partition`` of ``topic`` has no leader for
  ``duration_s`` (Kafka's ``LEADER_NOT_AVAILABLE``): no produce to it and no fetch from it.
- ``slow_dependency``: the feature store's call latency × ``factor`` for ``duration_s``. The
  default store (``sim.scenario.deployments.DependencySpec``) answers a call of n records in
  about 2 ms + 0.5 ms × n plus its network time, so a factor trips a timeout of ``timeout_s``
  only when it is large (or the store's ``service`` is slower).
- ``failing_dependency``: the feature store fails each call with probability ``error_rate``
  for ``duration_s``.
- ``poison``: a fraction ``rate`` of the transactions arriving in the window (``duration_s``
  None: to the end of the run) always fails processing at ``deployment`` (``reason``: a bad
  schema, or a value that breaks the features); chosen from the ``faults`` stream.
- ``network_delay``: ``delay_s`` more on each call from ``source`` to ``target`` (a service's
  produce to the topic ``target`` consumes, or the enricher's call to the feature store) for
  ``duration_s``.

- ``training_outage``: the model-training-service is down for ``duration_s``: a job running
  or started in the window fails (scoring is untouched; the orchestrator tries again at its
  next trigger).
- ``bad_model``: at ``at_s`` a deliberately bad version (``how``: trained on shuffled labels)
  is registered and rolled out to the detector pods, skipping any shadow phase, as a faulty
  release would be; the rollback guard (``retraining.guard``) should catch it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from sim.scenario.base import Frozen as _Frozen
from sim.topology import SERVICES, TOPICS

__all__ = [
    "BadModel",
    "BrokerOutage",
    "DeploymentOutage",
    "FailingDependency",
    "Fault",
    "FAULT_KINDS",
    "NetworkDelay",
    "PartitionUnavailable",
    "PodCrash",
    "Poison",
    "SlowDependency",
    "TrainingOutage",
    "deployments_in_run",
]

DeploymentName = Literal[tuple(row.deployment for row in SERVICES)]  # type: ignore[valid-type]
"""Any deployment of ``sim.topology.SERVICES``, the ingestor included."""
ConsumerName = Literal[  # type: ignore[valid-type]
    tuple(row.deployment for row in SERVICES if row.topic_in is not None and row.stage)
]
"""A consumer stage of the transaction pipeline (where a poison record can fail)."""
TopicName = Literal[tuple(TOPICS)]  # type: ignore[valid-type]
Dependency = Literal["feature_store"]
"""The dependencies a service calls: the enricher's feature store."""
Endpoint = Literal[tuple(row.deployment for row in SERVICES) + ("feature_store",)]  # type: ignore[valid-type]

_DAY_S = 86400.0


class _Window(_Frozen):
    """When a fault acts: ``at_s`` (scheduled) or ``rate_per_h`` (random), for ``duration_s``."""

    at_s: float | None = Field(None, ge=0.0, le=1e9)
    rate_per_h: float | None = Field(None, gt=0.0, le=3600.0)
    duration_s: float = Field(60.0, ge=0.0, le=30 * _DAY_S)

    @model_validator(mode="after")
    def _one_timing(self) -> _Window:
        if (self.at_s is None) == (self.rate_per_h is None):
            raise ValueError(
                "at_s: give exactly one of at_s (a scheduled fault, s >= 0) and rate_per_h "
                "(random occurrences per hour, > 0)"
            )
        return self


class PodCrash(_Window):
    """Pod ``pod`` of ``deployment`` crashes (a crash loop while ``duration_s`` > 0)."""

    kind: Literal["pod_crash"] = "pod_crash"
    deployment: DeploymentName
    pod: int = Field(0, ge=0)
    restart_s: float = Field(10.0, ge=0.0, le=86400.0)
    duration_s: float = Field(0.0, ge=0.0, le=30 * _DAY_S)
    uptime_s: float = Field(5.0, gt=0.0, le=86400.0)

    @model_validator(mode="after")
    def _loop_backs_off(self) -> PodCrash:
        if self.duration_s > 0 and self.restart_s == 0:
            raise ValueError(
                "restart_s: must be > 0 s (up to 86400) for a crash loop (duration_s > 0): "
                "the kubelet's CrashLoopBackOff doubles it, and from 0 the pod would restart "
                "and crash without end"
            )
        return self


class DeploymentOutage(_Window):
    """Every pod of ``deployment`` down for ``duration_s``."""

    kind: Literal["deployment_outage"]
    deployment: DeploymentName


class BrokerOutage(_Window):
    """The brokers of ``topics`` (empty: all) refuse produce and fetch for ``duration_s``."""

    kind: Literal["broker_outage"]
    topics: tuple[TopicName, ...] = ()


class PartitionUnavailable(_Window):
    """Partition ``partition`` of ``topic`` has no leader for ``duration_s``."""

    kind: Literal["partition_unavailable"]
    topic: TopicName
    partition: int = Field(0, ge=0)


class SlowDependency(_Window):
    """The dependency's call latency × ``factor`` for ``duration_s``."""

    kind: Literal["slow_dependency"]
    dependency: Dependency = "feature_store"
    factor: float = Field(10.0, ge=1.0, le=10_000.0)


class FailingDependency(_Window):
    """The dependency fails each call with probability ``error_rate`` for ``duration_s``."""

    kind: Literal["failing_dependency"]
    dependency: Dependency = "feature_store"
    error_rate: float = Field(1.0, gt=0.0, le=1.0)


class Poison(_Window):
    """A fraction ``rate`` of the transactions arriving in the window always fail at
    ``deployment`` (``duration_s`` None: the window lasts to the end of the run)."""

    kind: Literal["poison"]
    deployment: ConsumerName = "feature_enricher"
    rate: float = Field(0.01, gt=0.0, le=1.0)
    reason: Literal["bad_schema", "bad_value"] = "bad_schema"
    at_s: float | None = Field(0.0, ge=0.0, le=1e9)
    duration_s: float | None = Field(None, ge=0.0, le=30 * _DAY_S)  # type: ignore[assignment]


class NetworkDelay(_Window):
    """``delay_s`` more on every call from ``source`` to ``target`` for ``duration_s``."""

    kind: Literal["network_delay"]
    source: Endpoint
    target: Endpoint
    delay_s: float = Field(0.05, gt=0.0, le=3600.0)


class TrainingOutage(_Window):
    """The model-training-service is down for ``duration_s``: its jobs in the window fail."""

    kind: Literal["training_outage"]


class BadModel(_Window):
    """At ``at_s``, a bad version (``how``) is registered and rolled out, skipping shadow."""

    kind: Literal["bad_model"]
    how: Literal["shuffled_labels"] = "shuffled_labels"
    duration_s: float = Field(0.0, ge=0.0, le=0.0)


def _kind_of(value: Any) -> str:
    """The union's tag: ``kind``, ``pod_crash`` when a mapping has none (older scenarios)."""
    if isinstance(value, dict):
        return str(value.get("kind", "pod_crash"))
    return str(getattr(value, "kind", "pod_crash"))


Fault = Annotated[
    Annotated[PodCrash, Tag("pod_crash")]
    | Annotated[DeploymentOutage, Tag("deployment_outage")]
    | Annotated[BrokerOutage, Tag("broker_outage")]
    | Annotated[PartitionUnavailable, Tag("partition_unavailable")]
    | Annotated[SlowDependency, Tag("slow_dependency")]
    | Annotated[FailingDependency, Tag("failing_dependency")]
    | Annotated[Poison, Tag("poison")]
    | Annotated[NetworkDelay, Tag("network_delay")]
    | Annotated[TrainingOutage, Tag("training_outage")]
    | Annotated[BadModel, Tag("bad_model")],
    Discriminator(_kind_of),
]
"""One fault of ``scenario.faults`` (a tagged union on ``kind``)."""

FAULT_KINDS: tuple[str, ...] = (
    "pod_crash", "deployment_outage", "broker_outage", "partition_unavailable",
    "slow_dependency", "failing_dependency", "poison", "network_delay", "training_outage",
    "bad_model",
)


def _edges() -> set[tuple[str, str]]:
    """(source, target) pairs that talk: a producer and the consumers of its topic, and the
    enricher and its feature store."""
    edges = {("feature_enricher", "feature_store")}
    for a in SERVICES:
        for b in SERVICES:
            if a.topic_out is not None and a.topic_out == b.topic_in:
                edges.add((a.deployment, b.deployment))
    return edges


def deployments_in_run(last_stage: str) -> tuple[str, ...]:
    """The deployments a run with ``last_stage`` has: the pipeline's stages up to it, the
    label feed once a consumer runs, the monitoring-service with the alert-service.

    >>> deployments_in_run("feature_enricher")
    ('transaction_ingestor', 'feature_enricher', 'label_feed')
    """
    stages = [row.deployment for row in SERVICES if row.stage is not None]
    out = stages[: stages.index(last_stage) + 1]
    if len(out) > 1:
        out.append("label_feed")
    if last_stage == stages[-1]:
        out.append("monitoring_service")
    return tuple(out)


def fault_errors(scenario: Any) -> str | None:
    """The first inconsistency of ``scenario.faults`` with the rest of the scenario, as one
    line naming the field (None: consistent)."""
    edges = _edges()
    running = deployments_in_run(scenario.last_stage)
    for i, f in enumerate(scenario.faults):
        where = f"faults[{i}]"
        if f.at_s is not None and f.at_s >= scenario.max_duration_s:
            return (f"{where}.at_s: must be < max_duration_s ({scenario.max_duration_s:g}), "
                    f"got {f.at_s:g}: the fault would start after the run's horizon")
        if isinstance(f, TrainingOutage) and scenario.retraining.policy == "none":
            return (f"{where}.kind: training_outage needs a retraining loop "
                    "(retraining.policy scheduled, on_drift or both), got policy none")
        if isinstance(f, BadModel) and "fraud_detector" not in running:
            return (f"{where}.kind: bad_model needs the fraud-detector (last_stage "
                    f"fraud_detector or alert_service), got {scenario.last_stage}")
        if isinstance(f, PodCrash | DeploymentOutage | Poison) and f.deployment not in running:
            return (f"{where}.deployment: {f.deployment} does not run with last_stage "
                    f"{scenario.last_stage}; one of {', '.join(running)}")
        if isinstance(f, PodCrash):
            spec = getattr(scenario.deployments, f.deployment)
            field, most = "replicas", spec.replicas
            if spec.autoscaling is not None:  # the pod may exist by then
                field, most = "autoscaling.max_replicas", spec.autoscaling.max_replicas
            if f.pod >= most:
                return (f"{where}.pod: must be < deployments.{f.deployment}.{field} "
                        f"({most}), got {f.pod}")
        if isinstance(f, PartitionUnavailable) and scenario.bus.kind != "kafka":
            return (f"{where}.kind: partition_unavailable needs bus.kind kafka, got "
                    f"{scenario.bus.kind} (a queue has no partitions; use broker_outage)")
        if isinstance(f, PartitionUnavailable):
            n = getattr(scenario.topics, TOPICS[f.topic]).partitions
            if f.partition >= n:
                return (f"{where}.partition: must be < topics.{TOPICS[f.topic]}.partitions "
                        f"({n}), got {f.partition}")
        if isinstance(f, NetworkDelay) and (f.source, f.target) not in edges:
            pairs = ", ".join(f"{a}->{b}" for a, b in sorted(edges))
            return (f"{where}.target: {f.source} does not call {f.target}; network delays act "
                    f"between services that talk: {pairs}")
        if isinstance(f, NetworkDelay):
            for field in ("source", "target"):
                name = getattr(f, field)
                if name != "feature_store" and name not in running:
                    return (f"{where}.{field}: {name} does not run with last_stage "
                            f"{scenario.last_stage}; one of {', '.join(running)}")
    return None
