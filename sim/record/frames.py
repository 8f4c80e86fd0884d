"""A finished System turned into tidy Results frames and the one-row summary.

The frames and the summary's keys are documented in ``sim.record.results``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.faults.schedule import faults_frame
from sim.record.drift_frames import alarm_incidents, daily_frame, drift_frame, drift_summary
from sim.record.ledger import Outcome
from sim.record.results import DEAD_LETTER_COLUMNS, SUMMARY_KEYS, Results, empty_dead_letters
from sim.topology import LABEL_FEED, MONITORING, ORCHESTRATOR, PIPELINE, STAGES, Stage, row_of

if TYPE_CHECKING:
    from sim.system import System

__all__ = ["assemble", "dead_letters_frame", "known_compromised", "transactions_frame",
           "summarise"]

_SHORT = {row.stage: row.columns for row in PIPELINE}
"""Column prefix of each stage (``ingest`` -> ``ingest_start_s``), from ``sim.topology``."""
_OUTCOME = {
    Outcome.COMPLETED: "completed",
    Outcome.SHED: "shed",
    Outcome.DEAD_LETTERED: "dead_lettered",
    Outcome.LOST: "lost",
}


def transactions_frame(s: System) -> pd.DataFrame:
    """One row per arrived transaction (columns documented in ``sim.record.results``)."""
    led, tab = s.ledger, s.table
    n = led.arrived
    cols: dict[str, Any] = {
        "row": np.arange(n),
        "tx_id": tab.tx_id[:n],
        "customer_id": tab.customer_id[:n],
        "terminal_id": tab.terminal_id[:n],
        "amount": tab.amount[:n],
        "event_time": pd.to_datetime(
            np.round(tab.event_time_s[:n] * 1e3).astype(np.int64), unit="ms"
        ),
        "arrival_s": led.arrival_s[:n],
    }
    for st in Stage:
        cols[f"{_SHORT[st]}_start_s"] = led.start[st, :n]
        cols[f"{_SHORT[st]}_end_s"] = led.end[st, :n]
    outcome = led.outcome[:n]
    completed = outcome == Outcome.COMPLETED
    cols["latency_s"] = np.where(completed, led.end[led.last_stage, :n] - led.arrival_s[:n], np.nan)
    cols["score"] = led.score[:n]
    cols["label"] = tab.fraud[:n].astype(np.int8)
    cols["alerted"] = led.alerted[:n]
    cols["model_version"] = led.model_version[:n]
    cols["shadow_score"], cols["shadow_version"] = _shadow(s, n)
    cols["degraded"] = _degraded(s, n)
    names = np.array(
        ["in_flight"] + [_OUTCOME[o] for o in Outcome if o != Outcome.PENDING], dtype=object
    )
    cols["outcome"] = names[outcome]
    stage_names = np.array([STAGES[st] for st in Stage], dtype=object)
    where = led.in_flight_stage()[:n]
    cols["outcome_stage"] = np.where(
        outcome == Outcome.PENDING, where, stage_names[np.clip(led.outcome_stage[:n], 0, None)]
    )
    reason = led.reason[:n].copy()
    reason[reason == None] = ""  # noqa: E711
    cols["reason"] = pd.Categorical(reason)
    cols["attempts"] = led.attempts[:n]
    f = pd.DataFrame(cols)
    f["outcome_stage"] = pd.Categorical(f["outcome_stage"])
    f["outcome"] = pd.Categorical(f["outcome"])
    return f


def dead_letters_frame(s: System) -> pd.DataFrame:
    """The ``dead_letters`` frame (columns: ``sim.record.results``), in time order."""
    rows = [r for d in s.deployments.values() for r in getattr(d.handler, "dlq_rows", ())]
    if not rows:
        return empty_dead_letters()
    f = pd.DataFrame(rows, columns=list(DEAD_LETTER_COLUMNS))
    f = f.astype({"row": "int64", "attempts": "int64", "time_s": "float64",
                  "first_attempt_s": "float64"})
    return f.sort_values(["time_s", "row"], kind="stable").reset_index(drop=True)


def _shadow(s: System, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The shadow challenger's score and version per row (``sim.services.detector``)."""
    dep = s.deployments.get(PIPELINE[Stage.DETECTOR].deployment)
    h = dep.handler if dep is not None else None
    if h is None or not hasattr(h, "shadow_score"):
        return np.full(n, np.nan), np.full(n, -1, dtype=np.int32)
    return h.shadow_score[:n].copy(), h.shadow_version[:n].copy()


def _degraded(s: System, n: int) -> np.ndarray:
    """Rows the enricher served with cached features (``sim.services.enricher``)."""
    dep = s.deployments.get(PIPELINE[Stage.ENRICHER].deployment)
    flags = getattr(dep.handler, "degraded", None) if dep is not None else None
    return flags[:n].copy() if flags is not None else np.zeros(n, dtype=bool)


