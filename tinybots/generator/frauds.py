"""The handbook's three fraud scenarios, applied to a table in TRANSACTION_ID order.

Facts (Le Borgne et al., 2022, Chapter 3, "Transaction data simulator", the fraud scenarios),
applied in the order S1, S2, S3, each overwriting TX_FRAUD_SCENARIO:

1. amount (as drawn, before any x5) > 220 -> fraud, scenario 1;
2. for each day d < max_day, 2 terminals drawn by ``RandomState(d)`` without replacement
   (what pandas ``Series.sample(n=2, random_state=d)`` does) are compromised on days [d, d+28);
3. for each day d < max_day, 3 customers drawn the same way; of their transactions on days
   [d, d+14), taken in TRANSACTION_ID order, ``random.Random(d).sample`` picks floor(n/3), whose
   amount is multiplied by 5 (twice if picked on two days) -> fraud, scenario 3.

``max_day`` is the largest TX_TIME_DAYS present (the handbook loops over
``range(TX_TIME_DAYS.max())``). The functions work on plain arrays so that the whole-table
path and the streaming path (:mod:`tinybots.generator.daily`) share them.

Our one departure: with fewer than 2 terminals or 3 customers the handbook's ``sample`` call
fails; here all of them are drawn instead (never the case for real configurations).
"""

from __future__ import annotations

import random

import numpy as np

S1_AMOUNT_THRESHOLD = 220.0
"""Scenario 1: amounts strictly above this are fraudulent."""
S2_TERMINALS_PER_DAY = 2
S2_WINDOW_DAYS = 28
"""Scenario 2: a terminal drawn on day d is compromised on days [d, d + 28)."""
S3_CUSTOMERS_PER_DAY = 3
S3_WINDOW_DAYS = 14
"""Scenario 3: a card drawn on day d is compromised on days [d, d + 14)."""
S3_AMOUNT_FACTOR = 5


def compromised_terminals(day: int, n_terminals: int) -> np.ndarray:
    """Terminals compromised on ``day``: 2 distinct ids drawn by ``RandomState(day)``.

    Examples
    --------
    >>> len(set(compromised_terminals(0, 10)))
    2
    """
    rs = np.random.RandomState(day)
    return rs.choice(n_terminals, size=min(S2_TERMINALS_PER_DAY, n_terminals), replace=False)


def compromised_customers(day: int, n_customers: int) -> np.ndarray:
    """Cards compromised on ``day``: 3 distinct customer ids drawn by ``RandomState(day)``."""
    rs = np.random.RandomState(day)
    return rs.choice(n_customers, size=min(S3_CUSTOMERS_PER_DAY, n_customers), replace=False)


def s2_keys(max_day: int, n_terminals: int) -> np.ndarray:
    """Encoded (terminal, day) pairs under scenario 2: ``terminal * stride + day``.

    ``stride = max_day + S2_WINDOW_DAYS`` (exceeds every day a window can cover). Sorted, unique,
    int64; use with :func:`s2_mask`.
    """
    stride = max_day + S2_WINDOW_DAYS
    keys = [
        t * stride + np.arange(d, d + S2_WINDOW_DAYS)
        for d in range(max_day)
        for t in compromised_terminals(d, n_terminals).tolist()
    ]
    return np.unique(np.concatenate(keys)) if keys else np.empty(0, dtype=np.int64)


def s2_mask(
    terminal_ids: np.ndarray, days: np.ndarray, keys: np.ndarray, max_day: int
) -> np.ndarray:
    """Boolean mask of transactions on a compromised terminal during its window."""
    stride = max_day + S2_WINDOW_DAYS
    return np.isin(np.asarray(terminal_ids, np.int64) * stride + days, keys)


def apply_s1_s2(
    amounts: np.ndarray, terminal_ids: np.ndarray, days: np.ndarray, keys: np.ndarray, max_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """TX_FRAUD and TX_FRAUD_SCENARIO after scenarios 1 and 2 (new int64 arrays)."""
    scenario = np.where(np.asarray(amounts) > S1_AMOUNT_THRESHOLD, 1, 0).astype(np.int64)
    scenario[s2_mask(terminal_ids, days, keys, max_day)] = 2
    return (scenario > 0).astype(np.int64), scenario


def s3_picks(day: int, candidates: np.ndarray) -> np.ndarray:
    """Rows picked on ``day`` among the compromised cards' rows ``candidates``.

    Parameters
    ----------
    day : int
        Seed of ``random.Random`` (the handbook's ``random.seed(day)``).
    candidates : numpy.ndarray
        Row positions of the 3 cards' transactions on days [day, day + 14), in TRANSACTION_ID
        order.

    Returns
    -------
    numpy.ndarray
        ``floor(len(candidates) / 3)`` distinct positions, in ``random.sample`` order.
    """
    pool = candidates.tolist()
    return np.asarray(random.Random(day).sample(pool, k=len(pool) // 3), dtype=np.int64)


def apply_s3(
    amounts: np.ndarray, fraud: np.ndarray, scenario: np.ndarray, picked: np.ndarray
) -> None:
    """Mark ``picked`` rows as scenario-3 frauds and multiply their amount by 5, in place."""
    amounts[picked] = amounts[picked] * S3_AMOUNT_FACTOR
    fraud[picked] = 1
    scenario[picked] = 3


def add_frauds(
    customer_ids: np.ndarray,
    terminal_ids: np.ndarray,
    days: np.ndarray,
    amounts: np.ndarray,
    n_customers: int,
    n_terminals: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the three scenarios to a whole table in TRANSACTION_ID order.

    Parameters
    ----------
    customer_ids, terminal_ids, days : numpy.ndarray of int, shape (n,)
        CUSTOMER_ID, TERMINAL_ID, TX_TIME_DAYS, rows in TRANSACTION_ID order.
    amounts : numpy.ndarray of float64, shape (n,)
        TX_AMOUNT as drawn (rounded to cents), not modified.
    n_customers, n_terminals : int
        Population sizes the compromised cards and terminals are drawn from.

    Returns
    -------
    (amounts, fraud, scenario) : three numpy.ndarray, shape (n,)
        Final TX_AMOUNT (float64), TX_FRAUD and TX_FRAUD_SCENARIO (int64).
    """
    amounts = np.array(amounts, dtype=np.float64)
    days = np.asarray(days, dtype=np.int64)
    max_day = int(days.max()) if len(days) else 0
    keys = s2_keys(max_day, n_terminals)
    fraud, scenario = apply_s1_s2(amounts, terminal_ids, days, keys, max_day)
    by_customer = np.argsort(customer_ids, kind="stable")  # rows grouped by card, in id order
    bounds = np.searchsorted(customer_ids[by_customer], np.arange(n_customers + 1))
    for day in range(max_day):
        cards = compromised_customers(day, n_customers)
        rows = np.concatenate([by_customer[bounds[c] : bounds[c + 1]] for c in cards])
        rows = np.sort(rows[(days[rows] >= day) & (days[rows] < day + S3_WINDOW_DAYS)])
        apply_s3(amounts, fraud, scenario, s3_picks(day, rows))
    return amounts, fraud, scenario
