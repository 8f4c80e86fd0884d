"""The monitoring-service's drift checks (``monitoring.drift``), driven by the scores it consumes.

Every ``check_interval_days`` of event time (a check is due when the newest consumed score's
event time passes the next check point, ``sim.policies.drift.next_check``) it compares the
consumed, scored transactions of the last ``window_days`` of event time before the check point
with the reference (the serving model's training window, ``TrainedModel.reference`` and
``reference_scores``; :meth:`DriftWatch.set_reference` replaces it on a rollout), by default
its rows matched to the window's weekday / weekend mix (``monitoring.calendar_matched``,
``sim.policies.drift.calendar_match``): PSI and KS per monitored column
(``sim.policies.drift.check_statistics``), skipped below ``min_window_rows``. At each check
it also recomputes the delayed AP and CP@k of every live event day from the labels the
``LabelStore`` knows now, and feeds the streaming detector
(``monitoring.detector``, river) the error ``|label − score|`` of each label that became known
since the last check, in the order they became known. Each alarm is a dict (:data:`ALARM_KEYS`)
appended to :attr:`DriftWatch.alarms`, whose index is the record produced on the
``drift-detected`` topic (consumed by the orchestrator-service).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.bus import Producer
from sim.policies.drift import calendar_match, check_statistics, delayed_day_metrics, next_check
from sim.process import ProcessGenerator
from sim.record.ledger import Ledger
from sim.scenario.learning import MonitoringSpec
from sim.services.label_store import LabelStore
from sim.workload import TxTable
from tinybots.drift import StreamDetector
from tinybots.schema import FEATURE_COLUMNS

SCORE_REFERENCE_DAYS = 7
"""Days of served scores that make the score's reference (a week: the calendar's mix)."""

__all__ = ["ALARM_KEYS", "DEFAULT_COLUMNS", "DriftWatch"]

_WEEKEND = FEATURE_COLUMNS.index("TX_DURING_WEEKEND")

DEFAULT_COLUMNS = (*(c for c in FEATURE_COLUMNS if c != "TX_DURING_WEEKEND"), "score")
"""The columns monitored when ``monitoring.features`` is None: the model features but the
calendar flag ``TX_DURING_WEEKEND`` (a one-day window is all weekend or all weekdays, so it
always differs from a week's reference: not drift), and the score."""

ALARM_KEYS = ("time_s", "event_time_s", "statistic", "feature", "value", "threshold",
              "window_days", "n_reference", "n_current", "model_version")
"""Keys of an alarm: processing and event time (s) of the check, the statistic (psi, ks,
adwin, page_hinkley), the column (a feature, ``score``, or ``error`` for the detector), its
value (PSI; KS's p-value; the detector's mean error of the labels fed at that check), the
threshold it crossed (psi_threshold; ks_alpha / number of KS tests; the detector's delta or
threshold), the window (days), the sample sizes and the reference's model version."""


class DriftWatch:
    """The state of the drift checks (see the module docstring).

    Attributes
    ----------
    alarms : list of dict
        Every alarm, in time order (:data:`ALARM_KEYS`).
    checks : list of dict
        One per check: ``time_s``, ``event_time_s``, ``n_current`` (0: skipped, too few rows),
        ``n_reference`` (the reference rows compared, after the calendar match) and ``stats``
        (list of ``sim.policies.drift.Statistic``).
    daily : dict of int to tuple
        Per live event day (days after the first midnight): ``(average_precision,
        card_precision_at_k, share_known, time_s)`` at the last check.
    """

    def __init__(self, spec: MonitoringSpec, table: TxTable, ledger: Ledger,
                 features: Any, label_store: LabelStore, topic: Producer, day0_s: float,
                 live_start_s: float, speedup: float) -> None:
        self.spec, self.table, self.ledger, self.enricher = spec, table, ledger, features
        self.label_store, self.topic = label_store, topic
        self.day0_s, self.live_start_s, self.speedup = day0_s, live_start_s, speedup
        self.names = list(spec.features) if spec.features is not None else list(
            DEFAULT_COLUMNS)
        self._cols = [FEATURE_COLUMNS.index(n) if n != "score" else -1 for n in self.names]
        self.reference = np.empty((0, len(self.names)))  # the training window's rows
        self._ref_weekend = np.empty(0)
        # the score's reference: the scores (and weekend flags) of the first
        # SCORE_REFERENCE_DAYS the version served (set_reference)
        self._score_ref = np.empty(0)
        self._score_weekend = np.empty(0)
        self._score_from_s: float | None = None
        self._score_pending = False
        self.version = -1
        # the first check point whose window lies in the live window (a window reaching before
        # the live start would miss the night's transactions: a false alarm of the calendar)
        step = spec.check_interval_days * 86400.0
        self.due_s = day0_s + step * max(1.0, math.ceil(
            (live_start_s + spec.window_days * 86400.0 - day0_s) / step - 1e-9))
        self._rows: list[np.ndarray] = []
        self._labels_until_s = -math.inf
        d = spec.detector
        self.detector = None if d.kind == "none" else StreamDetector(d.kind, d.delta, d.threshold)
        self.alarms: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.daily: dict[int, tuple[float, float, float, float]] = {}

    def set_reference(self, X: np.ndarray, scores: np.ndarray | None, version: int) -> None:
        """Compare with model ``version``'s training window from now on: ``X`` its feature
        matrix (shape (n, 15), ``FEATURE_COLUMNS`` order).

        The score's reference is the scores of the first :data:`SCORE_REFERENCE_DAYS` days of
        event time the version serves after this call, not ``scores`` (its scores on its own
        training rows, accepted for the signature): in-sample scores of a flexible model (a
        random forest's are close to 0 and 1 on the rows it was fitted on) are not what it
        gives new data, and KS would alarm on every check. Until those days are served the
        score is not checked."""
        X = np.asarray(X, dtype=np.float64)
        self.reference = X[:, [c if c >= 0 else 0 for c in self._cols]]
        self._ref_weekend = X[:, _WEEKEND]
        self._score_pending = -1 in self._cols
        self._score_from_s = None
        self.version = int(version)

    def _matrix(self, rows: np.ndarray) -> np.ndarray:
        feats = self.enricher.features[rows]
        score = self.ledger.score[rows]
        return np.column_stack([feats[:, c] if c >= 0 else score for c in self._cols])

    def consumed(self, rows: np.ndarray, now_s: float) -> ProcessGenerator | None:
        """The monitoring-service consumed the scores of ``rows`` at ``now_s``: keep them,
        check when due;
        returns the produce of the alarms when it may block (else None). The rows' features
        are read at each check (the enricher's matrix lives until the end of the run)."""
        ok = rows[np.isfinite(self.ledger.score[rows])]
        if len(ok):
            self._rows.append(ok)
        newest = float(self.table.event_time_s[rows].max()) if len(rows) else -math.inf
        point = next_check(self.day0_s, self.spec.check_interval_days, newest, self.due_s)
        if point is None:
            return None
        self.due_s = point + self.spec.check_interval_days * 86400.0
        first = len(self.alarms)
        self._check(point, now_s)
        if len(self.alarms) == first:
            return None
        ids = list(range(first, len(self.alarms)))
        return self.topic.send(ids, [0] * len(ids))

    def _all_rows(self) -> np.ndarray:
        if len(self._rows) > 1:
            self._rows = [np.concatenate(self._rows)]
        return self._rows[0] if self._rows else np.empty(0, dtype=np.int64)

    def _check(self, point_s: float, now_s: float) -> None:
        rows = self._all_rows()
        ev = self.table.event_time_s[rows]
        spec = self.spec
        cur = rows[(ev > point_s - spec.window_days * 86400.0) & (ev <= point_s)]
        check: dict[str, Any] = {"time_s": now_s, "event_time_s": point_s,
                                 "n_current": 0, "n_reference": 0, "stats": []}
        self.checks.append(check)
        ref = self.reference
        if spec.calendar_matched and len(cur) and len(ref):
            ref = ref[calendar_match(self._ref_weekend, self.enricher.features[cur, _WEEKEND])]
        base = {"time_s": now_s, "event_time_s": point_s, "window_days": spec.window_days,
                "n_reference": len(ref), "model_version": self.version}
        if len(cur) >= spec.min_window_rows and len(ref):
            check["n_current"] = len(cur)
            check["n_reference"] = len(ref)
            current = self._matrix(cur)
            refs = [ref[:, j] for j in range(ref.shape[1])]
            cols = list(range(len(self.names)))
            if -1 in self._cols:
                j = self._cols.index(-1)
                score_ref = self._score_reference(rows, ev, point_s, cur)
                if score_ref is None:
                    cols.remove(j)
                else:
                    refs[j] = score_ref
            check["stats"] = check_statistics([refs[j] for j in cols], current[:, cols],
                                              [self.names[j] for j in cols], spec)
            self.alarms += [{**base, "statistic": s.statistic, "feature": s.feature,
                             "value": s.value, "threshold": s.threshold,
                             "n_current": len(cur)} for s in check["stats"] if s.alarm]
        self._delayed(rows, now_s)
        self._detect(now_s, base)

    def _score_reference(self, rows: np.ndarray, ev: np.ndarray, point_s: float,
                         cur: np.ndarray) -> np.ndarray | None:
        """The score's reference for the check at ``point_s`` (calendar-matched to ``cur``),
        or None while the version has served fewer than SCORE_REFERENCE_DAYS."""
        if self._score_pending:
            if self._score_from_s is None:  # the version's first check: its days start here
                self._score_from_s = point_s - self.spec.window_days * 86400.0
            if point_s - self._score_from_s < SCORE_REFERENCE_DAYS * 86400.0:
                return None
            served = rows[(ev > self._score_from_s) & (ev <= point_s)]
            self._score_ref = self.ledger.score[served]
            self._score_weekend = self.enricher.features[served, _WEEKEND]
            self._score_pending = False
            return None  # this window is part of the reference
        ref = self._score_ref
        if self.spec.calendar_matched and len(ref):
            ref = ref[calendar_match(self._score_weekend, self.enricher.features[cur, _WEEKEND])]
        return ref if len(ref) else None

    def _delayed(self, rows: np.ndarray, now_s: float) -> None:
        """The delayed AP / CP@k of every live event day, from the labels known at ``now_s``."""
        tab, store = self.table, self.label_store
        day = np.floor((tab.event_time_s[rows] - self.day0_s) / 86400.0).astype(np.int64)
        known = store.known_at_s[rows] <= now_s
        for d in np.unique(day).tolist():
            m = day == d
            r = rows[m]
            ap, cp, share = delayed_day_metrics(tab.customer_id[r], store.value[r].astype(
                np.int64), self.ledger.score[r], known[m], self.spec.k)
            self.daily[int(d)] = (ap, cp, share, now_s)

    def _detect(self, now_s: float, base: dict[str, Any]) -> None:
        """Feed the detector the errors of the labels known since the last check."""
        det, store = self.detector, self.label_store
        if det is None:
            return
        t = store.known_at_s
        new = np.flatnonzero((t > self._labels_until_s) & (t <= now_s))
        self._labels_until_s = now_s
        score = self.ledger.score[new]
        new, score = new[np.isfinite(score)], score[np.isfinite(score)]
        if not len(new):
            return
        order = np.argsort(t[new], kind="stable")
        err = np.abs(store.value[new[order]] - score[order])
        fired = [det.update(e) for e in err.tolist()]
        if any(fired):
            spec = self.spec.detector
            self.alarms.append({**base, "statistic": spec.kind, "feature": "error",
                                "value": float(err.mean()),
                                "threshold": spec.delta if spec.kind == "adwin"
                                else spec.threshold, "n_current": len(err)})
