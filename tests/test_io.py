"""Reading and writing transaction tables: round trips, layouts and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tinybots.errors import InputError
from tinybots.io import read_transactions, write_transactions
from tinybots.schema import FEATURE_COLUMNS, RAW_COLUMNS, TRANSFORMED_COLUMNS


def raw_frame(n: int = 5) -> pd.DataFrame:
    seconds = np.array([100, 5000, 90000, 90001, 200000][:n])
    return pd.DataFrame({
        "TRANSACTION_ID": np.arange(n)[::-1],  # deliberately unsorted
        "TX_DATETIME": pd.Timestamp("2018-04-01") + pd.to_timedelta(seconds, unit="s"),
        "CUSTOMER_ID": np.arange(n) % 3,
        "TERMINAL_ID": np.arange(n) + 10,
        "TX_AMOUNT": np.linspace(1.25, 99.5, n),
        "TX_TIME_SECONDS": seconds,
        "TX_TIME_DAYS": seconds // 86400,
        "TX_FRAUD": np.arange(n) % 2,
        "TX_FRAUD_SCENARIO": np.arange(n) % 2,
    })


def transformed_frame(n: int = 5) -> pd.DataFrame:
    f = raw_frame(n)
    for i, column in enumerate(FEATURE_COLUMNS[1:]):
        flag = column.startswith("TX_DURING")
        f[column] = (np.arange(n) + i) % 2 if flag else np.arange(n) / 3 + i
    return f


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
@pytest.mark.parametrize("make", [raw_frame, transformed_frame])
def test_round_trip(tmp_path: Path, suffix: str, make) -> None:
    original = make()
    path = write_transactions(original, tmp_path / f"sub/t{suffix}")
    back = read_transactions(path)
    expected = original.sort_values("TRANSACTION_ID").reset_index(drop=True)
    assert list(back.columns) == list(expected.columns)
    assert back["TRANSACTION_ID"].tolist() == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert back["TX_DATETIME"].dtype.kind == "M" and back["TX_FRAUD"].dtype == "int64"


def test_missing_column_is_named_with_required_list(tmp_path: Path) -> None:
    path = write_transactions(raw_frame().drop(columns="TERMINAL_ID"), tmp_path / "t.csv")
    pattern = r"missing column\(s\) \['TERMINAL_ID'\].*required columns"
    with pytest.raises(InputError, match=pattern):
        read_transactions(path)


def test_partial_feature_set_is_a_missing_transformed_column(tmp_path: Path) -> None:
    f = transformed_frame().drop(columns="TERMINAL_ID_RISK_30DAY_WINDOW")
    path = write_transactions(f, tmp_path / "t.csv")
    with pytest.raises(InputError, match="TERMINAL_ID_RISK_30DAY_WINDOW.*transformed"):
        read_transactions(path)


def test_non_numeric_amount_names_the_column(tmp_path: Path) -> None:
    f = raw_frame()
    f["TX_AMOUNT"] = f["TX_AMOUNT"].astype(object)
    f.loc[2, "TX_AMOUNT"] = "12,50"
    path = write_transactions(f, tmp_path / "t.csv")
    with pytest.raises(InputError, match="TX_AMOUNT must be numeric.*12,50"):
        read_transactions(path)


def test_bad_datetime_and_missing_value(tmp_path: Path) -> None:
    f = raw_frame().astype({"TX_DATETIME": object})
    f.loc[1, "TX_DATETIME"] = "yesterday"
    with pytest.raises(InputError, match="TX_DATETIME"):
        read_transactions(write_transactions(f, tmp_path / "a.csv"))
    g = raw_frame().astype({"CUSTOMER_ID": float})
    g.loc[3, "CUSTOMER_ID"] = np.nan
    with pytest.raises(InputError, match="CUSTOMER_ID has missing values"):
        read_transactions(write_transactions(g, tmp_path / "b.parquet"))


def test_empty_tables_are_rejected(tmp_path: Path) -> None:
    header_only = write_transactions(raw_frame().iloc[:0], tmp_path / "h.csv")
    with pytest.raises(InputError, match="empty"):
        read_transactions(header_only)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_transactions(blank)


def test_extra_columns_rejected_unless_allowed(tmp_path: Path) -> None:
    f = raw_frame()
    f["NOTE"] = "x"
    path = write_transactions(f, tmp_path / "t.csv")
    with pytest.raises(InputError, match=r"\['NOTE'\].*extra='allow'"):
        read_transactions(path)
    kept = read_transactions(path, extra="allow")
    assert list(kept.columns) == [*RAW_COLUMNS, "NOTE"]


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="extension"):
        write_transactions(raw_frame(), tmp_path / "t.xlsx")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(InputError, match="extension"):
        read_transactions(tmp_path / "t.json")
    with pytest.raises(FileNotFoundError):
        read_transactions(tmp_path / "absent.csv")


def test_reads_published_transformed_file(handbook_data: Path) -> None:
    f = read_transactions(
        handbook_data / "transformed" / "transactions_transformed_2018-07-25_2018-08-14.csv.gz"
    )
    assert list(f.columns) == list(TRANSFORMED_COLUMNS)
    assert (len(f), int(f["TX_FRAUD"].sum())) == (201_295, 1_792)
    assert f["TRANSACTION_ID"].is_monotonic_increasing
