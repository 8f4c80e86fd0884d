"""Column names shared by every table in tinybots (the handbook's layout).

The raw layout is the one of the Fraud Detection Handbook's simulator
(Le Borgne et al., 2022, Chapter 3, "Transaction data simulator"); the 15 model inputs are
the ones of its "Baseline feature transformation", in the order its models consume them.
"""

from __future__ import annotations

from typing import Final

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
