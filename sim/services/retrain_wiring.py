"""Wiring the retraining loop for ``sim.system.build``: the orchestrator-service (connected to
its ``drift-detected`` consumer, ``sim.services.drift_events``, when there is one) and its
model-training-service, when the scenario retrains (``retraining.policy`` not ``none``) or
injects a ``bad_model``. The history's offline features are computed here, once, only then."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sim.services.orchestrator import Orchestrator
from sim.services.training_data import TrainingData, history_features
from sim.topology import LABEL_FEED, MONITORING, ORCHESTRATOR, PIPELINE, Stage

__all__ = ["build_orchestrator"]


def build_orchestrator(
    env: Any, sc: Any, table: Any, ledger: Any, deployments: dict[str, Any], trained: Any,
    occ: Sequence[Any], rngs: dict[str, np.random.Generator], log: Callable[..., None],
    say: Callable[[str], None],
) -> Orchestrator | None:
    """The run's :class:`Orchestrator` (None: no retraining loop in this scenario)."""
    bad = [o.start_s for o in occ if o.kind == "bad_model"]
    detector = deployments.get(PIPELINE[Stage.DETECTOR].deployment)
    if trained is None or detector is None or (sc.retraining.policy == "none" and not bad):
        return None
    say("computing the history's offline features for the training jobs...")
    history = history_features(table.history, sc.labels.delay_days)
    enricher = deployments[PIPELINE[Stage.ENRICHER].deployment].handler
    label_store = deployments[LABEL_FEED.deployment].handler.label_store
    data = TrainingData(table, enricher.features, label_store, history, sc.labels.delay_days,
                        sc.retraining.gap_days)
    outages = [(o.start_s, o.end_s) for o in occ if o.kind == "training_outage"]
    monitoring = deployments.get(MONITORING.deployment)
    orchestrator = Orchestrator(
        env, sc, ledger, detector, data, trained.registry, trained, outages, bad,
        rngs["training"], log, table.live_start_s,
        monitoring.handler if monitoring is not None else None,
    )
    consumer = deployments.get(ORCHESTRATOR.deployment)  # drift-detected (monitoring.drift)
    if consumer is not None:
        consumer.handler.on_alarm = orchestrator.on_drift
    return orchestrator
