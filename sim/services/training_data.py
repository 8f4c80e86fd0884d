"""What a training job of the model-training-service fits on, and the fit itself.

:meth:`TrainingData.select` takes, at a job's start (processing time ``now_s``, event time
``t``), the rows of the ``train_days`` of event time ending ``gap_days`` before ``t``
(``retraining.gap_days``, by default the label delay) whose label is known:

- live rows: ``LabelStore.known_at_s <= now_s`` (the label feed's consumer has applied the
  label), with the features the feature-enricher served for them (the logged online features,
  point in time: Feast's "log features at serving, join labels later");
- history rows (before the live window) whose label is known by the label-delay rule, event
  time + ``labels.delay_days`` days <= ``t``, with their offline features
  (``tinybots.features.compute_features(delay_days=d)``, as ``sim.services.warmup`` trains the
  first version; computed once at build).

:func:`fit_version` holds the latest ``eval_days`` labelled event days out, fits the model on
the rest and evaluates it there (AUC ROC, AP, CP@100: out of sample, as the handbook's
Chapter 5 validates on later days).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.workload import SECONDS_PER_DAY, event_seconds
from tinybots.schema import FEATURE_COLUMNS

__all__ = ["TrainingData", "TrainingFailed", "TrainingSet", "fit_version", "history_features"]


class TrainingFailed(Exception):
    """A fit that cannot happen (e.g. no fraud among the known labels): the job fails."""


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """The labelled rows of one job. ``rows``: ledger rows of the live part (-1: history);
    ``X`` shape (n, 15) in ``FEATURE_COLUMNS`` order; ``y``, ``event_s``, ``card`` shape (n,);
    ``known_max_s``: latest processing time a live label used became known (NaN: none);
    ``start_s`` / ``end_s``: the window's event times."""

    X: np.ndarray
    y: np.ndarray
    event_s: np.ndarray
    card: np.ndarray
    rows: np.ndarray
    known_max_s: float
    start_s: float
    end_s: float

    @property
    def n_live(self) -> int:
        """Live labels used."""
        return int((self.rows >= 0).sum())


def history_features(history: pd.DataFrame | None, delay_days: int) -> dict[str, np.ndarray]:
    """The history's offline features and labels: ``X`` (n, 15), ``y``, ``event_s``, ``card``
    (empty for no history, None)."""
    from tinybots.features import compute_features

    if history is None or len(history) == 0:
        return {"X": np.empty((0, 15)), "y": np.empty(0, np.int8), "event_s": np.empty(0),
                "card": np.empty(0, np.int64)}
    feats = compute_features(history.reset_index(drop=True), delay_days=int(delay_days))
    return {"X": feats[list(FEATURE_COLUMNS)].to_numpy(np.float64),
            "y": feats["TX_FRAUD"].to_numpy(np.int8),
            "event_s": event_seconds(feats["TX_DATETIME"]),
            "card": feats["CUSTOMER_ID"].to_numpy(np.int64)}