def summarise(
    s: System, tx: pd.DataFrame, counts: dict[str, int], metrics: pd.DataFrame, wall_s: float
) -> dict[str, float | int | bool]:
    """KPIs of a run (keys and definitions: ``sim.record.results.SUMMARY_KEYS``)."""
    from tinybots.metrics import average_precision, card_precision_at_k

    done = tx[tx["outcome"] == "completed"]
    lat = done["latency_s"].to_numpy()
    q = np.percentile(lat, [50, 95, 99]) if len(lat) else [np.nan] * 3
    scored = done[np.isfinite(done["score"])]
    ap = cp = np.nan
    if len(scored) and 0 < scored["label"].sum() < len(scored):
        ap = average_precision(scored["label"].to_numpy(), scored["score"].to_numpy())
        day = scored["event_time"].to_numpy().astype("datetime64[D]").astype(np.int64)
        unknown = ~known_compromised(s, scored["customer_id"].to_numpy(), day)
        frame = pd.DataFrame(
            {
                "TX_TIME_DAYS": day[unknown],
                "CUSTOMER_ID": scored["customer_id"].to_numpy()[unknown],
                "TX_FRAUD": scored["label"].to_numpy()[unknown],
                "predictions": scored["score"].to_numpy()[unknown],
            }
        )
        cp = card_precision_at_k(frame, 100).mean if len(frame) else np.nan
    lags = metrics[metrics["name"] == "kafka_consumergroup_lag"]
    of_labels = lags["labels"].str.endswith(f"group={LABEL_FEED.service}").to_numpy(bool)
    of_side = np.zeros(len(lags), dtype=bool)
    for side in (MONITORING, ORCHESTRATOR):
        of_side |= lags["labels"].str.endswith(f"group={side.service}").to_numpy(bool)
    lag, label_lag = lags["value"][~of_labels & ~of_side], lags["value"][of_labels]
    out: dict[str, float | int | bool] = dict(counts)
    out.update(
        {
            "lost_retention": _lost_retention(tx),
            "not_arrived": int(s.ledger.n - s.ledger.arrived),
            "cut_short": not s.ledger.settled(),
            "duplicates": int(s.ledger.duplicates),
            "redelivered": int(sum(g.redelivered for k, g in s.groups.items()
                                   if row_of(k).stage is not None)),
            "retries": int(sum(d.retries.retries for d in s.deployments.values()
                               if d.retries is not None)),
            "labels_lost": int(s.ledger.labels_lost),
            "throughput_per_s": counts["completed"] / s.env.now if s.env.now > 0 else np.nan,
            "latency_p50_s": float(q[0]),
            "latency_p95_s": float(q[1]),
            "latency_p99_s": float(q[2]),
            "latency_max_s": float(lat.max()) if len(lat) else np.nan,
            "average_precision": float(ap),
            "card_precision_at_100": float(cp),
            "alerts": int(tx["alerted"].sum()),
            "alerted_frauds": int((tx["alerted"] & (tx["label"] == 1)).sum()),
            "frauds": int(tx["label"].sum()),
            "max_lag": float(lag.max()) if len(lag) else 0.0,
            "max_label_lag": float(label_lag.max()) if len(label_lag) else 0.0,
            "rebalances": int(sum(g.rebalances for g in s.groups.values())),
            "rebalance_paused_records": int(sum(  # transactions only: the pipeline's groups
                getattr(g, "paused_records", 0) for k, g in s.groups.items()
                if row_of(k).stage is not None
            )),
            **_scaling(s, metrics),
            "faults": len(s.faults),
            "model_versions": _models_registered(s),
            "degraded": int(tx["degraded"].sum()),
            "dependency_retries": int(sum(c.retries for c in s.callers)),
            "breaker_opens": int(sum(c.breaker_opens for c in s.callers)),
            **drift_summary(s),
            "sim_time_s": float(s.env.now),
            "wall_s": float(wall_s),
        }
    )
    return {k: out[k] for k in SUMMARY_KEYS}


def _models_registered(s: System) -> int:
    """Model versions registered in the run (the initial one included)."""
    orch = s.orchestrator
    if orch is None:
        return len(s.models)
    return len(orch.registry)


def _scaling(s: System, metrics: pd.DataFrame) -> dict[str, float | int]:
    """The summary's scaling keys (``sim.record.results``)."""
    deps = [*s.deployments.values(), s.ingress]
    pending = metrics[(metrics["name"] == "kube_pod_status_phase")
                      & metrics["labels"].str.startswith("deployment=")]
    incidents = s.incidents.rows
    return {
        "scaling_changes": sum(1 for r in incidents if r[1] == "scaling_decision"
                               and _changed(r[3])),
        "pod_seconds": float(sum(d.pod_seconds() for d in deps)),
        "max_pods_pending": int(pending.groupby("time_s")["value"].sum().max())
        if len(pending) else 0,
        "nodes_added": sum(1 for r in incidents if r[1] == "node_added"),
    }


