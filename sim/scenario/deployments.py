"""The deployments of a scenario: pods, service times, fetch settings and each producer's buffer.

Field names follow Kubernetes (replicas, start-up) and the Kafka consumer and producer clients
(``max.poll.records``, ``fetch.min.bytes`` / ``fetch.max.wait.ms``, the producer's buffer).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.scenario.base import Frozen as _Frozen
from sim.scenario.cluster import AutoscalingSpec, ResourcesSpec
from sim.scenario.resilience import ResilienceSpec

__all__ = [
    "Dependencies",
    "DependencySpec",
    "Deployments",
    "DeploymentSpec",
    "IngestorSpec",
    "ProducerSpec",
    "ServiceTimeSpec",
]

Overflow = Literal["block", "shed"]
"""What a full buffer does: ``block`` holds the writer back (back-pressure up the chain),
``shed`` rejects the record, which is counted with its reason."""


class ProducerSpec(_Frozen):
    """A service's producer: records it holds while the topic it produces to is full.

    Kafka's producer accumulates records in ``buffer.memory`` (32 MiB by default) and blocks
    ``send`` when that is full (for up to ``max.block.ms``, 60 s, then fails). Here
    ``buffer_records`` bounds the records waiting for room in a full topic (whose own
    ``overflow`` is ``block``): 0 (the default) = no buffer, a send to a full topic waits at
    once, None = unbounded. When the buffer is full, ``overflow: block`` makes the service wait
    (back-pressure: its pod stops consuming) and ``shed`` rejects the records (shed, with the
    reason "producer buffer full").
    """

    buffer_records: int | None = Field(0, ge=0, le=100_000_000)
    overflow: Overflow = "block"


class ServiceTimeSpec(_Frozen):
    """Service time of one poll: ``fixed_s + per_record_s × n`` scaled by a random factor of mean 1.

    ``distribution``: deterministic (factor 1), exponential (mean 1), lognormal (mean 1, ``cv``).
    """

    distribution: Literal["deterministic", "exponential", "lognormal"] = "exponential"
    fixed_s: float = Field(0.0, ge=0.0, le=3600.0)
    per_record_s: float = Field(0.001, ge=0.0, le=3600.0)
    cv: float = Field(0.5, gt=0.0, le=10.0)


_PODS_DOC = """
    Pods: a new pod is ready ``startup_s`` after it is scheduled on a node (image pull + model
    load). ``autoscaling`` (None = ``replicas`` for the whole run) changes the replicas during the
    run (``sim.scenario.cluster.AutoscalingSpec``); ``replicas`` is then the count at the start.
    ``resources`` are the pod's requests and ``node_pool`` the pool its pods run on (None = the
    first of ``cluster.node_pools``; both act only when the cluster has node pools).
"""


class DeploymentSpec(_Frozen):
    __doc__ = """A consumer deployment: ``replicas`` pods, each running ``concurrency`` consumers.

    Like Kafka's ``fetch.min.bytes`` / ``fetch.max.wait.ms``, a poll that finds fewer than
    ``fetch_min_records`` waits up to ``fetch_max_wait_s`` for more (micro-batching);
    the defaults (1, 0 s) return at once. A pod removed by a scale-down stops polling, leaves
    its group (a rebalance, without waiting for the session timeout) once its batch in hand is
    done, and is killed after ``termination_grace_period_s`` (Kubernetes'
    ``terminationGracePeriodSeconds``, 30 s) if it is not done by then; what it had not
    committed is delivered again.
""" + _PODS_DOC

    replicas: int = Field(1, ge=1, le=1000)
    startup_s: float = Field(0.0, ge=0.0, le=3600.0)
    concurrency: int = Field(1, ge=1, le=64)
    max_poll_records: int = Field(100, ge=1, le=100_000)
    fetch_min_records: int = Field(1, ge=1, le=100_000)
    fetch_max_wait_s: float = Field(0.0, ge=0.0, le=3600.0)
    service: ServiceTimeSpec = ServiceTimeSpec()
    delivery: Literal["at_least_once", "at_most_once"] = "at_least_once"
    producer: ProducerSpec = ProducerSpec()
    autoscaling: AutoscalingSpec | None = None
    resources: ResourcesSpec = ResourcesSpec()
    node_pool: str | None = None
    termination_grace_period_s: float = Field(30.0, ge=0.0, le=3600.0)
    resilience: ResilienceSpec = ResilienceSpec()


class IngestorSpec(_Frozen):
    __doc__ = """The request/response ingress: one FIFO for ``replicas × concurrency`` servers.

    ``queue_limit`` (None = unbounded) bounds the requests waiting for a server. A request
    arriving to a full queue is shed (``overflow: shed``, a load-shedding ingress answering
    503) or held by its caller until a place frees (``overflow: block``: back-pressure to the
    client, which waits; its latency counts from its arrival). ``queue_limit: 0`` with ``shed``
    is the M/M/c/c loss system (Erlang B). ``producer`` is its Kafka producer (see
    :class:`ProducerSpec`). A pod removed by a scale-down takes no new request and stops
    once its requests in hand are done.
""" + _PODS_DOC

    replicas: int = Field(2, ge=1, le=1000)
    startup_s: float = Field(0.0, ge=0.0, le=3600.0)
    concurrency: int = Field(1, ge=1, le=64)
    service: ServiceTimeSpec = ServiceTimeSpec(per_record_s=0.01)
    queue_limit: int | None = Field(None, ge=0, le=100_000_000)
    overflow: Overflow = "shed"
    producer: ProducerSpec = ProducerSpec()
    autoscaling: AutoscalingSpec | None = None
    resources: ResourcesSpec = ResourcesSpec()
    node_pool: str | None = None


class Deployments(_Frozen):
    """The pipeline's deployments, one per service of ``sim.topology`` (docs/architecture.md)."""

    transaction_ingestor: IngestorSpec = IngestorSpec()
    feature_enricher: DeploymentSpec = DeploymentSpec()
    fraud_detector: DeploymentSpec = DeploymentSpec()
    alert_service: DeploymentSpec = DeploymentSpec()
    label_feed: DeploymentSpec = DeploymentSpec(
        service=ServiceTimeSpec(distribution="deterministic", per_record_s=1e-5)
    )
    monitoring_service: DeploymentSpec = DeploymentSpec(
        max_poll_records=1000,
        service=ServiceTimeSpec(distribution="deterministic", per_record_s=1e-5),
    )
    orchestrator: DeploymentSpec = DeploymentSpec(  # only with monitoring.drift
        service=ServiceTimeSpec(distribution="deterministic", per_record_s=1e-5)
    )


class DependencySpec(_Frozen):
    """A remote dependency: ``servers`` calls served at once, FIFO; one call of ``n`` records
    costs ``service`` (``fixed_s + per_record_s × n`` × a random factor of mean 1, drawn from
    the run's ``feature_store`` stream; ``sim.services.dependency``) plus ``network_s`` each
    way. ``cancel_abandoned``: a call whose client timed out stops at once (leaves the queue
    or frees its server), as a gRPC server honouring the client's cancellation; False (the
    default): it is served to completion (wasted work, an HTTP/1.1 server)."""

    servers: int = Field(8, ge=1, le=10_000)
    service: ServiceTimeSpec = ServiceTimeSpec(fixed_s=0.002, per_record_s=0.0005)
    network_s: float = Field(0.0005, ge=0.0, le=3600.0)
    cancel_abandoned: bool = False


class Dependencies(_Frozen):
    """The services' dependencies (None: not modelled as a remote call)."""

    feature_store: DependencySpec | None = None
