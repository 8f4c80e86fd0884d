"""Preparing the real bots before a run: train the detector's model and warm the feature store.

The model is trained like the handbook's baseline (Le Borgne et al. 2022, Chapter 3): on
``train_days`` of labelled history ending ``gap_days`` before the live day (the delay week),
with the 15 baseline features computed over the whole preceding history. It is registered in a
``tinybots.registry.ModelRegistry`` and the detector serves that version. The online feature
store is warmed with the last :func:`history_days` of history (the longest window, 30 days,
plus the label delay and a day of margin: 38 days for the handbook's 7), with labels known for
transactions up to ``live_start − delay``.

One label delay ``d`` (``scenario.labels.delay_days``, whole days >= 1) drives both: the
store's terminal windows (t − d − w, t − d] and the training features
(``compute_features(..., delay_days=d)``), so features are equal offline and online.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.scenario import ModelSpec
from sim.workload import SECONDS_PER_DAY, event_seconds
from tinybots.schema import FEATURE_COLUMNS

__all__ = ["TrainedModel", "train_model", "warm_store", "history_days", "HISTORY_DAYS"]


def history_days(delay_days: int) -> int:
    """Days of history the feature store and the training features need: the longest window
    (30 days) + the label delay + one day of margin.

    >>> history_days(7)
    38
    """
    return 30 + int(delay_days) + 1


HISTORY_DAYS = history_days(7)
"""Days of history needed with the handbook's 7-day label delay (38)."""


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A fitted model, its registry version and its row of the ``models`` frame.

    ``reference`` (shape (n_train, 15), the model features in ``FEATURE_COLUMNS`` order) and
    ``reference_scores`` (shape (n_train,)) are its training window's inputs and scores: the
    reference of the monitoring-service's drift statistics. ``registry``: the run's one
    ``ModelRegistry`` (later versions of the retraining loop go into it too).
    """

    model: Any
    version: int
    info: dict[str, Any]
    reference: np.ndarray | None = None
    reference_scores: np.ndarray | None = None
    registry: Any = None  # the run's ModelRegistry, holding this version (the orchestrator's)


def train_model(
    history: pd.DataFrame, spec: ModelSpec, live_day_start_s: float, delay_days: int = 7
) -> TrainedModel:
    """Fit ``spec.kind`` on the training window before the live day and register it.

    Parameters
    ----------
    history : pandas.DataFrame
        Raw rows (handbook layout) before the live window.
    spec : ModelSpec
    live_day_start_s : float
        Event time (naive Unix s) of midnight of the live day.
    delay_days : int
        Label delay d (days, >= 1) of the training features' terminal windows; the feature
        store's (:func:`warm_store`).

    Raises
    ------
    tinybots.errors.InputError
        The training window holds no fraud or no genuine transaction.
    """
    from tinybots.errors import InputError
    from tinybots.features import compute_features
    from tinybots.metrics import average_precision
    from tinybots.modeling import make_model
    from tinybots.registry import ModelRegistry

    train_end = live_day_start_s - spec.gap_days * SECONDS_PER_DAY
    train_start = train_end - spec.train_days * SECONDS_PER_DAY
    t = event_seconds(history["TX_DATETIME"])
    need_s = history_days(delay_days) * SECONDS_PER_DAY
    sub = history.loc[(t >= train_start - need_s) & (t < train_end)]
    feats = compute_features(sub.reset_index(drop=True), delay_days=int(delay_days))
    ft = event_seconds(feats["TX_DATETIME"])
    train = feats.loc[ft >= train_start]
    y = train["TX_FRAUD"].to_numpy()
    if len(train) == 0 or y.min() == y.max():
        raise InputError(
            f"model.train_days: the training window {pd.Timestamp(train_start, unit='s')} .. "
            f"{pd.Timestamp(train_end, unit='s')} needs both frauds and genuine transactions "
            f"({len(train)} rows, {int(y.sum()) if len(y) else 0} frauds)"
        )
    X = train[list(FEATURE_COLUMNS)].to_numpy(np.float64)
    model = make_model(spec.kind, random_state=0).fit(X, y)
    train_scores = model.predict_proba(X)[:, 1]
    ap = average_precision(y, train_scores)
    window = (str(pd.Timestamp(train_start, unit="s")), str(pd.Timestamp(train_end, unit="s")))
    first, last = pd.Timestamp(train_start, unit="s"), pd.Timestamp(train_end - 1, unit="s")
    days = (first.date(), last.date())
    registry = ModelRegistry()
    entry = registry.register(
        model,
        kind=spec.kind,
        training_window=days,
        created_at=pd.Timestamp(live_day_start_s, unit="s").to_pydatetime(),
        features=list(FEATURE_COLUMNS),
        metrics={"train_average_precision": ap},
    )
    version = int(getattr(entry, "version", entry))
    info = {
        "version": version,
        "kind": spec.kind,
        "train_start": window[0],
        "train_end": window[1],
        "n_train": len(train),
        "n_train_frauds": int(y.sum()),
        "train_average_precision": ap,
    }
    return TrainedModel(model=model, version=version, info=info, reference=X,
                        reference_scores=train_scores, registry=registry)


def warm_store(history: pd.DataFrame, live_start_s: float, delay_days: int = 7) -> Any:
    """A ``FeatureStore(delay_days=delay_days)`` holding the last :func:`history_days` of
    ``history``, labels known for rows with event time <= ``live_start_s − delay``.

    Parameters
    ----------
    history : pandas.DataFrame
        Raw rows (handbook layout) before the live window.
    live_start_s : float
        Event time (naive Unix s) at which the live window starts.
    delay_days : int
        Label delay d (days, >= 1).
    """
    from tinybots.features import FeatureStore

    d = int(delay_days)
    store = FeatureStore(delay_days=d)
    t = event_seconds(history["TX_DATETIME"])
    recent = history.loc[t >= live_start_s - history_days(d) * SECONDS_PER_DAY]
    if len(recent) == 0:
        return store
    # warm_start labels the rows with t <= labels_until_s - d: those up to live_start - d (the
    # label feed publishes the rest as they come due)
    store.warm_start(recent.reset_index(drop=True), labels_until_s=int(live_start_s))
    return store
