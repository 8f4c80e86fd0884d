"""A change of the handbook's compromise rates (the ``compromise_rate`` drift).

The handbook (Le Borgne et al., 2022, Chapter 3, "Transaction data simulator") compromises
2 terminals a day for 28 days (scenario 2) and 3 cards a day for 14 days, a third of whose
transactions are multiplied by 5 (scenario 3); :mod:`tinybots.generator.frauds` has the exact
rules. :class:`CompromiseState` rebuilds those compromises from the undrifted table, lets a
drift add compromises drawn from a ``numpy.random.Generator`` with the same rules or revert a
share of the handbook's ones, and relabels the rows whose compromises changed:

- scenario 3 if a remaining pick covers the row (amount × 5 per pick), else
- scenario 2 if a remaining compromised terminal's window covers it, else
- scenario 1 if its drawn amount exceeds 220, else genuine.

The compromise drift acts by whole days: from the first day whose midnight is at or after the
onset (``ceil(onset_day)``), for days before the table's last day as in the handbook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tinybots.generator.frauds import (
    S1_AMOUNT_THRESHOLD,
    S2_TERMINALS_PER_DAY,
    S2_WINDOW_DAYS,
    S3_AMOUNT_FACTOR,
    S3_CUSTOMERS_PER_DAY,
    S3_WINDOW_DAYS,
    compromised_customers,
    compromised_terminals,
    s3_picks,
)

__all__ = ["CompromiseState", "relabel"]


@dataclass
class CompromiseState:
    """The compromises of a table: scenario-2 terminal entries and scenario-3 picks.

    Build it with :meth:`from_table` on rows in TRANSACTION_ID order (the undrifted bank).
    Arrays: ``s2_term``, ``s2_day``, ``s2_on`` (terminal, draw day, active), ``s2_handbook``;
    ``s3_row``, ``s3_card``, ``s3_day``, ``s3_on`` (picked row, card, draw day, active),
    ``s3_handbook``.
    """

    max_day: int
    n_customers: int
    n_terminals: int
    s2_term: np.ndarray
    s2_day: np.ndarray
    s2_on: np.ndarray
    s2_handbook: np.ndarray
    s3_row: np.ndarray
    s3_card: np.ndarray
    s3_day: np.ndarray
    s3_on: np.ndarray
    s3_handbook: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_table(
        cls, cust: np.ndarray, term: np.ndarray, days: np.ndarray, n_customers: int,
        n_terminals: int,
    ) -> CompromiseState:
        """The handbook's compromises of a table (rows in TRANSACTION_ID order)."""
        max_day = int(days.max()) if len(days) else 0
        t2 = [compromised_terminals(d, n_terminals) for d in range(max_day)]
        s2_term = np.concatenate(t2).astype(np.int64) if t2 else np.empty(0, np.int64)
        s2_day = np.repeat(np.arange(max_day), [len(t) for t in t2]).astype(np.int64)
        by_card = np.argsort(cust, kind="stable")
        bounds = np.searchsorted(cust[by_card], np.arange(n_customers + 1))
        rows3, days3 = [], []
        for d in range(max_day):
            rows = np.concatenate(
                [by_card[bounds[c]: bounds[c + 1]] for c in compromised_customers(d, n_customers)]
            )
            rows = np.sort(rows[(days[rows] >= d) & (days[rows] < d + S3_WINDOW_DAYS)])
            picks = s3_picks(d, rows)
            rows3.append(picks)
            days3.append(np.full(len(picks), d, dtype=np.int64))
        s3_row = np.concatenate(rows3) if rows3 else np.empty(0, np.int64)
        s3_day = np.concatenate(days3) if days3 else np.empty(0, np.int64)
        n2, n3 = len(s2_term), len(s3_row)
        return cls(max_day, n_customers, n_terminals, s2_term, s2_day, np.ones(n2, bool),
                   np.ones(n2, bool), s3_row, cust[s3_row].astype(np.int64), s3_day,
                   np.ones(n3, bool), np.ones(n3, bool))

    def s2_keys(self) -> np.ndarray:
        """Encoded (terminal, day) pairs of the active scenario-2 windows (sorted, unique)."""
        stride = self.max_day + S2_WINDOW_DAYS
        t, d = self.s2_term[self.s2_on], self.s2_day[self.s2_on]
        keys = (t[:, None] * stride + d[:, None] + np.arange(S2_WINDOW_DAYS)).ravel()
        return np.unique(keys)

    def s2_covered(self, term: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Rows on a terminal during an active scenario-2 window."""
        stride = self.max_day + S2_WINDOW_DAYS
        return np.isin(np.asarray(term, np.int64) * stride + days, self.s2_keys())

    def s3_counts(self, n_rows: int) -> np.ndarray:
        """Active scenario-3 picks per row (a row picked on two days counts 2)."""
        return np.bincount(self.s3_row[self.s3_on], minlength=n_rows)

    def change(self, first_day: int, terminals_factor: float, customers_factor: float,
               cust: np.ndarray, days: np.ndarray, rng: np.random.Generator) -> None:
        """Scale the compromises drawn on days ``first_day`` .. ``max_day − 1``.

        A factor > 1 adds (factor − 1) × the handbook's number per day (the fraction by a
        Bernoulli draw), drawn with ``rng`` among the terminals / cards not compromised by the
        handbook that day; an added card's transactions of its 14 days get a third picked.
        A factor < 1 reverts that share (rounded) of the handbook's compromises of those days.
        """
        hb_days = range(max(0, first_day), self.max_day)
        self.counts = {"terminals_added": 0, "terminals_reverted": 0,
                       "customers_added": 0, "customers_reverted": 0}
        if terminals_factor < 1.0:
            self.counts["terminals_reverted"] = _revert(
                self.s2_on, self.s2_handbook & (self.s2_day >= first_day), terminals_factor, rng)
        if customers_factor < 1.0:
            cards = self.s3_handbook & (self.s3_day >= first_day)
            drawn = [(c, d) for d in hb_days for c in compromised_customers(d, self.n_customers)]
            pairs = np.array(drawn, dtype=np.int64).reshape(-1, 2).T
            k = round((1.0 - customers_factor) * pairs.shape[1])
            gone = pairs[:, rng.choice(pairs.shape[1], size=k, replace=False)]
            hit = (self.s3_card[:, None] == gone[0]) & (self.s3_day[:, None] == gone[1])
            self.s3_on[cards & hit.any(axis=1)] = False
            self.counts["customers_reverted"] = k
        by_card = np.argsort(cust, kind="stable")
        bounds = np.searchsorted(cust[by_card], np.arange(self.n_customers + 1))
        for d in hb_days:
            if terminals_factor > 1.0:
                self._add_terminals(d, _extra(S2_TERMINALS_PER_DAY, terminals_factor, rng), rng)
            if customers_factor > 1.0:
                n = _extra(S3_CUSTOMERS_PER_DAY, customers_factor, rng)
                self._add_cards(d, n, cust, by_card, bounds, days, rng)

    def _add_terminals(self, day: int, n: int, rng: np.random.Generator) -> None:
        hb = compromised_terminals(day, self.n_terminals)
        pool = np.setdiff1d(np.arange(self.n_terminals), hb)
        new = rng.choice(pool, size=min(n, len(pool)), replace=False).astype(np.int64)
        self.s2_term = np.concatenate([self.s2_term, new])
        self.s2_day = np.concatenate([self.s2_day, np.full(len(new), day, np.int64)])
        self.s2_on = np.concatenate([self.s2_on, np.ones(len(new), bool)])
        self.s2_handbook = np.concatenate([self.s2_handbook, np.zeros(len(new), bool)])
        self.counts["terminals_added"] += len(new)

    def _add_cards(self, day: int, n: int, cust: np.ndarray, by_card: np.ndarray,
                   bounds: np.ndarray, days: np.ndarray, rng: np.random.Generator) -> None:
        pool = np.setdiff1d(np.arange(self.n_customers),
                            compromised_customers(day, self.n_customers))
        cards = rng.choice(pool, size=min(n, len(pool)), replace=False)
        rows = np.sort(np.concatenate(
            [by_card[bounds[c]: bounds[c + 1]] for c in cards] + [np.empty(0, np.int64)]))
        rows = rows[(days[rows] >= day) & (days[rows] < day + S3_WINDOW_DAYS)]
        picks = np.sort(rng.choice(rows, size=len(rows) // 3, replace=False))
        self.s3_row = np.concatenate([self.s3_row, picks])
        self.s3_card = np.concatenate([self.s3_card, cust[picks].astype(np.int64)])
        self.s3_day = np.concatenate([self.s3_day, np.full(len(picks), day, np.int64)])
        self.s3_on = np.concatenate([self.s3_on, np.ones(len(picks), bool)])
        self.s3_handbook = np.concatenate([self.s3_handbook, np.zeros(len(picks), bool)])
        self.counts["customers_added"] += len(cards)


def _extra(per_day: int, factor: float, rng: np.random.Generator) -> int:
    """(factor − 1) × per_day, the fraction by a Bernoulli draw."""
    x = (factor - 1.0) * per_day
    return int(math.floor(x)) + int(rng.uniform() < x - math.floor(x))


def _revert(on: np.ndarray, eligible: np.ndarray, factor: float,
            rng: np.random.Generator) -> int:
    """Switch off a share 1 − factor (rounded) of the ``eligible`` entries, in place."""
    idx = np.flatnonzero(eligible)
    k = round((1.0 - factor) * len(idx))
    on[rng.choice(idx, size=k, replace=False)] = False
    return k


def relabel(state: CompromiseState, hb_counts: np.ndarray, hb_s2: np.ndarray,
            term: np.ndarray, days: np.ndarray, amount: np.ndarray, fraud: np.ndarray,
            scenario: np.ndarray) -> int:
    """Relabel, in place, the rows whose picks or terminal windows changed; their number.

    ``hb_counts`` and ``hb_s2`` are the handbook's picks per row and window coverage (from the
    state before the change). Amounts are × 5 per added pick and ÷ 5 (to cents) per removed one.
    """
    counts = state.s3_counts(len(amount))
    s2 = state.s2_covered(term, days)
    rows = np.flatnonzero((counts != hb_counts) | (s2 != hb_s2))
    diff = counts[rows] - hb_counts[rows]
    up, down = diff > 0, diff < 0
    amount[rows[up]] = amount[rows[up]] * float(S3_AMOUNT_FACTOR) ** diff[up]
    amount[rows[down]] = np.round(amount[rows[down]] / float(S3_AMOUNT_FACTOR) ** -diff[down], 2)
    new = np.where(counts[rows] > 0, 3,
                   np.where(s2[rows], 2, np.where(amount[rows] > S1_AMOUNT_THRESHOLD, 1, 0)))
    scenario[rows] = new
    fraud[rows] = (new > 0).astype(fraud.dtype)
    return len(rows)
