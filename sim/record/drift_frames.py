"""The ``drift`` and ``daily`` frames, the drift alarms as incidents, and the summary's drift keys
(columns documented in ``sim.record.results``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.topology import MONITORING

if TYPE_CHECKING:
    from sim.system import System

__all__ = ["DAILY_COLUMNS", "DRIFT_COLUMNS", "alarm_incidents", "daily_frame", "drift_frame",
           "drift_summary", "empty_daily", "empty_drift"]

DRIFT_COLUMNS = {"event": "object", "kind": "object", "statistic": "object", "feature": "object",
                 "value": "float64", "threshold": "float64", "window_days": "float64",
                 "time_s": "float64", "event_time": "datetime64[ns]", "delay_s": "float64"}
DAILY_COLUMNS = {"day": "int64", "date": "datetime64[ns]", "n": "int64", "frauds": "int64",
                 "auc_roc": "float64", "average_precision": "float64",
                 "card_precision_at_100": "float64", "k": "int64",
                 "card_precision_at_k": "float64", "delayed_average_precision": "float64",
                 "delayed_card_precision_at_k": "float64", "labels_known_share": "float64"}


def empty_drift() -> pd.DataFrame:
    """A ``drift`` frame without rows."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in DRIFT_COLUMNS.items()})


def empty_daily() -> pd.DataFrame:
    """A ``daily`` frame without rows."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in DAILY_COLUMNS.items()})


def _watch(s: System) -> Any:
    dep = s.deployments.get(MONITORING.deployment)
    return getattr(dep.handler, "drift", None) if dep is not None else None


def _onsets(s: System) -> list[tuple[str, float]]:
    """(kind, processing time s) of each drift onset of the table's ground truth."""
    speed, start = s.scenario.workload.speedup, s.table.live_start_s
    truth = getattr(s.table, "drift_truth", []) or []
    return sorted(((str(d["kind"]), (float(d["onset_event_s"]) - start) / speed) for d in truth),
                  key=lambda x: x[1])


def _alarms(s: System) -> list[dict[str, Any]]:
    w = _watch(s)
    return list(w.alarms) if w is not None else []


def drift_frame(s: System) -> pd.DataFrame:
    """Onsets (``table.drift_truth``) and alarms, in time order; ``delay_s``: an onset's time to
    the first alarm at or after it (NaN: none), an alarm's time since the latest onset before
    it (NaN: none)."""
    onsets, alarms = _onsets(s), _alarms(s)
    speed, start = s.scenario.workload.speedup, s.table.live_start_s
    rows = []
    times = np.array([a["time_s"] for a in alarms])
    for kind, t in onsets:
        after = times[times >= t]
        rows.append({"event": "onset", "kind": kind, "statistic": "", "feature": "",
                     "value": math.nan, "threshold": math.nan, "window_days": math.nan,
                     "time_s": t, "event_s": start + t * speed,
                     "delay_s": float(after.min() - t) if len(after) else math.nan})
    for a in alarms:
        before = [(k, t) for k, t in onsets if t <= a["time_s"]]
        rows.append({"event": "alarm", "kind": before[-1][0] if before else "",
                     "statistic": a["statistic"], "feature": a["feature"],
                     "value": float(a["value"]), "threshold": float(a["threshold"]),
                     "window_days": float(a["window_days"]), "time_s": float(a["time_s"]),
                     "event_s": float(a["event_time_s"]),
                     "delay_s": a["time_s"] - before[-1][1] if before else math.nan})
    if not rows:
        return empty_drift()
    f = pd.DataFrame(rows)
    f["event_time"] = pd.to_datetime(np.round(f.pop("event_s").to_numpy() * 1e3).astype(
        np.int64), unit="ms")
    f = f.astype(DRIFT_COLUMNS)[list(DRIFT_COLUMNS)]
    return f.sort_values("time_s", kind="stable", ignore_index=True)