class TrainingData:
    """Labelled data as a job sees it (see the module docstring).

    Parameters
    ----------
    table : TxTable
        The live transactions (``event_time_s``, ``customer_id``).
    features : numpy.ndarray, shape (n, 15)
        The enricher's served features per ledger row (NaN: not served).
    label_store : LabelStore
        Known live labels (``known_at_s``, ``value``).
    history : dict
        :func:`history_features` of the history.
    delay_days : int
        ``labels.delay_days``: a history label is known ``delay_days`` after its transaction.
    gap_days : int or None
        ``retraining.gap_days``: the training window ends this many days before the job's
        event time (None: ``delay_days``).
    """

    def __init__(self, table: Any, features: np.ndarray, label_store: Any,
                 history: dict[str, np.ndarray], delay_days: int,
                 gap_days: int | None = 0) -> None:
        self.table = table
        self.features = features
        self.label_store = label_store
        self.history = history
        self.delay_s = float(delay_days) * SECONDS_PER_DAY
        self.gap_s = float(delay_days if gap_days is None else gap_days) * SECONDS_PER_DAY

    def known(self, now_s: float) -> np.ndarray:
        """Live rows whose label is known at processing time ``now_s`` (the label availability
        a job sees; the leak test replaces it)."""
        return self.label_store.known(now_s)

    def select(self, now_s: float, event_now_s: float, train_days: int) -> TrainingSet:
        """The labelled rows of the ``train_days`` days of event time that end ``gap_days``
        before ``event_now_s``."""
        event_now_s = event_now_s - self.gap_s
        start = event_now_s - train_days * SECONDS_PER_DAY
        t = self.table.event_time_s
        n = len(self.features)
        live = self.known(now_s)[:n] & (t[:n] >= start) & (t[:n] < event_now_s)
        live &= np.isfinite(self.features).all(axis=1)
        rows = np.flatnonzero(live)
        h = self.history
        hist = (h["event_s"] >= start) & (h["event_s"] + self.delay_s <= event_now_s)
        known_at = self.label_store.known_at_s[rows]
        return TrainingSet(
            X=np.concatenate([h["X"][hist], self.features[rows]]),
            y=np.concatenate([h["y"][hist], self.label_store.value[rows]]).astype(np.int8),
            event_s=np.concatenate([h["event_s"][hist], t[rows]]),
            card=np.concatenate([h["card"][hist], self.table.customer_id[rows]]),
            rows=np.concatenate([np.full(int(hist.sum()), -1, np.int64), rows]),
            known_max_s=float(known_at.max()) if len(rows) else math.nan,
            start_s=start, end_s=event_now_s,
        )


def fit_version(ts: TrainingSet, kind: str, eval_days: int, random_state: int,
                shuffle: np.random.Generator | None = None) -> tuple[Any, dict[str, float], Any]:
    """Fit ``kind`` on ``ts`` without its latest ``eval_days`` labelled event days and evaluate
    it on them; ``shuffle``: permute the training labels with it first (a bad version).

    Returns ``(model, metrics, train_mask)``: metrics ``auc_roc``, ``average_precision``,
    ``card_precision_at_100`` of the held-out days (NaN when they hold one class only) and the
    training counts ``n_train``, ``n_train_frauds`` and the in-sample
    ``train_average_precision`` (of the labels fitted on).

    Raises
    ------
    TrainingFailed
        No labelled rows, or the training rows hold one class only (no fraud).
    """
    from tinybots.metrics import auc_roc, average_precision, card_precision_at_k
    from tinybots.modeling import make_model

    day = (ts.event_s // SECONDS_PER_DAY).astype(np.int64)
    days = np.unique(day)
    held = np.isin(day, days[-eval_days:]) if len(days) > eval_days else np.zeros(len(day), bool)
    train = ~held
    y = ts.y[train].astype(np.int64)
    if shuffle is not None:
        y = shuffle.permutation(y)
    if len(y) == 0 or y.min() == y.max():
        raise TrainingFailed(f"{len(y)} labelled training rows with {int(y.sum())} frauds: "
                             "both classes are needed")
    model = make_model(kind, random_state=random_state).fit(ts.X[train], y)
    metrics = {"n_train": float(train.sum()), "n_train_frauds": float(y.sum()),
               "train_average_precision": float(average_precision(
                   y, model.predict_proba(ts.X[train])[:, 1])),
               "auc_roc": math.nan, "average_precision": math.nan,
               "card_precision_at_100": math.nan}
    ye = ts.y[held].astype(np.int64)
    if len(ye) and 0 < ye.sum() < len(ye):
        s = model.predict_proba(ts.X[held])[:, 1]
        metrics["auc_roc"] = float(auc_roc(ye, s))
        metrics["average_precision"] = float(average_precision(ye, s))
        frame = pd.DataFrame({"TX_TIME_DAYS": day[held], "CUSTOMER_ID": ts.card[held],
                              "TX_FRAUD": ye, "predictions": s})
        metrics["card_precision_at_100"] = float(card_precision_at_k(frame, 100).mean)
    return model, metrics, train
