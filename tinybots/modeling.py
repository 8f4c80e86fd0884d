"""Baseline fraud-detection models: the handbook's split, training and evaluation.

Implements the "Baseline fraud detection system" of the Fraud Detection Handbook
(Le Borgne et al., 2022, Chapter 3): one week of training data, one week of label delay that is
not used, one week of test data from which cards already known to be compromised are removed;
four scikit-learn classifiers behind a ``StandardScaler`` on the 15 baseline features; AUC ROC,
average precision and card precision@100 on the test week (:mod:`tinybots.metrics`).

Frames are in the transformed layout (``tinybots.schema.TRANSFORMED_COLUMNS``). A raw frame
is accepted by :func:`run_baseline`, which computes features over the full history first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from tinybots.errors import InputError
from tinybots.metrics import auc_roc, average_precision, card_precision_at_k
from tinybots.schema import FEATURE_COLUMNS

BASELINE_MODELS: tuple[str, ...] = (
    "logistic_regression",
    "decision_tree_depth_2",
    "decision_tree",
    "random_forest",
)
"""Names accepted by :func:`make_model`, in the order of the handbook's Chapter 3 table."""

BASELINE_START = dt.date(2018, 7, 25)
"""First training day of the handbook's Chapter 3 baseline (day 115 of the simulation)."""

HISTORY_DAYS = 7 + 30
"""Days of raw history the features need before the first training day: the terminal windows
(t - d - w, t - d] reach back the label delay d = 7 plus the longest window w = 30 days
(``tinybots.features.compute_features`` defaults; handbook Chapter 3)."""

SCORE_COLUMN = "predictions"


class Split(NamedTuple):
    """A train / test split of transformed transactions.

    Attributes
    ----------
    train : pandas.DataFrame
        Training transactions, sorted by ``TRANSACTION_ID``.
    test : pandas.DataFrame
        Test transactions after removing known compromised cards, sorted by ``TRANSACTION_ID``.
    """

    train: pd.DataFrame
    test: pd.DataFrame


def _estimator(name: str, random_state: int) -> ClassifierMixin:
    if name == "logistic_regression":
        return LogisticRegression(random_state=random_state)
    if name == "decision_tree_depth_2":
        return DecisionTreeClassifier(max_depth=2, random_state=random_state)
    if name == "decision_tree":
        return DecisionTreeClassifier(random_state=random_state)
    if name == "random_forest":
        return RandomForestClassifier(n_estimators=100, random_state=random_state, n_jobs=-1)
    raise InputError(f"unknown model {name!r}; allowed: {', '.join(BASELINE_MODELS)}")


def make_model(name: str, random_state: int = 0) -> Pipeline:
    """Build an unfitted baseline pipeline ``StandardScaler -> estimator``.

    Parameters
    ----------
    name : str
        One of :data:`BASELINE_MODELS`: ``logistic_regression`` (sklearn defaults),
        ``decision_tree_depth_2`` (``max_depth=2``), ``decision_tree`` (unlimited depth),
        ``random_forest`` (100 trees, ``n_jobs=-1``) -- the handbook's Chapter 3 models.
    random_state : int
        Seed of the estimator (the handbook uses 0).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``scaler`` and ``model``.

    Raises
    ------
    InputError
        If ``name`` is unknown (the message lists the allowed names).
    """
    return Pipeline([("scaler", StandardScaler()), ("model", _estimator(name, random_state))])


