"""The bots of the consumer stages, built for ``sim.system.build``: the warmed feature store,
the trained model, each stage's handler and the label feed's table, and the enricher's
feature-store call when the run models it (``sim.services.resilient_call``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import simpy

from sim.bus import Producer
from sim.faults.schedule import FaultWindows
from sim.pods import Handler
from sim.policies.alert import AlertPolicy
from sim.record.ledger import Ledger
from sim.scenario import Scenario
from sim.services.alerts import AlertHandler
from sim.services.detector import DetectorHandler
from sim.services.enricher import EnricherHandler
from sim.services.feedback import Feedback
from sim.services.label_feed import LabelHandler, LabelTable
from sim.services.label_rules import default_labels, label_due
from sim.services.label_store import LabelStore
from sim.services.monitoring import MonitoringHandler
from sim.services.monitoring_wiring import drift_handlers
from sim.services.resilient_call import ResilientCaller, feature_store_caller
from sim.services.warmup import TrainedModel
from sim.topology import LABEL_FEED, MONITORING, PIPELINE, Stage
from sim.workload import SECONDS_PER_DAY, TxTable

__all__ = ["consumer_handlers", "feature_store_call"]


def consumer_handlers(
    sc: Scenario, table: TxTable, ledger: Ledger, topics: dict[str, Producer], last: Stage,
    errors: np.ndarray, say: Callable[[str], None], label_rng: np.random.Generator | None = None,
) -> tuple[dict[str, Handler], LabelTable, TrainedModel | None]:
    """The consumer services' handlers up to ``last``, the labels to publish and the model.

    ``errors``: the ingestor's schema message per row (rows it dead-letters publish no label);
    ``say``: where the status line of each slow step goes (warming the store, training);
    ``label_rng``: the ``label_delays`` stream (the live frauds' coverage and report delays,
    ``sim.services.label_rules.label_due``; history labels keep ``delay_days``).
    """
    from sim.services.warmup import history_days, train_model, warm_store

    delay_days = sc.labels.delay_days
    delay_s = delay_days * SECONDS_PER_DAY
    history = table.history if table.history is not None else _empty_history()
    ht = _history_seconds(history)
    held = min(history_days(delay_days), (table.live_start_s - ht.min()) / SECONDS_PER_DAY
               if len(ht) else 0.0)
    say(f"warming the feature store ({held:.0f} days of history, label delay {delay_days} days)...")
    store = warm_store(history, table.live_start_s, delay_days)

    def io(stage: Stage) -> tuple[Producer, Producer]:
        row = PIPELINE[stage]
        return topics[row.topic_in or ""], topics[row.topic_out or ""]

    enricher = EnricherHandler(table, ledger, *io(Stage.ENRICHER), store)
    handlers: dict[str, Handler] = {PIPELINE[Stage.ENRICHER].deployment: enricher}
    trained = None
    if last >= Stage.DETECTOR:
        live_day = table.live_start_s - sc.workload.live_start_hour * 3600.0
        say(
            f"training {sc.model.kind} on {sc.model.train_days} days "
            f"(ending {sc.model.gap_days} days before the live day)..."
        )
        trained = train_model(history, sc.model, live_day, delay_days)
        handlers[PIPELINE[Stage.DETECTOR].deployment] = DetectorHandler(
            table, ledger, *io(Stage.DETECTOR), enricher.features, trained.model, trained.version
        )
    if last >= Stage.ALERT:
        policy = AlertPolicy(sc.alerts.threshold, sc.alerts.cards_per_day)
        row = PIPELINE[Stage.ALERT]
        handlers[row.deployment] = AlertHandler(table, ledger, topics[row.topic_in or ""], policy)
        handlers[MONITORING.deployment] = MonitoringHandler(ledger)
    pending = ht > int(table.live_start_s - delay_s)
    valid = np.array([e is None for e in errors], dtype=bool)
    rows = np.concatenate([np.full(int(pending.sum()), -1, dtype=np.int64), np.flatnonzero(valid)])
    value, delays = table.fraud[valid], delay_s
    if not default_labels(sc.labels):
        value, due = label_due(table.event_time_s[valid], value, sc.labels,
                               label_rng if label_rng is not None else np.random.default_rng(0))
        delays = np.concatenate([np.full(int(pending.sum()), delay_s),
                                 due - table.event_time_s[valid]])
    labels = LabelTable(
        np.concatenate([history["TERMINAL_ID"].to_numpy(np.int64)[pending],
                        table.terminal_id[valid]]),
        np.concatenate([ht[pending], table.event_time_s[valid]]),
        np.concatenate([history["TX_FRAUD"].to_numpy(np.int64)[pending], value]),
        delays,
        rows,
    )
    label_topic = topics[LABEL_FEED.topic_in or ""]
    env = getattr(label_topic, "env", None)
    label_store = LabelStore(len(table))
    handlers[LABEL_FEED.deployment] = LabelHandler(labels, store, ledger, label_store, env)
    alert = handlers.get(PIPELINE[Stage.ALERT].deployment)
    if sc.labels.feedback.enabled and isinstance(alert, AlertHandler) and env is not None:
        alert.on_alert = Feedback(env, table, labels, label_topic, sc.labels.feedback,
                                  table.live_start_s, sc.workload.speedup, valid).on_alert
    if sc.monitoring.drift and trained is not None:
        handlers.update(drift_handlers(sc, table, ledger, topics, handlers, trained, label_store))
    return handlers, labels, trained


def _history_seconds(history: pd.DataFrame) -> np.ndarray:
    from sim.workload import event_seconds

    return event_seconds(history["TX_DATETIME"]) if len(history) else np.empty(0)


def _empty_history() -> pd.DataFrame:
    from tinybots.schema import RAW_COLUMNS

    f = pd.DataFrame({c: pd.Series(dtype="int64") for c in RAW_COLUMNS})
    f["TX_DATETIME"] = pd.Series(dtype="datetime64[ns]")
    f["TX_AMOUNT"] = pd.Series(dtype="float64")
    return f


def feature_store_call(
    env: simpy.Environment, sc: Scenario, rngs: dict[str, np.random.Generator],
    windows: FaultWindows, handlers: dict[str, Handler],
) -> list[ResilientCaller]:
    """The enricher's feature-store call when the run models it (else none: no call)."""
    enricher = handlers.get(PIPELINE[Stage.ENRICHER].deployment)
    caller = feature_store_caller(env, sc, rngs, windows) if enricher is not None else None
    if caller is None:
        return []
    assert isinstance(enricher, EnricherHandler)
    enricher.use_call(caller, sc.deployments.feature_enricher.resilience)
    return [caller]
