"""The monitoring-service's drift decisions, pure (no SimPy): when to check, which statistics
alarm, and the delayed quality metrics.

- :func:`next_check`: checks fall every ``check_interval_days`` of event time from the live
  window's first midnight; the check point is the latest one the newest consumed score passed.
- :func:`check_statistics`: PSI (alarm above ``psi_threshold``) and the two-sample KS test
  (alarm when p < ``ks_alpha`` / the number of KS tests of the check, Bonferroni) of each
  monitored column of the current window against the reference (the serving model's
  training window; ``tinybots.drift``). Evidently and NannyML use the same pair of tests for
  numerical drift (PSI's rule of thumb 0.1 / 0.25: Siddiqi 2006, *Credit Risk Scorecards*).
- :func:`calendar_match`: the reference rows a check compares with, matched on the calendar
  flag ``TX_DURING_WEEKEND`` to the current window's weekday / weekend mix (a one-day window
  is all weekdays or all weekend, the training week is 5:2; the score, through the model's
  weekend coefficient, differs between the two, which is the calendar, not drift).
- :func:`delayed_day_metrics`: AP and CP@k of one event day over the transactions whose label
  is known at the check (unknown labels are left out, not counted as genuine: a fraud not yet
  reported is not yet a miss), with the share known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.scenario.learning import MonitoringSpec
from tinybots.drift import ks, psi

__all__ = ["FALSE_ALARM_RATE_PER_CHECK", "Statistic", "calendar_match", "check_statistics",
           "delayed_day_metrics", "next_check"]

_DAY_S = 86400.0

FALSE_ALARM_RATE_PER_CHECK = 0.05
"""The stated false-alarm rate of the default ``MonitoringSpec``: the share of checks without
drift at which any statistic (PSI, KS or the stream detector) alarms, at most (see
``MonitoringSpec``'s docstring for the measured figures; ``tests/test_drift_false_alarms.py``
checks it with a Clopper-Pearson interval over replications)."""


@dataclass(frozen=True)
class Statistic:
    """One statistic of a check: ``statistic`` ("psi" / "ks"), the column, its value (PSI, or
    KS's p-value), the alarm threshold and whether it alarms."""

    statistic: str
    feature: str
    value: float
    threshold: float
    alarm: bool


def next_check(day0_s: float, interval_days: float, newest_event_s: float,
               due_s: float) -> float | None:
    """The check point (event time, s) to check now, or None when ``newest_event_s`` has not
    reached the check due at ``due_s``: the latest ``day0_s + k × interval`` (k >= 1) <=
    ``newest_event_s``.

    >>> next_check(0.0, 1.0, 86_399.0, 86_400.0) is None
    True
    >>> next_check(0.0, 1.0, 3 * 86_400.0 + 5, 86_400.0)
    259200.0
    """
    if newest_event_s < due_s:
        return None
    step = interval_days * _DAY_S
    return day0_s + math.floor((newest_event_s - day0_s) / step) * step


def calendar_match(reference_flag: np.ndarray, current_flag: np.ndarray) -> np.ndarray:
    """Indices of the reference rows with the current window's mix of ``flag`` values.

    Post-stratification on a calendar flag: each value keeps its share of the current window,
    with as many reference rows as the scarcest value allows, taken evenly spaced in time
    order (deterministic). A value of the current window absent from the reference: the whole
    reference (nothing to match).

    Parameters
    ----------
    reference_flag, current_flag : numpy.ndarray, shape (n,) and (m,)
        The flag (``TX_DURING_WEEKEND``) of the reference rows (in time order) and the current
        window's.

    Returns
    -------
    numpy.ndarray of int
        Sorted indices into the reference.

    >>> calendar_match(np.array([0, 0, 1, 0, 0, 1, 0]), np.zeros(3)).tolist()
    [0, 1, 3, 4, 6]
    >>> calendar_match(np.array([0, 0, 1, 0, 0, 1, 0]), np.array([0, 1])).tolist()
    [0, 2, 5, 6]
    """
    values, counts = np.unique(current_flag, return_counts=True)
    pools = [np.flatnonzero(reference_flag == v) for v in values]
    share = counts / counts.sum()
    if not len(values) or any(not len(p) for p in pools):
        return np.arange(len(reference_flag))
    total = min(len(p) / s for p, s in zip(pools, share, strict=True))
    out = [p[np.unique(np.round(np.linspace(0, len(p) - 1, min(len(p), max(
        1, round(total * s))))).astype(np.int64))] for p, s in zip(pools, share, strict=True)]
    return np.sort(np.concatenate(out))


def check_statistics(
    reference: np.ndarray | list[np.ndarray], current: np.ndarray, names: list[str],
    spec: MonitoringSpec,
) -> list[Statistic]:
    """Every statistic of ``spec.statistics`` on every column, reference vs current.

    Parameters
    ----------
    reference : numpy.ndarray of float, shape (n, c), or list of c arrays
        The reference of each monitored column (``names``, in order); a list when the columns'
        references differ in length (the score's is the first window a version served).
    current : numpy.ndarray of float, shape (m, c)
        The monitored columns of the current window.
    names : list of str, length c
    spec : MonitoringSpec

    Returns
    -------
    list of Statistic
        In column order, PSI before KS for each column.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> s = MonitoringSpec(drift=True)
    >>> out = check_statistics(rng.normal(size=(5000, 1)), rng.normal(1.0, size=(2000, 1)),
    ...                        ["x"], s)
    >>> [(x.statistic, x.alarm) for x in out]
    [('psi', True), ('ks', True)]
    """
    refs = ([reference[:, j] for j in range(reference.shape[1])]
            if isinstance(reference, np.ndarray) else list(reference))
    n_ks = len(names) if "ks" in spec.statistics else 0
    out = []
    for j, name in enumerate(names):
        ref, cur = refs[j], current[:, j]
        if "psi" in spec.statistics:
            v = psi(ref, cur, spec.psi_bins)
            out.append(Statistic("psi", name, v, spec.psi_threshold, v > spec.psi_threshold))
        if "ks" in spec.statistics:
            _, p = ks(ref, cur)
            level = spec.ks_alpha / n_ks
            out.append(Statistic("ks", name, p, level, p < level))
    return out


def delayed_day_metrics(
    card: np.ndarray, label: np.ndarray, score: np.ndarray, known: np.ndarray, k: int
) -> tuple[float, float, float]:
    """AP, CP@k and the share known of one event day, from the labels known.

    Parameters
    ----------
    card, label, score : numpy.ndarray, shape (n,)
        The day's scored transactions (label meaningful where ``known``).
    known : numpy.ndarray of bool, shape (n,)
    k : int
        Cards checked a day (CP@k: top-k cards by max score, compromised share, / k).

    Returns
    -------
    tuple of float
        ``(average_precision, card_precision_at_k, share_known)``; AP is NaN unless both
        classes are known, CP@k NaN when no label is known.

    >>> delayed_day_metrics(np.array([1, 2, 3]), np.array([1, 0, 0]),
    ...                     np.array([0.9, 0.2, 0.5]), np.array([True, True, False]), 1)
    (1.0, 1.0, 0.6666666666666666)
    """
    from tinybots.metrics import average_precision, card_precision_at_k

    n = len(card)
    share = float(known.mean()) if n else math.nan
    y, s, c = label[known], score[known], card[known]
    ap = average_precision(y, s) if 0 < y.sum() < len(y) else math.nan
    if not len(y):
        return ap, math.nan, share
    day = pd.DataFrame({"TX_TIME_DAYS": 0, "CUSTOMER_ID": c, "TX_FRAUD": y, "score": s})
    cp = card_precision_at_k(day, k, score_column="score", remove_detected=False)
    return ap, float(cp.per_day.iloc[0]), share
