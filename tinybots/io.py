"""Reading and writing transaction tables (CSV, gzip CSV, Parquet).

Two layouts are understood, both from the Fraud Detection Handbook (Le Borgne et al., 2022):
the *raw* layout of its simulator (``tinybots.schema.RAW_COLUMNS``) and the *transformed* layout
(``tinybots.schema.TRANSFORMED_COLUMNS``: raw + the 14 baseline features). Tables are validated
(columns, dtypes, missing values) so that a bad file fails here with a message naming the field,
not deep inside model training.

A table read for *replay* into the simulated pipeline may keep rows whose values break the event
schema (``rows="keep"``: a negative or missing amount, a negative card or terminal id), as a real
stream carries bad events; the transaction-ingestor dead-letters them with the reason
(``docs/architecture.md``, "Conservation and outcomes").
:func:`tinybots.schema.event_schema_violations` marks those rows. Structural errors (a missing
column, an unparseable value, a label other than 0/1) are refused in every mode.
"""

from __future__ import annotations

import lzma
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from tinybots.errors import InputError
from tinybots.paths import check_creatable, publish
from tinybots.schema import FEATURE_COLUMNS, RAW_COLUMNS, TRANSFORMED_COLUMNS

INT_COLUMNS: tuple[str, ...] = (
    "TRANSACTION_ID",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_TIME_SECONDS",
    "TX_TIME_DAYS",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
)
"""Columns stored as int64 (when present)."""

DATETIME_COLUMN = "TX_DATETIME"
_FEATURE_ONLY = tuple(c for c in FEATURE_COLUMNS if c not in RAW_COLUMNS)
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")

Extra = Literal["reject", "allow"]
Rows = Literal["reject", "keep"]

SCHEMA_VALUE_COLUMNS: tuple[str, ...] = ("CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT")
"""Columns whose bad values (negative; for ``TX_AMOUNT`` also missing or infinite) a replayed
table may carry with ``rows="keep"``: the event schema's checks, not the table's structure."""


