"""Input checks shared by the offline and online feature code.

Every failure raises :class:`tinybots.errors.InputError` whose message names the field and
what is allowed, so a caller can fix the input without reading this code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tinybots.errors import InputError

REQUIRED_COLUMNS: tuple[str, ...] = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_FRAUD",
)
"""Columns :func:`compute_features` needs (a subset of ``tinybots.schema.RAW_COLUMNS``)."""

NS_PER_S = 1_000_000_000
S_PER_DAY = 86_400


def check_windows(windows_days: Sequence[int], delay_days: int) -> tuple[int, ...]:
    """Validate the window lengths and the label delay; return the windows as a tuple.

    Raises
    ------
    InputError
        ``windows_days`` empty, not integers, non-positive or repeated; ``delay_days`` not an
        integer >= 1 (a label is never known when its own transaction is scored).

    >>> check_windows([1, 7], 7)
    (1, 7)
    """
    if isinstance(delay_days, bool) or not isinstance(delay_days, int | np.integer):
        raise InputError(f"delay_days must be an integer >= 1, got {delay_days!r}")
    if delay_days < 1:
        raise InputError(f"delay_days must be an integer >= 1, got {delay_days}")
    windows = tuple(windows_days)
    if not windows:
        raise InputError("windows_days must hold at least one window length (days)")
    for w in windows:
        if isinstance(w, bool) or not isinstance(w, int | np.integer) or w <= 0:
            raise InputError(f"windows_days must be positive integers (days), got {w!r}")
    if len(set(windows)) != len(windows):
        raise InputError(f"windows_days must not repeat a window, got {windows}")
    return tuple(int(w) for w in windows)


def _require_integer(frame: pd.DataFrame, column: str) -> None:
    dtype = frame[column].dtype
    if not pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise InputError(f"column {column} must have an integer dtype, got {dtype}")
    if frame[column].isna().any():
        raise InputError(f"column {column} must not hold missing values")


def check_transactions(
    transactions: object, required: Sequence[str] = REQUIRED_COLUMNS
) -> pd.DataFrame:
    """Validate a raw transaction table and return it (unchanged, not copied).

    Only the columns in ``required`` (default :data:`REQUIRED_COLUMNS`) are checked.

    Raises
    ------
    InputError
        Not a DataFrame; empty; a required column missing; TX_DATETIME not a
        naive datetime64 column or holding NaT; CUSTOMER_ID / TERMINAL_ID not integers;
        TX_AMOUNT not numeric or not finite; TX_FRAUD not integer/bool with values in {0, 1}.
    """
    if not isinstance(transactions, pd.DataFrame):
        kind = type(transactions).__name__
        raise InputError(f"transactions must be a pandas DataFrame, got {kind}")
    missing = [c for c in required if c not in transactions.columns]
    if missing:
        raise InputError(f"transactions lacks required column(s) {missing}; needs {list(required)}")
    if len(transactions) == 0:
        raise InputError("transactions is empty: need at least one row")
    _check_columns(transactions, required)
    return transactions


def _check_columns(transactions: pd.DataFrame, required: Sequence[str]) -> None:
    """Dtype and value checks of the required columns (see :func:`check_transactions`)."""
    if "TX_DATETIME" in required:
        _check_datetime(transactions)
    for column in ("CUSTOMER_ID", "TERMINAL_ID"):
        if column in required:
            _require_integer(transactions, column)
    if "TX_AMOUNT" in required:
        _check_amount(transactions)
    if "TX_FRAUD" in required:
        _check_fraud(transactions)


def _check_datetime(transactions: pd.DataFrame) -> None:
    when = transactions["TX_DATETIME"].dtype
    if not pd.api.types.is_datetime64_dtype(when) or isinstance(when, pd.DatetimeTZDtype):
        raise InputError(f"column TX_DATETIME must be naive datetime64 (no time zone), got {when}")
    if transactions["TX_DATETIME"].isna().any():
        raise InputError("column TX_DATETIME must not hold missing times (NaT)")


def _check_amount(transactions: pd.DataFrame) -> None:
    amount = transactions["TX_AMOUNT"]
    if not pd.api.types.is_numeric_dtype(amount.dtype) or pd.api.types.is_bool_dtype(amount.dtype):
        raise InputError(f"column TX_AMOUNT must be numeric, got {amount.dtype}")
    if not np.isfinite(amount.to_numpy(dtype=np.float64)).all():
        raise InputError("column TX_AMOUNT must be finite (no NaN or inf)")


def _check_fraud(transactions: pd.DataFrame) -> None:
    fraud = transactions["TX_FRAUD"]
    if not (pd.api.types.is_integer_dtype(fraud.dtype) or pd.api.types.is_bool_dtype(fraud.dtype)):
        raise InputError(f"column TX_FRAUD must be integer 0/1 or bool, got {fraud.dtype}")
    if not fraud.isin([0, 1]).all():
        raise InputError("column TX_FRAUD must hold only 0 and 1")


def event_time_ns(transactions: pd.DataFrame) -> np.ndarray:
    """TX_DATETIME as int64 nanoseconds since the Unix epoch (naive), shape (n,)."""
    return transactions["TX_DATETIME"].to_numpy().astype("datetime64[ns]").view(np.int64)


def calendar_flags(time_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weekend and night flags (int64 0/1) from seconds since the Unix epoch, shape (n,).

    Weekend: Saturday or Sunday (1970-01-01, day 0, was a Thursday, so the weekday with
    Monday = 0 is ``(day + 3) % 7``). Night: hour <= 6, i.e. 00:00:00-06:59:59, as in the
    handbook's published data (Le Borgne et al., 2022, ch. 3, "Baseline feature transformation").

    >>> calendar_flags(np.array([0, 2 * 86_400 + 7 * 3_600]))  # Thu 00:00, Sat 07:00
    (array([0, 1]), array([1, 0]))
    """
    day, second = np.divmod(time_s, S_PER_DAY)
    weekend = ((day + 3) % 7 >= 5).astype(np.int64)
    night = (second < 7 * 3_600).astype(np.int64)
    return weekend, night


def feature_columns(windows_days: Sequence[int] = (1, 7, 30)) -> tuple[str, ...]:
    """Names of the model inputs for the given windows, in model order (TX_AMOUNT first).

    With the default windows this equals ``tinybots.schema.FEATURE_COLUMNS``.

    >>> feature_columns((2,))[3:]
    ('CUSTOMER_ID_NB_TX_2DAY_WINDOW', 'CUSTOMER_ID_AVG_AMOUNT_2DAY_WINDOW', \
'TERMINAL_ID_NB_TX_2DAY_WINDOW', 'TERMINAL_ID_RISK_2DAY_WINDOW')
    """
    customer = [
        name
        for w in windows_days
        for name in (f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW", f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW")
    ]
    terminal = [
        name
        for w in windows_days
        for name in (f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW", f"TERMINAL_ID_RISK_{w}DAY_WINDOW")
    ]
    return ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT", *customer, *terminal)
