"""Offline (batch) computation of the handbook's 15 model inputs with pandas/numpy.

This is the training-side half of the one feature definition (the online half is
:class:`tinybots.features.store.FeatureStore`; a test proves the two agree). The definitions
are those of the Fraud Detection Handbook's "Baseline feature transformation" (Le Borgne et
al., 2022, ch. 3):

- customer windows (t - w, t] include the current transaction and its amount; between rows of
  one customer with the same time, only rows at or before the current one in input order count
  (what a stream processed in input order sees);
- terminal windows (t - d - w, t - d] count every transaction of the terminal in that span and
  the share of them labelled fraud (0 for an empty window), d being the label delay.

Method: rows are sorted stably by (group, time); a time is replaced by its rank among the
distinct times so that ``group * M + rank`` is an int64 key that cannot overflow, and every
window edge becomes one vectorised ``searchsorted``. Amount sums use per-customer cumulative
sums, so their rounding error stays near 1e-12 whatever the table length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tinybots.features._checks import (
    NS_PER_S,
    S_PER_DAY,
    calendar_flags,
    check_transactions,
    check_windows,
    event_time_ns,
    feature_columns,
)

DAY_NS = S_PER_DAY * NS_PER_S


class _TimeIndex:
    """Distinct event times and fast lookups of window edges, for one table of n rows.

    Every ``searchsorted`` is run on monotone queries (an order of magnitude faster than on
    shuffled ones), then scattered back to input order.
    """

    def __init__(self, t_ns: np.ndarray) -> None:
        self.t_ns = t_ns
        self.order = np.argsort(t_ns, kind="stable")
        self.sorted_t = t_ns[self.order]
        first = np.ones(len(t_ns), dtype=bool)
        first[1:] = self.sorted_t[1:] != self.sorted_t[:-1]
        self.uniq = self.sorted_t[first]
        self.m = len(self.uniq) + 1
        self.rank = np.empty(len(t_ns), dtype=np.int64)
        self.rank[self.order] = np.cumsum(first) - 1

    def edge(self, shift_ns: int) -> np.ndarray:
        """Per row, the number of distinct times <= t - shift_ns; int64 (n,), input order."""
        out = np.empty(len(self.t_ns), dtype=np.int64)
        out[self.order] = np.searchsorted(self.uniq, self.sorted_t - shift_ns, side="right")
        return out

    def by_group(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dense group ids (input order), stable (group, time) order and sorted int64 keys."""
        group = pd.factorize(ids)[0].astype(np.int64)
        key = group * self.m + self.rank
        order = np.argsort(key, kind="stable")
        return group, order, key[order]


def _customer_features(
    ids: np.ndarray, times: _TimeIndex, amount: np.ndarray, windows: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Count and mean amount over (t - w, t] per customer, current row included; float64 (n,)."""
    group, order, skey = times.by_group(ids)
    sorted_group = group[order] * times.m
    position = np.arange(len(order))
    sorted_amount = amount[order]
    inclusive = pd.Series(sorted_amount).groupby(group[order]).cumsum().to_numpy()
    exclusive = inclusive - sorted_amount
    out: dict[str, np.ndarray] = {}
    for w in windows:
        edge = times.edge(w * DAY_NS)[order]  # distinct times <= t - w, (group, time) order
        left = np.searchsorted(skey, sorted_group + edge, side="left")  # first time > t - w
        count = np.empty(len(order))
        count[order] = position - left + 1
        mean = np.empty(len(order))
        mean[order] = (inclusive - exclusive[left]) / (position - left + 1)
        out[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = count
        out[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = mean
    return out


def _terminal_features(
    ids: np.ndarray,
    times: _TimeIndex,
    fraud: np.ndarray,
    windows: tuple[int, ...],
    delay_days: int,
) -> dict[str, np.ndarray]:
    """Count and fraud share over (t - d - w, t - d] per terminal (0 if empty); float64 (n,)."""
    group, order, skey = times.by_group(ids)
    frauds_before = np.concatenate(([0], np.cumsum(fraud[order], dtype=np.int64)))
    sorted_group = group[order] * times.m
    cut_ns = delay_days * DAY_NS
    hi = np.searchsorted(skey, sorted_group + times.edge(cut_ns)[order], side="left")
    out: dict[str, np.ndarray] = {}
    for w in windows:
        edge = times.edge(cut_ns + w * DAY_NS)[order]
        lo = np.searchsorted(skey, sorted_group + edge, side="left")
        count = hi - lo
        risk = np.divide(
            frauds_before[hi] - frauds_before[lo], count, out=np.zeros(len(count)), where=count > 0
        )
        out[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = np.empty(len(order))
        out[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"][order] = count
        out[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = np.empty(len(order))
        out[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"][order] = risk
    return out


def compute_features(
    transactions: pd.DataFrame,
    *,
    delay_days: int = 7,
    windows_days: Sequence[int] = (1, 7, 30),
) -> pd.DataFrame:
    """Append the handbook's 14 engineered features to a raw transaction table.

    Parameters
    ----------
    transactions
        Raw table, shape (n, >= 6), with at least TRANSACTION_ID, TX_DATETIME (naive
        datetime64), CUSTOMER_ID and TERMINAL_ID (integers), TX_AMOUNT (numeric) and TX_FRAUD
        (0/1); any row order (ties in time between rows of one customer are broken by it).
    delay_days
        Label delay d (days, >= 1) of the terminal windows (t - d - w, t - d].
    windows_days
        Window lengths w (days, positive, distinct). Default (1, 7, 30) as in the handbook.

    Returns
    -------
    pandas.DataFrame
        A new frame: the input's columns and rows in the same order and index, followed by
        TX_DURING_WEEKEND, TX_DURING_NIGHT (int64 0/1), then per window
        CUSTOMER_ID_NB_TX_{w}DAY_WINDOW, CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW, then per window
        TERMINAL_ID_NB_TX_{w}DAY_WINDOW, TERMINAL_ID_RISK_{w}DAY_WINDOW (float64). Feature
        columns already present in the input are replaced. The input is not modified.

    Raises
    ------
    InputError
        Missing or mistyped columns, an empty table, bad windows or delay (the message names
        the field).
    """
    windows = check_windows(windows_days, delay_days)
    check_transactions(transactions)
    t_ns = event_time_ns(transactions)
    times = _TimeIndex(t_ns)
    weekend, night = calendar_flags(np.floor_divide(t_ns, NS_PER_S))
    features: dict[str, np.ndarray] = {"TX_DURING_WEEKEND": weekend, "TX_DURING_NIGHT": night}
    amount = transactions["TX_AMOUNT"].to_numpy(dtype=np.float64)
    customers = transactions["CUSTOMER_ID"].to_numpy()
    features |= _customer_features(customers, times, amount, windows)
    fraud = transactions["TX_FRAUD"].to_numpy().astype(np.int64)
    terminals = transactions["TERMINAL_ID"].to_numpy()
    features |= _terminal_features(terminals, times, fraud, windows, delay_days)
    names = feature_columns(windows)[1:]
    kept = transactions.drop(columns=[c for c in names if c in transactions.columns])
    added = pd.DataFrame({name: features[name] for name in names}, index=transactions.index)
    return pd.concat([kept, added], axis=1)
