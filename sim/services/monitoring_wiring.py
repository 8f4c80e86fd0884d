"""Wiring of the drift monitoring (``monitoring.drift``) for ``sim.services.wiring``: the
monitoring-service's :class:`sim.services.drift_watch.DriftWatch` and the orchestrator-service
that consumes its ``drift-detected`` alarms."""

from __future__ import annotations

from typing import Any

from sim.bus import Producer
from sim.pods import Handler
from sim.record.ledger import Ledger
from sim.scenario import Scenario
from sim.services.drift_events import OrchestratorHandler
from sim.services.drift_watch import DriftWatch
from sim.services.label_store import LabelStore
from sim.services.monitoring import MonitoringHandler
from sim.topology import DRIFT_TOPIC, MONITORING, ORCHESTRATOR, PIPELINE, Stage
from sim.workload import TxTable

__all__ = ["drift_handlers"]


def drift_handlers(
    sc: Scenario, table: TxTable, ledger: Ledger, topics: dict[str, Producer],
    handlers: dict[str, Handler], trained: Any, label_store: LabelStore,
) -> dict[str, Handler]:
    """Give the monitoring-service of ``handlers`` its drift checks, with ``trained``'s
    training window as reference; returns the orchestrator-service's handler (by deployment)."""
    monitor = handlers[MONITORING.deployment]
    assert isinstance(monitor, MonitoringHandler)
    topic = topics[DRIFT_TOPIC]
    day0 = table.live_start_s - sc.workload.live_start_hour * 3600.0
    watch = DriftWatch(sc.monitoring, table, ledger, handlers[PIPELINE[Stage.ENRICHER].deployment],
                       label_store, topic, day0, table.live_start_s, sc.workload.speedup)
    monitor.drift = watch
    if trained.reference is not None and trained.reference_scores is not None:
        watch.set_reference(trained.reference, trained.reference_scores, trained.version)
    return {ORCHESTRATOR.deployment: OrchestratorHandler(watch.alarms, topic.env)}
