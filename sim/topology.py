"""The pipeline's topology, written once: which service reads and writes which topic.

Every other module reads this table: the scenario (its deployment names and literals),
``sim.system`` (topics, consumer groups, random streams), the ledger (where an in-flight record
waits), the frames (column prefixes, the partition of each span) and the plots. Adding a topic is
one entry of :data:`TOPICS`; adding a service is one row of :data:`SERVICES` plus its module in
``sim/services/``.

Names are the field's: a *service* is the Kubernetes deployment / service name and the Kafka
consumer group id (``feature-enricher``); its *deployment* key is the scenario's snake-case key
(``deployments.feature_enricher``) and the name of its random stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "DRIFT_TOPIC",
    "LABEL_FEED",
    "MONITORING",
    "ORCHESTRATOR",
    "SIDE_CONSUMERS",
    "PIPELINE",
    "SERVICES",
    "STAGES",
    "STREAMS",
    "TOPICS",
    "ServiceRow",
    "Stage",
    "row_of",
]


class Stage(IntEnum):
    """The pipeline's stages, in order; a transaction completes after the scenario's last one."""

    INGESTOR = 0
    ENRICHER = 1
    DETECTOR = 2
    ALERT = 3


@dataclass(frozen=True)
class ServiceRow:
    """One service of the topology.

    Attributes
    ----------
    deployment : str
        Scenario key (``deployments.<deployment>``) and name of its random stream.
    service : str
        Service name and consumer group id (Kafka ``group.id``).
    topic_in, topic_out : str or None
        Topic it consumes (None: the ingestor, which takes requests) and produces to.
    stage : Stage or None
        Its pipeline stage; None for a side consumer that carries no transaction (label-feed).
    columns : str or None
        Prefix of its ``transactions`` columns (``<columns>_start_s`` / ``_end_s``).
    """

    deployment: str
    service: str
    topic_in: str | None
    topic_out: str | None
    stage: Stage | None
    columns: str | None


TOPICS: dict[str, str] = {
    "transactions": "transactions",
    "features-ready": "features_ready",
    "fraud-scores": "fraud_scores",
    "labels": "labels",
    "drift-detected": "drift_detected",
}
"""Topic name -> its scenario key (``topics.<key>``)."""

PIPELINE: tuple[ServiceRow, ...] = (
    ServiceRow("transaction_ingestor", "transaction-ingestor", None, "transactions",
               Stage.INGESTOR, "ingest"),
    ServiceRow("feature_enricher", "feature-enricher", "transactions", "features-ready",
               Stage.ENRICHER, "enrich"),
    ServiceRow("fraud_detector", "fraud-detector", "features-ready", "fraud-scores",
               Stage.DETECTOR, "detect"),
    ServiceRow("alert_service", "alert-service", "fraud-scores", None, Stage.ALERT, "alert"),
)
"""The transaction path, in stage order (``PIPELINE[stage]`` is that stage's row)."""

LABEL_FEED = ServiceRow("label_feed", "label-feed", "labels", None, None, None)
"""The feature store's label consumer (labels are published by the label feed's schedule)."""

MONITORING = ServiceRow("monitoring_service", "monitoring-service", "fraud-scores",
                        "drift-detected", None, None)
"""The second subscriber of ``fraud-scores`` (beside the alert-service): watches the scores and,
with ``monitoring.drift``, publishes its alarms on ``drift-detected``."""

ORCHESTRATOR = ServiceRow("orchestrator", "orchestrator-service", "drift-detected", None, None,
                          None)
"""The consumer of ``drift-detected`` (only with ``monitoring.drift``): hands each alarm to the
retraining policy (``sim.services.orchestrator``)."""

DRIFT_TOPIC = "drift-detected"
"""The topic of the monitoring-service's alarms; it exists only with ``monitoring.drift``."""

SIDE_CONSUMERS: tuple[ServiceRow, ...] = (LABEL_FEED, MONITORING, ORCHESTRATOR)
"""Consumers that carry no transaction: what they lose is counted apart from conservation."""

SERVICES: tuple[ServiceRow, ...] = (*PIPELINE, *SIDE_CONSUMERS)
"""Every service with a deployment, in pipeline order."""

STAGES: dict[Stage, str] = {row.stage: row.deployment for row in PIPELINE if row.stage is not None}
"""Deployment key of each stage."""

STREAMS: tuple[str, ...] = (
    "arrivals", "content", *(r.deployment for r in (*PIPELINE, LABEL_FEED)), "faults",
    MONITORING.deployment, "feature_store", "retries", "drift", "label_delays", "training",
    ORCHESTRATOR.deployment,
)
"""Named random streams, spawned in this order from the root seed (``sim.system.streams``):
the arrivals, the transaction content, one per deployment's service times, the faults (then
the deployments added later, the feature store's call times, the retries' jitter, the bank's
drift, the label delays and coverage, the training jobs and the orchestrator, so that adding
one changes no earlier stream)."""


def row_of(deployment: str) -> ServiceRow:
    """The row of a deployment key.

    >>> row_of("fraud_detector").topic_in
    'features-ready'

    Raises
    ------
    KeyError
        No service has that deployment key.
    """
    for row in SERVICES:
        if row.deployment == deployment:
            return row
    raise KeyError(f"no service with deployment {deployment!r}")