def read_transactions(
    path: str | Path, *, extra: Extra = "reject", rows: Rows = "reject"
) -> pd.DataFrame:
    """Read and validate a transaction table in the raw or transformed layout.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv`` (optionally ``.gz``/``.bz2``/``.xz``/``.zip`` compressed) or ``.parquet``/``.pq``
        file with a header row.
    extra : {"reject", "allow"}
        What to do with columns outside the raw/transformed layout: reject them (default) or
        keep them after the layout's columns.
    rows : {"reject", "keep"}
        What to do with rows whose values break the event schema (a ``TX_AMOUNT`` that is
        negative, missing or infinite; a negative ``CUSTOMER_ID`` or ``TERMINAL_ID``; see
        :func:`tinybots.schema.event_schema_violations`): reject the table (default; what
        training needs) or keep them for a replay, where the transaction-ingestor dead-letters
        each with its reason. Structural errors are refused either way.

    Returns
    -------
    pandas.DataFrame
        One row per transaction, sorted by ``TRANSACTION_ID`` with a fresh RangeIndex; columns
        in layout order; ``TX_DATETIME`` datetime64 (naive), id/time/label columns int64, amounts
        and features float64.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    InputError
        On an unknown file extension, bytes that are not the format the extension names (e.g. a
        plain-text or random file named ``.csv.gz``; the message names the file), an empty table,
        a missing column (the message names it and lists the required ones), an unexpected
        column, a non-numeric or missing value, a label ``TX_FRAUD`` other than 0 or 1, an
        unparseable ``TX_DATETIME``, or (unless ``rows="keep"``) a row that breaks the event
        schema.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"transactions file not found: {path}")
    name = path.name.lower()
    if not name.endswith(_PARQUET_SUFFIXES + _CSV_SUFFIXES):
        raise InputError(_suffix_message(path))
    try:
        frame = pd.read_parquet(path) if name.endswith(_PARQUET_SUFFIXES) else pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"transactions file {path} is empty (no header, no rows)") from exc
    except (PermissionError, IsADirectoryError):
        raise  # the message names the file
    except _UNREADABLE as exc:
        raise InputError(_unreadable_message(path, exc)) from exc
    return validate_transactions(frame, extra=extra, rows=rows, source=str(path))


_UNREADABLE = (OSError, ValueError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)
"""What pandas/pyarrow raise on bytes that are not the format the extension names."""


def _unreadable_message(path: Path, exc: BaseException) -> str:
    """One line naming the file, the format its extension promises and the reader's complaint.

    >>> _unreadable_message(Path("t.csv.gz"), OSError("Not a gzipped file"))
    'transactions file t.csv.gz is not a readable gzip-compressed CSV file (Not a gzipped file)'
    """
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        kind = "Parquet"
    elif name.endswith(".csv"):
        kind = "CSV (UTF-8 text)"
    else:
        kind = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}[
            name[name.rfind("."):]] + "-compressed CSV"
    reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    return f"transactions file {path} is not a readable {kind} file ({reason})"


def validate_transactions(
    frame: pd.DataFrame, *, extra: Extra = "reject", rows: Rows = "reject", source: str = "table"
) -> pd.DataFrame:
    """Validate a transaction frame and return a normalised copy (see :func:`read_transactions`).

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw or transformed layout. Not modified.
    extra : {"reject", "allow"}
        Reject or keep columns outside the layout.
    rows : {"reject", "keep"}
        Reject the table, or keep rows whose values break the event schema (see
        :func:`read_transactions`).
    source : str
        Name used in error messages.

    Raises
    ------
    InputError
        As :func:`read_transactions`.
    """
    if extra not in ("reject", "allow"):
        raise InputError(f"extra must be 'reject' or 'allow', got {extra!r}")
    if rows not in ("reject", "keep"):
        raise InputError(f"rows must be 'reject' or 'keep', got {rows!r}")
    if len(frame) == 0:
        raise InputError(f"{source} has no rows: a transaction table must not be empty")
    layout = TRANSFORMED_COLUMNS if any(c in frame.columns for c in _FEATURE_ONLY) else RAW_COLUMNS
    missing = [c for c in layout if c not in frame.columns]
    if missing:
        kind = "transformed" if layout is TRANSFORMED_COLUMNS else "raw"
        need = "" if len(missing) == len(layout) else f"; required columns: {list(layout)}"
        raise InputError(
            f"{source} is missing column(s) {missing} of the {kind} layout"
            f"{need}{_delimiter_hint(frame)}"
        )
    unknown = [c for c in frame.columns if c not in TRANSFORMED_COLUMNS]
    if unknown and extra == "reject":
        raise InputError(
            f"{source} has column(s) {unknown} outside the raw/transformed layout; "
            "drop them or pass extra='allow'"
        )
    out = frame.loc[:, list(layout) + unknown].copy()
    for column in layout:
        out[column] = _coerce(out[column], column, source,
                              missing_ok=rows == "keep" and column == "TX_AMOUNT")
    _check_values(out, source, keep_schema_values=rows == "keep")
    out = out.sort_values("TRANSACTION_ID", kind="mergesort").reset_index(drop=True)
    return out


def _check_values(frame: pd.DataFrame, source: str, *, keep_schema_values: bool = False) -> None:
    """Unique ids, non-negative finite amounts, ids and times, TX_TIME_DAYS = TX_TIME_SECONDS //
    86400; with ``keep_schema_values`` the :data:`SCHEMA_VALUE_COLUMNS` are not checked."""
    ids = frame["TRANSACTION_ID"]
    dup = ids.duplicated()
    if dup.any():
        raise InputError(
            f"{source}: column TRANSACTION_ID has duplicate values "
            f"(first: {ids[dup].iloc[0]} at row {int(dup.to_numpy().argmax())})"
        )
    for column in ("TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT",
                   "TX_TIME_SECONDS", "TX_TIME_DAYS"):
        if keep_schema_values and column in SCHEMA_VALUE_COLUMNS:
            continue
        negative = frame[column].to_numpy() < 0
        if column == "TX_AMOUNT":
            negative |= ~np.isfinite(frame[column].to_numpy())
        if negative.any():
            row = int(negative.argmax())
            bound = "finite and >= 0" if column == "TX_AMOUNT" else ">= 0"
            raise InputError(f"{source}: column {column} must be {bound}, found "
                             f"{frame[column].iloc[row]} at row {row}")
    for column in ("TX_FRAUD", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"):
        if column in frame.columns:
            bad = ~frame[column].isin((0, 1)).to_numpy()
            if bad.any():
                row = int(bad.argmax())
                raise InputError(f"{source}: column {column} must be 0 or 1, found "
                                 f"{frame[column].iloc[row]} at row {row}")
    wrong = (frame["TX_TIME_SECONDS"] // 86_400 != frame["TX_TIME_DAYS"]).to_numpy()
    if wrong.any():
        row = int(wrong.argmax())
        raise InputError(
            f"{source}: column TX_TIME_DAYS must equal TX_TIME_SECONDS // 86400, found "
            f"{frame['TX_TIME_DAYS'].iloc[row]} for {frame['TX_TIME_SECONDS'].iloc[row]} s "
            f"at row {row}"
        )


def _delimiter_hint(frame: pd.DataFrame) -> str:
    """A hint when the whole header landed in one column (a non-comma delimiter)."""
    if len(frame.columns) != 1:
        return ""
    header = str(frame.columns[0])
    for sep in (";", "\t", "|"):
        if sep in header:
            return f"; the header looks split by the delimiter {sep!r}; use commas"
    return ""


def write_transactions(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a transaction table; the format follows the extension.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any transaction frame (written as is, without the index).
    path : str or pathlib.Path
        ``.csv`` / ``.csv.gz`` (and other pandas compressions) or ``.parquet`` / ``.pq``. Parent
        folders are created. CSV datetimes are written as ``YYYY-MM-DD HH:MM:SS``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    InputError
        On an unknown extension, a path that is a folder, or a parent that is a file.

    Notes
    -----
    The table is written to a temporary sibling (``.<name>-*.tmp``) and renamed onto ``path``
    (atomic: an existing file is replaced whole), so a failure or an interruption never leaves
    a half-written file at ``path``, and the temporary file is removed.
    """
    path = check_output_path(path)
    name = path.name.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.close(fd)
        if name.endswith(_PARQUET_SUFFIXES):
            frame.to_parquet(tmp, index=False)
        else:
            compression = "infer" if name.endswith(".csv") else _compression(name)
            frame.to_csv(tmp, index=False, date_format="%Y-%m-%d %H:%M:%S",
                         compression=compression)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_output_path(path: str | Path, field: str = "path") -> Path:
    """Return ``path`` as a Path if a table can be written there (checked before long work).

    Parameters
    ----------
    path : str or pathlib.Path
        Output file; a supported extension, not an existing folder, and every existing
        ancestor a folder (missing ones are created on write).
    field : str
        Name used in error messages, e.g. ``--out``.

    Raises
    ------
    InputError
        Unsupported extension, ``path`` is a folder, an ancestor is a file, or nothing can be
        written in its nearest existing folder (see :func:`check_creatable`).
    """
    try:
        path = check_table_path(path)
    except InputError as exc:
        raise InputError(f"{field}: {exc}") from exc
    if path.is_dir():
        raise InputError(f"{field}: {path} is a folder; give a file name such as {path / 'x.csv'}")
    check_creatable(path, field)
    return path