def _changed(detail: str) -> bool:
    """Whether a ``scaling_decision`` detail (``... current=N ... applied=M``) changed N."""
    fields = dict(part.split("=", 1) for part in detail.split() if "=" in part)
    return fields.get("current") != fields.get("applied")


def _lost_retention(tx: pd.DataFrame) -> int:
    """Lost transactions whose reason starts with "retention" (``sim.bus.retention``)."""
    cats = tx["reason"].cat.categories
    codes = [i for i, c in enumerate(cats) if str(c).startswith("retention")]
    if not codes:
        return 0
    lost = (tx["outcome"] == "lost").to_numpy(bool)
    return int((lost & np.isin(tx["reason"].cat.codes.to_numpy(), codes)).sum())


def known_compromised(s: System, card: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Which (card, event day) pairs are of a card with a known fraud, as the book's test set
    removes them (Le Borgne et al. 2022, Chapter 3; ``tinybots.modeling.handbook_split``).

    A card is known on day ``d`` when it has a fraud (history or live table, by event time)
    on a day from the model's training window's first day to ``d − delay − 1``, ``delay`` =
    ``labels.delay_days`` (the book's loop adds the frauds of day ``d − 8`` for its 7-day delay).

    Parameters
    ----------
    s : sim.system.System
    card, day : numpy.ndarray of int, shape (n,)
        ``CUSTOMER_ID`` and whole event day (days since the epoch) of each row.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    sc, tab = s.scenario, s.table
    live_day_s = tab.live_start_s - sc.workload.live_start_hour * 3600.0
    first_day = int(live_day_s // 86400) - sc.model.train_days - sc.model.gap_days
    cards, days = [tab.customer_id[tab.fraud == 1]], [tab.event_time_s[tab.fraud == 1] // 86400]
    if tab.history is not None and len(tab.history):
        h = tab.history[tab.history["TX_FRAUD"].to_numpy() == 1]
        cards.append(h["CUSTOMER_ID"].to_numpy(np.int64))
        days.append(h["TX_DATETIME"].to_numpy().astype("datetime64[D]").astype(np.int64))
    fraud_card = np.concatenate(cards).astype(np.int64)
    fraud_day = np.concatenate(days).astype(np.int64)
    keep = fraud_day >= first_day
    first = pd.Series(fraud_day[keep]).groupby(fraud_card[keep]).min()
    first_known = first.reindex(np.asarray(card, np.int64)).to_numpy(np.float64)  # NaN: none
    return first_known <= np.asarray(day, np.int64) - sc.labels.delay_days - 1


def assemble(s: System, wall_s: float) -> Results:
    """Build the Results of a finished System (checks conservation first)."""
    counts = s.ledger.check_conservation()
    tp = s.topics  # the topic each stage consumes (the ingestor: the one it produces to)
    n_parts = [tp[row.topic_in or row.topic_out or ""].n_partitions for row in PIPELINE]
    spans = s.ledger.spans_frame(s.table.customer_id, n_parts)
    tx = transactions_frame(s)
    metrics = pd.DataFrame(s.monitor.rows, columns=["time_s", "name", "labels", "value"])
    incidents = pd.DataFrame(
        s.incidents.rows, columns=["time_s", "kind", "target", "detail", "duration_s"]
    )
    drift_alarms = alarm_incidents(s)
    if len(drift_alarms):
        incidents = pd.concat([incidents, drift_alarms], ignore_index=True).sort_values(
            "time_s", kind="stable", ignore_index=True)
    from sim.record.models import models_frame

    models = models_frame(s)
    summary = pd.DataFrame([summarise(s, tx, counts, metrics, wall_s)])
    from sim.services.resilient_call import breaker_frame

    results = Results(
        dead_letters=dead_letters_frame(s),
        scenario=s.scenario,
        transactions=tx,
        spans=spans,
        metrics=metrics,
        incidents=incidents,
        models=models,
        summary=summary,
        faults=faults_frame(s.faults),
        breaker=breaker_frame(s.callers),
        drift=drift_frame(s),
        daily=daily_frame(s, tx),
    )
    return _with_burn_alerts(results)


def _with_burn_alerts(results: Results) -> Results:
    """``results`` with its SLO burn-rate alerts (``sim.analysis.isolation``) added to the
    ``incidents`` frame as ``slo_burn_alert`` rows, in time order; unchanged (the same
    object) when the scenario sets no SLO."""
    slos = results.scenario.slos
    if all(getattr(slos, name) is None for name in type(slos).model_fields):
        return results
    from dataclasses import replace

    from sim.analysis.isolation import alert_incidents, burn_rate_alerts

    paged = alert_incidents(burn_rate_alerts(results))
    if paged.empty:
        return results
    inc = pd.concat([results.incidents, paged], ignore_index=True)
    return replace(results, incidents=inc.sort_values("time_s", kind="stable",
                                                      ignore_index=True))