def daily_frame(s: System, tx: pd.DataFrame) -> pd.DataFrame:
    """Per live event day (days after the live window's first midnight) of the scored
    transactions: true-label AUC ROC, AP, CP@100 and CP@k with k = ``monitoring.k`` (the
    handbook's reported CP@k, ``tinybots.metrics.card_precision_at_k``: the top k cards by
    their max score that day, compromised share, cards found on earlier days removed; k = 100
    by default, the handbook's 100 cards a day of a 5,000-card bank), and the
    monitoring-service's delayed AP / CP@k and share of labels known at its last check (NaN
    without ``monitoring.drift``)."""
    from sim.policies.drift import delayed_day_metrics
    from tinybots.metrics import auc_roc

    scored = tx[np.isfinite(tx["score"].to_numpy())]
    if not len(scored):
        return empty_daily()
    day0 = s.table.live_start_s - s.scenario.workload.live_start_hour * 3600.0
    ev = scored["event_time"].to_numpy().astype("datetime64[ms]").astype(np.int64) / 1e3
    day = np.floor((ev - day0) / 86400.0).astype(np.int64)
    w = _watch(s)
    k = s.scenario.monitoring.k
    from tinybots.metrics import card_precision_at_k

    frame = pd.DataFrame({"TX_TIME_DAYS": day, "CUSTOMER_ID": scored["customer_id"].to_numpy(),
                          "TX_FRAUD": scored["label"].to_numpy(np.int64),
                          "score": scored["score"].to_numpy()})
    cp100 = card_precision_at_k(frame, 100, score_column="score").per_day
    cpkd = card_precision_at_k(frame, k, score_column="score").per_day
    rows = []
    for d in np.unique(day).tolist():
        g = scored[day == d]
        y, sc = g["label"].to_numpy(np.int64), g["score"].to_numpy()
        both = 0 < y.sum() < len(y)
        ap, _, _ = delayed_day_metrics(g["customer_id"].to_numpy(), y, sc,
                                       np.ones(len(g), dtype=bool), k)
        cp, cpk = float(cp100.get(d, math.nan)), float(cpkd.get(d, math.nan))
        dap, dcp, share, _ = (w.daily.get(d, (math.nan,) * 4) if w is not None
                              else (math.nan,) * 4)
        rows.append({"day": d, "date": pd.Timestamp((day0 + d * 86400.0) * 1e9), "n": len(g),
                     "frauds": int(y.sum()), "auc_roc": auc_roc(y, sc) if both else math.nan,
                     "average_precision": ap, "card_precision_at_100": cp, "k": k,
                     "card_precision_at_k": cpk,
                     "delayed_average_precision": dap, "delayed_card_precision_at_k": dcp,
                     "labels_known_share": share})
    return pd.DataFrame(rows).astype(DAILY_COLUMNS)[list(DAILY_COLUMNS)]


def alarm_incidents(s: System) -> pd.DataFrame:
    """The alarms as ``drift_detected`` incidents (target ``monitoring_service``)."""
    rows = [(a["time_s"], "drift_detected", MONITORING.deployment,
             f"{a['statistic']} {a['feature']} value={a['value']:.6g} "
             f"threshold={a['threshold']:.6g} window_days={a['window_days']:g} "
             f"model_version={a['model_version']}", math.nan) for a in _alarms(s)]
    return pd.DataFrame(rows, columns=["time_s", "kind", "target", "detail", "duration_s"])


def drift_summary(s: System) -> dict[str, Any]:
    """``drift_alarms`` (int) and ``drift_detection_delay_s`` (first onset to the first alarm
    at or after it, processing s; None when no onset or no such alarm)."""
    alarms, onsets = _alarms(s), _onsets(s)
    delay = None
    if onsets:
        after = [a["time_s"] for a in alarms if a["time_s"] >= onsets[0][1]]
        delay = float(min(after) - onsets[0][1]) if after else None
    return {"drift_alarms": len(alarms), "drift_detection_delay_s": delay}