def _compression(name: str) -> str:
    return {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}[name[name.rfind("."):]]


def _coerce(
    series: pd.Series, column: str, source: str, *, missing_ok: bool = False
) -> pd.Series:
    if series.isna().any() and not (missing_ok and pd.api.types.is_numeric_dtype(series)):
        row = int(series.isna().to_numpy().argmax())
        raise InputError(f"{source}: column {column} has missing values (first at row {row})")
    if column == DATETIME_COLUMN:
        try:
            return pd.to_datetime(series, format="ISO8601")
        except (ValueError, TypeError) as exc:
            bad = pd.to_datetime(series, format="ISO8601", errors="coerce").isna().to_numpy()
            row = int(bad.argmax())
            raise InputError(
                f"{source}: column {column} must hold datetimes like 2018-04-01 00:07:56, "
                f"found {series.iloc[row]!r} at row {row}"
            ) from exc
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        bad = pd.to_numeric(series, errors="coerce").isna()
        example = series[bad].iloc[0] if bad.any() else series.iloc[0]
        raise InputError(
            f"{source}: column {column} must be numeric, found {example!r} (dtype {series.dtype})"
        )
    if column in INT_COLUMNS:
        values = series.to_numpy()
        if (values != values.round()).any():
            raise InputError(f"{source}: column {column} must hold whole numbers")
        return series.astype("int64")
    return series.astype("float64")


def check_table_path(path: str | Path) -> Path:
    """Return ``path`` as a Path if its extension is a supported table format.

    Raises
    ------
    InputError
        If the extension is not one of ``.csv`` (optionally compressed) or ``.parquet``/``.pq``.
    """
    path = Path(path)
    if not path.name.lower().endswith(_PARQUET_SUFFIXES + _CSV_SUFFIXES):
        raise InputError(_suffix_message(path))
    return path


def _suffix_message(path: Path) -> str:
    allowed = ", ".join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)
    return f"unsupported transactions file extension for {path.name}; use one of {allowed}"


__all__ = [
    "check_output_path",
    "check_table_path",
    "read_transactions",
    "validate_transactions",
    "write_transactions",
]
