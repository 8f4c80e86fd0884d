"""Prequential validation of the baseline models, as the Fraud Detection Handbook defines it.

Le Borgne et al. (2022), Chapter 5 "Model validation and selection", section "Validation
strategies", prequential validation (``shared_functions.py: prequentialSplit``): blocks of
``delta`` = 7 days, a training block, a delay block that is not used and an assessment block.
Fold ``i`` (0 .. n_folds − 1) moves both the training start and the assessment block back by
``i × delta_assessment`` days, so fold 0 is the latest. Each fold is the Chapter 3 split
(:func:`tinybots.modeling.handbook_split`): cards known to be compromised in the training and
delay periods are removed from the assessment block. AUC ROC, AP and CP@100 are computed per
fold (:func:`tinybots.modeling.evaluate`) and summarised by their mean and standard deviation
(ddof = 0, ``numpy.std``, as the book's ``prequential_grid_search`` does).

The book's setups for a training start of 2018-07-25 with 4 folds: validation estimates train
fold 0 from 2018-07-11 (14 days earlier), test estimates from 2018-08-15 (21 days later).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from tinybots.errors import InputError
from tinybots.modeling import (
    HISTORY_DAYS,
    evaluate,
    fit_model,
    handbook_split,
    make_model,
    parse_date,
)
from tinybots.schema import FEATURE_COLUMNS

__all__ = ["METRICS", "Fold", "PrequentialResult", "fold_windows", "run_prequential"]

METRICS: tuple[str, ...] = ("auc_roc", "average_precision", "card_precision_at_100")
"""Metric columns of a prequential run (k = 100), in the order of ``tinybots baseline``."""


class Fold(NamedTuple):
    """The windows of one prequential fold, as inclusive first and last days.

    Attributes
    ----------
    fold : int
        Fold index; fold ``i`` starts ``i × delta_assessment`` days before fold 0.
    train_start, train_end, delay_start, delay_end, assessment_start, assessment_end : date
        First and last day of each block.
    """

    fold: int
    train_start: dt.date
    train_end: dt.date
    delay_start: dt.date
    delay_end: dt.date
    assessment_start: dt.date
    assessment_end: dt.date


class PrequentialResult(NamedTuple):
    """Per-fold metrics and their summary for one model.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per fold: ``fold``, ``train_start``, ``assessment_start``, ``assessment_end``
        (dates), ``n_assessment`` (transactions after removing known compromised cards),
        ``n_fraud`` and the :data:`METRICS`.
    summary : dict
        ``model``, each metric's mean over folds and ``{metric}_std`` (ddof = 0).
    """

    folds: pd.DataFrame
    summary: dict[str, object]


def fold_windows(
    start_training: dt.date | str,
    n_folds: int = 4,
    delta_train: int = 7,
    delta_delay: int = 7,
    delta_assessment: int = 7,
) -> list[Fold]:
    """The windows of the prequential folds (handbook Chapter 5, ``prequentialSplit``).

    >>> f = fold_windows("2018-07-25")[1]
    >>> f.train_start.isoformat(), f.assessment_start.isoformat(), f.assessment_end.isoformat()
    ('2018-07-18', '2018-08-01', '2018-08-07')

    Raises
    ------
    InputError
        A bad date, ``n_folds`` < 1 or a block length < 1 (``delta_delay`` may be 0).
    """
    start = parse_date(start_training, "start_training")
    for field, value, low in (("n_folds", n_folds, 1), ("delta_train", delta_train, 1),
                              ("delta_delay", delta_delay, 0),
                              ("delta_assessment", delta_assessment, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{field}: must be an integer >= {low}, got {value!r}")
    day = dt.timedelta(days=1)
    folds = []
    for i in range(n_folds):
        train = start - i * delta_assessment * day
        delay = train + delta_train * day
        assess = delay + delta_delay * day
        folds.append(Fold(i, train, delay - day, delay, assess - day, assess,
                          assess + (delta_assessment - 1) * day))
    return folds


def needed_days(folds: Sequence[Fold], raw: bool) -> tuple[dt.date, dt.date]:
    """First and last day of data the folds need: the earliest training start (less
    :data:`tinybots.modeling.HISTORY_DAYS` of history for raw data) to the latest assessment
    day."""
    first = min(f.train_start for f in folds)
    if raw:
        first -= dt.timedelta(days=HISTORY_DAYS)
    return first, max(f.assessment_end for f in folds)


def run_prequential(
    transactions: pd.DataFrame,
    *,
    start_training: dt.date | str,
    model: str,
    n_folds: int = 4,
) -> PrequentialResult:
    """Prequential AUC ROC, AP and CP@100 of one baseline model.

    Raw transactions get their features computed once, over the days the folds need
    (:func:`needed_days`: the 30-day windows and the 7-day label delay before the earliest
    training start; cropping earlier rows changes no feature of the folds).

    Parameters
    ----------
    transactions : pandas.DataFrame
        Raw or transformed transactions (``tinybots.io.read_transactions``). Not modified.
    start_training : datetime.date or str
        First training day of fold 0 (the latest fold).
    model : str
        A name of :data:`tinybots.modeling.BASELINE_MODELS`.
    n_folds : int
        Number of folds (the book: 4).

    Returns
    -------
    PrequentialResult

    Raises
    ------
    InputError
        An unknown model; a table that does not cover the days needed (message starting
        ``start_training:`` with the days needed and the days present); a fold whose training
        or assessment block holds a single class.
    """
    make_model(model)
    folds = fold_windows(start_training, n_folds)
    raw = any(c not in transactions.columns for c in FEATURE_COLUMNS)
    data = _crop(transactions, folds, raw)
    if raw:
        from tinybots.features import compute_features

        data = compute_features(data)
    rows = [_fold_row(data, fold, model) for fold in folds]
    table = pd.DataFrame(rows)
    summary: dict[str, object] = {"model": model}
    summary |= {m: float(table[m].mean()) for m in METRICS}
    summary |= {f"{m}_std": float(np.std(table[m].to_numpy(), ddof=0)) for m in METRICS}
    return PrequentialResult(folds=table, summary=summary)


def _crop(transactions: pd.DataFrame, folds: Sequence[Fold], raw: bool) -> pd.DataFrame:
    first, last = needed_days(folds, raw)
    times = transactions["TX_DATETIME"]
    have_first, have_last = times.min().date(), times.max().date()
    if have_first > first or have_last < last:
        n = len(folds)
        history = f" ({HISTORY_DAYS} days of history before the earliest training day)" if raw \
            else ""
        raise InputError(
            f"start_training: {n} fold(s) with training of fold 0 from {folds[0].train_start} "
            f"need transactions from {first}{history} to {last}; the table covers "
            f"{have_first} .. {have_last} (allowed fold-0 starts: "
            f"{_allowed(have_first, have_last, folds, raw)})"
        )
    keep = (times >= pd.Timestamp(first)) & (times < pd.Timestamp(last + dt.timedelta(days=1)))
    return transactions[keep]


def _allowed(have_first: dt.date, have_last: dt.date, folds: Sequence[Fold], raw: bool) -> str:
    first, last = needed_days(folds, raw)
    start = folds[0].train_start
    low, high = start + (have_first - first), start + (have_last - last)
    return f"{low} .. {high}" if low <= high else "none, the table is too short"


def _fold_row(data: pd.DataFrame, fold: Fold, model: str) -> dict[str, object]:
    split = handbook_split(data, fold.train_start)
    y = split.test["TX_FRAUD"]
    if y.nunique() < 2:
        raise InputError(
            f"TX_FRAUD: the assessment block {fold.assessment_start} .. {fold.assessment_end} "
            f"of fold {fold.fold} holds one class after removing known compromised cards; "
            "AUC ROC and AP need both"
        )
    fitted = fit_model(model, split.train)
    return {"fold": fold.fold, "train_start": fold.train_start,
            "assessment_start": fold.assessment_start, "assessment_end": fold.assessment_end,
            "n_assessment": len(split.test), "n_fraud": int(y.sum()),
            **evaluate(fitted, split.test, k=100)}