def handbook_split(
    transformed: pd.DataFrame,
    start_date: dt.date | str = BASELINE_START,
    delta_train: int = 7,
    delta_delay: int = 7,
    delta_test: int = 7,
) -> Split:
    """Split transactions as the handbook's ``get_train_test_set`` does (Chapter 3).

    Train: ``delta_train`` days from ``start_date`` 00:00. Delay: the next ``delta_delay`` days,
    unused. Test: the ``delta_test`` days after the delay. Cards with a fraud in the training
    week are removed from every test day; on test day ``t`` (day index), cards with a fraud on
    any day up to ``t - delta_delay - 1`` are removed too -- one day more than the delay, as in the
    book's loop (Le Borgne et al., 2022, Chapter 3, "Baseline fraud detection system").

    Parameters
    ----------
    transformed : pandas.DataFrame
        Transactions with at least ``TX_DATETIME``, ``TX_TIME_DAYS``, ``CUSTOMER_ID``,
        ``TX_FRAUD``, ``TRANSACTION_ID``. Not modified.
    start_date : datetime.date or str
        First training day (ISO string accepted); default 2018-07-25.
    delta_train, delta_delay, delta_test : int
        Lengths in days, each >= 1 (``delta_delay`` may be 0).

    Returns
    -------
    Split
        Train and filtered test frames (copies).

    Raises
    ------
    InputError
        On a bad date or length, or when the training window holds no transactions.
    """
    start = _as_date(start_date)
    for field, value, low in (("delta_train", delta_train, 1), ("delta_delay", delta_delay, 0),
                              ("delta_test", delta_test, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{field} must be an integer >= {low}, got {value!r}")
    begin = pd.Timestamp(start)
    times = transformed["TX_DATETIME"]
    in_train = (times >= begin) & (times < begin + pd.Timedelta(days=delta_train))
    train = transformed[in_train].sort_values("TRANSACTION_ID", kind="mergesort")
    if train.empty:
        raise InputError(
            f"start_date: no transactions in the training window {_days(start, delta_train)}; "
            f"the split needs data from {_days(start, delta_train + delta_delay + delta_test)} "
            f"(train {delta_train}, delay {delta_delay}, test {delta_test} days), the table "
            f"covers {_covered(times)}"
        )
    if train["TX_FRAUD"].nunique() < 2:
        raise InputError(
            f"TX_FRAUD: the training window {_days(start, delta_train)} holds only "
            f"{'frauds' if train['TX_FRAUD'].iloc[0] else 'genuine transactions'}; a model "
            "needs both classes (choose another start_date or more data)"
        )
    start_day = int(train["TX_TIME_DAYS"].min())
    days = transformed["TX_TIME_DAYS"].to_numpy()
    frauds = transformed[transformed["TX_FRAUD"].to_numpy() == 1]
    known = set(train.loc[train["TX_FRAUD"] == 1, "CUSTOMER_ID"].tolist())
    parts = []
    for i in range(delta_test):
        # the book adds the frauds of day (start + delta_train + i - 1) before test day i
        known.update(frauds.loc[frauds["TX_TIME_DAYS"] == start_day + delta_train + i - 1,
                                "CUSTOMER_ID"].tolist())
        day = transformed[days == start_day + delta_train + delta_delay + i]
        parts.append(day[~day["CUSTOMER_ID"].isin(known)])
    test = pd.concat(parts).sort_values("TRANSACTION_ID", kind="mergesort")
    return Split(train=train.copy(), test=test.copy())


def fit_model(
    name: str,
    train: pd.DataFrame,
    features: Sequence[str] = FEATURE_COLUMNS,
    *,
    random_state: int = 0,
) -> Pipeline:
    """Fit the baseline pipeline ``name`` on ``train[features]`` against ``TX_FRAUD``.

    Deterministic for a given ``random_state``. Raises :class:`InputError` on an unknown name
    or a missing feature column.
    """
    _require(train, [*features, "TX_FRAUD"], "train")
    model = make_model(name, random_state=random_state)
    return model.fit(train.loc[:, list(features)], train["TX_FRAUD"].to_numpy())


def score(
    model: Pipeline, frame: pd.DataFrame, features: Sequence[str] = FEATURE_COLUMNS
) -> np.ndarray:
    """Fraud probability for each row of ``frame``, shape (n,), in [0, 1]."""
    _require(frame, features, "frame")
    return model.predict_proba(frame.loc[:, list(features)])[:, 1]


def evaluate(
    model: Pipeline,
    frame: pd.DataFrame,
    features: Sequence[str] = FEATURE_COLUMNS,
    *,
    k: int = 100,
) -> dict[str, float]:
    """AUC ROC, average precision and card precision@k of ``model`` on ``frame``.

    AUC ROC and AP are pooled over all rows; CP@k is per day with detected-card removal,
    averaged over days (handbook Chapter 4; see :mod:`tinybots.metrics`).

    Parameters
    ----------
    model : sklearn.pipeline.Pipeline
        A fitted classifier with ``predict_proba``.
    frame : pandas.DataFrame
        Transformed transactions (features, ``TX_FRAUD``, ``TX_TIME_DAYS``, ``CUSTOMER_ID``).
    features : sequence of str
        Model inputs, in the order the model was fitted with.
    k : int
        Cards per day for CP@k.

    Returns
    -------
    dict
        Keys ``auc_roc``, ``average_precision``, ``card_precision_at_{k}``.
    """
    scored = frame.loc[:, ["TX_TIME_DAYS", "CUSTOMER_ID", "TX_FRAUD"]].copy()
    scored[SCORE_COLUMN] = score(model, frame, features)
    y = scored["TX_FRAUD"].to_numpy()
    return {
        "auc_roc": auc_roc(y, scored[SCORE_COLUMN].to_numpy()),
        "average_precision": average_precision(y, scored[SCORE_COLUMN].to_numpy()),
        f"card_precision_at_{k}": card_precision_at_k(scored, k, score_column=SCORE_COLUMN).mean,
    }


def run_baseline(
    transactions: pd.DataFrame,
    *,
    start_date: dt.date | str = BASELINE_START,
    models: Sequence[str] = BASELINE_MODELS,
    k: int = 100,
    include_train: bool = False,
) -> pd.DataFrame:
    """Reproduce the handbook's Chapter 3 baseline table.

    Parameters
    ----------
    transactions : pandas.DataFrame
        Raw (features are then computed over the whole given history with
        ``tinybots.features.compute_features``) or transformed transactions.
    start_date : datetime.date or str
        First training day (default 2018-07-25); 7 train, 7 delay, 7 test days.
    models : sequence of str
        Names from :data:`BASELINE_MODELS`.
    k : int
        Cards per day for CP@k.
    include_train : bool
        Also report the metrics on the training week (columns prefixed ``train_``).

    Returns
    -------
    pandas.DataFrame
        One row per model: ``model``, ``auc_roc``, ``average_precision``,
        ``card_precision_at_{k}`` (test week), optional ``train_*`` columns, and ``fit_s``
        (wall-clock fit time, seconds).

    Raises
    ------
    InputError
        On an unknown model name, an empty split, or raw transactions with fewer than
        :data:`HISTORY_DAYS` days of history before ``start_date`` (see :func:`check_history`).
    """
    for name in models:
        make_model(name)  # validate names before any heavy work
    data = transactions
    raw = any(c not in data.columns for c in FEATURE_COLUMNS)
    if raw:
        from tinybots.features import compute_features

        data = compute_features(data)
    split = handbook_split(data, start_date)
    start = _as_date(start_date)
    if split.test.empty:
        raise InputError(
            f"start_date: the test week {_days(start + dt.timedelta(days=14), 7)} holds no "
            f"transactions; the data must cover {_days(start, 21)}, the table covers "
            f"{_covered(data['TX_DATETIME'])}"
        )
    if split.test["TX_FRAUD"].nunique() < 2:
        raise InputError(
            f"TX_FRAUD: the test week {_days(start + dt.timedelta(days=14), 7)} holds only one "
            "class after removing known compromised cards; AUC ROC and AP need both"
        )
    if raw:
        check_history(data["TX_DATETIME"], start)
    rows = []
    for name in models:
        started = pd.Timestamp.now()
        model = fit_model(name, split.train)
        fit_s = (pd.Timestamp.now() - started).total_seconds()
        row: dict[str, object] = {"model": name, **evaluate(model, split.test, k=k)}
        if include_train:
            row.update({f"train_{key}": v for key, v in evaluate(model, split.train, k=k).items()})
        row["fit_s"] = fit_s
        rows.append(row)
    return pd.DataFrame(rows)


def check_history(times: pd.Series, start_date: dt.date | str) -> None:
    """Raise unless raw transactions start :data:`HISTORY_DAYS` days before ``start_date``.

    Without that history the 30-day windows of the first training days count only part of
    their span, and the baseline table is silently wrong (the handbook's three-week extract,
    raw: AUC 0.58 instead of 0.87 for logistic regression).

    Parameters
    ----------
    times : pandas.Series
        ``TX_DATETIME`` of the raw table (datetime64, naive).
    start_date : datetime.date or str
        First training day.

    Raises
    ------
    InputError
        The table starts fewer than :data:`HISTORY_DAYS` days before ``start_date``; the
        message names the days needed and the days present.
    """
    start = _as_date(start_date)
    first = pd.Timestamp(times.min()).date()
    have = (start - first).days
    if have < HISTORY_DAYS:
        need_from = start - dt.timedelta(days=HISTORY_DAYS)
        raise InputError(
            f"start_date: raw transactions need {HISTORY_DAYS} days of history before the "
            f"training week starting {start} (7 label-delay days + 30-day windows), i.e. from "
            f"{need_from}; the table starts {first}, {max(have, 0)} day(s) before; give raw "
            "data from earlier, a later start or the transformed table (features precomputed)"
        )


def parse_date(value: dt.date | str, field: str = "start_date") -> dt.date:
    """A date from a date, datetime or ISO ``YYYY-MM-DD`` string.

    >>> parse_date("2018-07-25")
    datetime.date(2018, 7, 25)

    Raises
    ------
    InputError
        Not a valid date; the message names ``field``.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise InputError(f"{field} must be an ISO date like 2018-07-25, got {value!r}") from exc


_as_date = parse_date


def _days(start: dt.date, n: int) -> str:
    """``n`` days from ``start`` as an inclusive range of dates."""
    return f"{start.isoformat()} .. {(start + dt.timedelta(days=n - 1)).isoformat()}"


def _covered(times: pd.Series) -> str:
    if len(times) == 0:
        return "no days"
    return f"{times.min().date().isoformat()} .. {times.max().date().isoformat()}"


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} is missing column(s) {missing}; required: {list(columns)}")


__all__ = [
    "BASELINE_MODELS",
    "BASELINE_START",
    "HISTORY_DAYS",
    "Split",
    "check_history",
    "evaluate",
    "fit_model",
    "handbook_split",
    "make_model",
    "parse_date",
    "run_baseline",
    "score",
]
