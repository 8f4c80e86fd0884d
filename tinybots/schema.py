"""Column names shared by every table in tinybots (the handbook's layout).

The raw layout is the one of the Fraud Detection Handbook's simulator
(Le Borgne et al., 2022, Chapter 3, "Transaction data simulator"); the 15 model inputs are
the ones of its "Baseline feature transformation", in the order its models consume them.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

RAW_COLUMNS: Final[tuple[str, ...]] = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_TIME_SECONDS",
    "TX_TIME_DAYS",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
)
"""Columns of a raw transaction table, in the handbook's order."""

WINDOWS_DAYS: Final[tuple[int, ...]] = (1, 7, 30)
"""Window lengths (days) of the customer and terminal features."""

DELAY_DAYS: Final[int] = 7
"""Label delay (days) used by the terminal-risk features."""

FEATURE_COLUMNS: Final[tuple[str, ...]] = (
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(
        name
        for w in WINDOWS_DAYS
        for name in (f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW", f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW")
    ),
    *(
        name
        for w in WINDOWS_DAYS
        for name in (f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW", f"TERMINAL_ID_RISK_{w}DAY_WINDOW")
    ),
)
"""The 15 model inputs, in the order the handbook's models consume them."""

TRANSFORMED_COLUMNS: Final[tuple[str, ...]] = RAW_COLUMNS + FEATURE_COLUMNS[1:]
"""Columns of a transformed table: the raw ones followed by the 14 new features."""

__all__ = ["DELAY_DAYS", "FEATURE_COLUMNS", "RAW_COLUMNS", "TRANSFORMED_COLUMNS", "WINDOWS_DAYS"]


def event_schema_errors(
    amount: np.ndarray,
    customer_id: np.ndarray,
    terminal_id: np.ndarray,
    event_time_s: np.ndarray | None = None,
) -> np.ndarray:
    """The event schema's message for each row (None = valid), as the transaction-ingestor
    checks it: ``TX_AMOUNT`` finite and >= 0; ``CUSTOMER_ID``, ``TERMINAL_ID`` >= 0; the event
    time (seconds, when given) finite. A row breaking several rules gets the last one's.

    Returns
    -------
    numpy.ndarray
        Object array of shape ``(n,)``: a message such as
        ``"schema: TX_AMOUNT must be finite and >= 0"``, or None.

    >>> event_schema_errors(np.array([1.0, -2.0]), np.array([0, 0]), np.array([0, 0])).tolist()
    [None, 'schema: TX_AMOUNT must be finite and >= 0']
    """
    amount = np.asarray(amount, dtype=np.float64)
    out = np.full(len(amount), None, dtype=object)
    out[~(np.isfinite(amount) & (amount >= 0))] = "schema: TX_AMOUNT must be finite and >= 0"
    out[np.asarray(customer_id) < 0] = "schema: CUSTOMER_ID must be >= 0"
    out[np.asarray(terminal_id) < 0] = "schema: TERMINAL_ID must be >= 0"
    if event_time_s is not None:
        out[~np.isfinite(np.asarray(event_time_s, dtype=np.float64))] = (
            "schema: TX_DATETIME must be a valid time"
        )
    return out


def event_schema_violations(frame: pd.DataFrame) -> np.ndarray:
    """Rows of a transaction table whose values break the event schema
    (:func:`event_schema_errors`); only a table read with ``rows="keep"`` holds such rows.

    Returns
    -------
    numpy.ndarray
        Boolean mask of shape ``(len(frame),)``, True for a violating row.

    >>> t = pd.DataFrame({"CUSTOMER_ID": [0, -1, 2], "TERMINAL_ID": [0, 1, 2],
    ...                   "TX_AMOUNT": [1.0, 2.0, float("nan")]})
    >>> event_schema_violations(t).tolist()
    [False, True, True]
    """
    errors = event_schema_errors(
        frame["TX_AMOUNT"].to_numpy(), frame["CUSTOMER_ID"].to_numpy(),
        frame["TERMINAL_ID"].to_numpy(),
    )
    return np.array([e is not None for e in errors], dtype=bool)
