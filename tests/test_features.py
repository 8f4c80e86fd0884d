"""The handbook's 15 model inputs: offline = published data, online = offline, bad input fails.

Definitions: Le Borgne, Siblini, Lebichot, Bontempi, *Reproducible Machine Learning for Credit
Card Fraud Detection — Practical Handbook*, 2022, Chapter 3, "Baseline feature transformation".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tinybots.errors import InputError
from tinybots.features import FeatureStore, compute_features, feature_columns
from tinybots.schema import FEATURE_COLUMNS, RAW_COLUMNS

DAY = 86_400
HOUR = 3_600
DELAY_S = 7 * DAY
RAW_FULL = "raw/transactions_raw_2018-04-01_2018-09-30.csv.gz"
TRANSFORMED = "transformed/transactions_transformed_2018-07-25_2018-08-14.csv.gz"


# ---------------------------------------------------------------- helpers


def make_frame(
    rows: list[tuple[int, int, int, float, int]], base: str = "2018-04-02"
) -> pd.DataFrame:
    """Raw table from (customer, terminal, seconds after base, amount, fraud), in given order."""
    customer, terminal, offset, amount, fraud = (list(c) for c in zip(*rows, strict=True))
    when = pd.Timestamp(base) + pd.to_timedelta(offset, unit="s")
    return pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(len(rows), dtype=np.int64),
            "TX_DATETIME": when.astype("datetime64[ns]"),
            "CUSTOMER_ID": np.array(customer, dtype=np.int64),
            "TERMINAL_ID": np.array(terminal, dtype=np.int64),
            "TX_AMOUNT": np.array(amount, dtype=np.float64),
            "TX_TIME_SECONDS": np.array(offset, dtype=np.int64),
            "TX_TIME_DAYS": np.array(offset, dtype=np.int64) // DAY,
            "TX_FRAUD": np.array(fraud, dtype=np.int64),
            "TX_FRAUD_SCENARIO": np.array(fraud, dtype=np.int64),
        }
    )


def random_stream(seed: int, n: int = 1_500, days: int = 60) -> pd.DataFrame:
    """Random time-ordered stream with same-second ties and rows exactly on window edges."""
    rng = np.random.default_rng(seed)
    offset = rng.integers(0, days * DAY, n)
    offset[: n // 20] = offset[0]  # a block of same-second rows
    customer = rng.integers(0, 25, n)
    customer[: n // 40] = customer[0]  # some of them on one card
    terminal = rng.integers(0, 12, n)
    pick = rng.choice(n, 120, replace=False)
    shift = rng.choice(np.array([1, 7, 8, 14, 30, 37]) * DAY, len(pick))  # edges: w and d + w
    offset = np.concatenate([offset, offset[pick] + shift])
    customer = np.concatenate([customer, customer[pick]])
    terminal = np.concatenate([terminal, terminal[pick]])
    amount = np.round(rng.gamma(2.0, 25.0, len(offset)), 2)
    fraud = (rng.random(len(offset)) < 0.15).astype(np.int64)
    order = np.argsort(offset, kind="stable")
    columns = (customer, terminal, offset, amount, fraud)
    rows = zip(*(c[order].tolist() for c in columns), strict=True)
    return make_frame(list(rows))


def seconds(frame: pd.DataFrame) -> np.ndarray:
    return frame["TX_DATETIME"].to_numpy().astype("datetime64[s]").astype(np.int64)


def stream(
    store: FeatureStore, frame: pd.DataFrame, start: int = 0, labels_after_s: int | None = None
) -> np.ndarray:
    """Feed rows ``start..`` to ``store.update`` in table order, as the label feed would.

    Before a transaction at time t, every label with event time s <= t - 7 days (and
    s > ``labels_after_s``, those not yet known) is delivered, in event-time order.
    """
    t = seconds(frame)
    customer, terminal = frame["CUSTOMER_ID"].tolist(), frame["TERMINAL_ID"].tolist()
    amount, fraud = frame["TX_AMOUNT"].tolist(), frame["TX_FRAUD"].tolist()
    by_time = np.argsort(t, kind="stable")
    if labels_after_s is not None:
        by_time = by_time[t[by_time] > labels_after_s]
    p, out = 0, []
    for k in range(start, len(frame)):
        while p < len(by_time) and t[by_time[p]] + DELAY_S <= t[k]:
            r = by_time[p]
            store.add_label(terminal[r], int(t[r]), fraud[r])
            p += 1
        out.append(store.update(customer[k], terminal[k], int(t[k]), amount[k]))
    return np.array(out)


def offline_matrix(frame: pd.DataFrame) -> np.ndarray:
    return compute_features(frame)[list(FEATURE_COLUMNS)].to_numpy(dtype=np.float64)


# ---------------------------------------------------------------- hand-built window edges

# 2018-04-02 is a Monday. Columns: name, customer, terminal, seconds after base, amount, fraud,
# weekend, night, customer (count, mean) for 1/7/30 days, terminal (count, risk) for 1/7/30 days.
# Expected values worked out by hand from the definitions (delay d = 7 days).
HAND = [
    ("a", 1, 10, 0, 10.0, 1, 0, 1, (1, 10, 1, 10, 1, 10), (0, 0, 0, 0, 0, 0)),
    ("b: 06:59:59 is night", 1, 10, 7 * HOUR - 1, 20.0, 1, 0, 1, (2, 15, 2, 15, 2, 15), (0,) * 6),
    ("c: 07:00 is day", 1, 10, 7 * HOUR, 30.0, 0, 0, 0, (3, 20, 3, 20, 3, 20), (0,) * 6),
    # (t-1d, t] leaves out a (exactly 1 day old); the 7-day window keeps it
    ("d", 1, 10, DAY, 40.0, 0, 0, 1, (3, 30, 4, 25, 4, 25), (0,) * 6),
    ("e: Saturday", 3, 11, 5 * DAY + 12 * HOUR, 7.0, 0, 1, 0, (1, 7, 1, 7, 1, 7), (0,) * 6),
    ("k: Sunday 23:59:59", 3, 11, 7 * DAY - 1, 9.0, 0, 1, 0, (1, 9, 2, 8, 2, 8), (0,) * 6),
    # terminal window (t-8d, t-7d] holds a, which is exactly 7 days old: included
    ("f: Monday", 2, 10, 7 * DAY, 5.0, 0, 0, 1, (1, 5, 1, 5, 1, 5), (1, 1, 1, 1, 1, 1)),
    # terminal (t-8d, t-7d] = (base, base+1d] -> b, c, d; (t-14d, t-7d] -> a, b, c, d
    ("g", 1, 10, 8 * DAY, 50.0, 0, 0, 1, (1, 50, 1, 50, 5, 30), (3, 1 / 3, 4, 0.5, 4, 0.5)),
    ("h: tie", 4, 12, 8 * DAY + HOUR, 1.0, 0, 0, 1, (1, 1, 1, 1, 1, 1), (0,) * 6),
    ("i: tie", 4, 12, 8 * DAY + HOUR, 3.0, 0, 0, 1, (2, 2, 2, 2, 2, 2), (0,) * 6),
    # customer (t-30d, t] = (base+7d, base+37d] holds g; terminal: empty 1- and 7-day windows
    # (risk 0), (t-37d, t-7d] = (base, base+30d] leaves out a: b, c, d, f, g with one fraud
    ("j", 1, 10, 37 * DAY, 60.0, 0, 0, 1, (1, 60, 1, 60, 2, 55), (0, 0, 0, 0, 5, 0.2)),
]


def hand_frame() -> pd.DataFrame:
    return make_frame([(c, m, t, a, f) for _, c, m, t, a, f, *_ in HAND])


def hand_expected() -> np.ndarray:
    return np.array([[a, wk, nt, *cust, *term] for _, _, _, _, a, _, wk, nt, cust, term in HAND])


@pytest.mark.parametrize("row", range(len(HAND)), ids=[h[0] for h in HAND])
def test_offline_features_on_hand_built_window_edges(row: int) -> None:
    got = offline_matrix(hand_frame())[row]
    np.testing.assert_allclose(got, hand_expected()[row], rtol=0, atol=1e-12)


def test_online_features_on_hand_built_window_edges() -> None:
    got = stream(FeatureStore(), hand_frame())
    np.testing.assert_allclose(got, hand_expected(), rtol=0, atol=1e-12)


def test_feature_dtypes_columns_and_order() -> None:
    frame = hand_frame()
    out = compute_features(frame)
    assert list(out.columns) == list(RAW_COLUMNS) + list(FEATURE_COLUMNS[1:])
    assert out["TX_DURING_WEEKEND"].dtype == np.int64 and out["TX_DURING_NIGHT"].dtype == np.int64
    assert all(out[c].dtype == np.float64 for c in FEATURE_COLUMNS[3:])
    assert feature_columns() == FEATURE_COLUMNS


# ---------------------------------------------------------------- online == offline


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_online_equals_offline_on_random_stream(seed: int) -> None:
    frame = random_stream(seed)
    online = stream(FeatureStore(), frame)
    np.testing.assert_allclose(online, offline_matrix(frame), rtol=0, atol=1e-9)


def test_transform_with_early_labels_holds_them_until_the_delay() -> None:
    frame = random_stream(4)
    online = FeatureStore().transform(frame, deliver_labels=True)  # label right after its tx
    np.testing.assert_allclose(online, offline_matrix(frame), rtol=0, atol=1e-9)
    without = FeatureStore().transform(frame)  # no labels at all: terminal counts stay 0
    assert np.all(without[:, 9:] == 0) and np.any(online[:, 9:] > 0)


@pytest.mark.parametrize("split", [1, 700, 1_400])
def test_warm_start_then_update_equals_update_on_everything(split: int) -> None:
    frame = random_stream(5)
    reference = stream(FeatureStore(), frame)
    store = FeatureStore()
    now = int(seconds(frame)[split])
    store.warm_start(frame.iloc[:split], labels_until_s=now)
    rest = stream(store, frame, start=split, labels_after_s=now - DELAY_S)
    np.testing.assert_allclose(rest, reference[split:], rtol=0, atol=1e-9)


def test_warm_start_in_two_chunks_equals_one() -> None:
    frame = random_stream(9)
    split, half = 1_000, 400
    now = int(seconds(frame)[split])
    one, two = FeatureStore(), FeatureStore()
    one.warm_start(frame.iloc[:split], labels_until_s=now)
    two.warm_start(frame.iloc[:half], labels_until_s=now)
    two.warm_start(frame.iloc[half:split], labels_until_s=now)  # merges into existing keys
    expected = stream(one, frame, start=split, labels_after_s=now - DELAY_S)
    got = stream(two, frame, start=split, labels_after_s=now - DELAY_S)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_store_evicts_entries_older_than_the_windows() -> None:
    frame = random_stream(6, n=3_000, days=90)
    store = FeatureStore(windows_days=(1, 7), max_lateness_s=0)
    stream(store, frame)
    t = pd.Series(seconds(frame))
    # eviction runs when a key is touched: a customer keeps its rows newer than its last
    # transaction - 7 days; a terminal keeps the delivered labels (s <= t_end - d) newer than
    # its last transaction - (d + 7 days)
    last_customer = t.groupby(frame["CUSTOMER_ID"]).transform("max")
    last_terminal = t.groupby(frame["TERMINAL_ID"]).transform("max")
    delivered = t <= t.iloc[-1] - DELAY_S
    assert store.retained() == {
        "customer": int((t > last_customer - 7 * DAY).sum()),
        "terminal": int((delivered & (t > last_terminal - DELAY_S - 7 * DAY)).sum()),
    }
    assert store.retained()["customer"] < len(frame) / 5


def test_late_event_gets_its_exact_windows() -> None:
    frame = random_stream(7)
    late = len(frame) - 50
    arrival = np.r_[np.delete(np.arange(len(frame)), late), late]  # row `late` arrives last
    online = FeatureStore(max_lateness_s=30 * DAY).transform(frame.iloc[arrival])
    offline = offline_matrix(frame)
    np.testing.assert_allclose(online[-1, :9], offline[late, :9], rtol=0, atol=1e-9)


# ---------------------------------------------------------------- offline table contract


def test_compute_features_keeps_row_order_and_index_and_does_not_mutate() -> None:
    frame = random_stream(8)
    frame = frame[~frame.duplicated(["CUSTOMER_ID", "TX_DATETIME"], keep=False)]
    shuffled = frame.sample(frac=1.0, random_state=np.random.RandomState(0))
    before = shuffled.copy(deep=True)
    out = compute_features(shuffled)
    pd.testing.assert_frame_equal(shuffled, before)
    assert out.index.equals(shuffled.index)
    expected = compute_features(frame).loc[shuffled.index]
    pd.testing.assert_frame_equal(out, expected, rtol=0, atol=1e-9)


def test_custom_windows_and_delay_name_their_columns() -> None:
    out = compute_features(hand_frame(), windows_days=(2,), delay_days=1)
    assert list(out.columns[-6:]) == list(feature_columns((2,))[1:])
    # row g (8 days): customer 2-day window holds only g; terminal (t-3d, t-1d] holds f
    g = out.iloc[7]
    assert (g["CUSTOMER_ID_NB_TX_2DAY_WINDOW"], g["TERMINAL_ID_NB_TX_2DAY_WINDOW"]) == (1.0, 1.0)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "column", ["TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"]
)
def test_missing_column_is_named(column: str) -> None:
    with pytest.raises(InputError, match=column):
        compute_features(hand_frame().drop(columns=column))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("TX_DATETIME", "2018-04-02 00:00:00"),
        ("CUSTOMER_ID", 1.5),
        ("TERMINAL_ID", "10"),
        ("TX_AMOUNT", "ten"),
        ("TX_AMOUNT", np.nan),
        ("TX_FRAUD", 2),
    ],
)
def test_mistyped_column_is_named(column: str, value: object) -> None:
    frame = hand_frame()
    frame[column] = frame[column].astype(object)
    frame.loc[0, column] = value
    frame[column] = frame[column].infer_objects()
    with pytest.raises(InputError, match=column):
        compute_features(frame)


def test_time_zone_aware_times_are_refused() -> None:
    frame = hand_frame()
    frame["TX_DATETIME"] = frame["TX_DATETIME"].dt.tz_localize("UTC")
    with pytest.raises(InputError, match="TX_DATETIME"):
        compute_features(frame)


def test_empty_table_and_non_frames_are_refused() -> None:
    with pytest.raises(InputError, match="empty"):
        compute_features(hand_frame().iloc[:0])
    with pytest.raises(InputError, match="DataFrame"):
        compute_features(hand_frame().to_dict())  # type: ignore[arg-type]
    with pytest.raises(InputError, match="empty"):
        FeatureStore().warm_start(hand_frame().iloc[:0], labels_until_s=0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"windows_days": (0,)}, "windows_days"),
        ({"windows_days": (7, -1)}, "windows_days"),
        ({"windows_days": ()}, "windows_days"),
        ({"windows_days": (1, 1)}, "windows_days"),
        ({"windows_days": (1.5,)}, "windows_days"),
        ({"delay_days": 0}, "delay_days"),
        ({"delay_days": 2.0}, "delay_days"),
    ],
)
def test_bad_windows_or_delay_are_named(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=field):
        compute_features(hand_frame(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=field):
        FeatureStore(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the published data


@pytest.fixture(scope="module")
def raw_full(handbook_data: Path) -> pd.DataFrame:
    return pd.read_csv(handbook_data / RAW_FULL, parse_dates=["TX_DATETIME"])


@pytest.mark.slow
def test_offline_features_equal_the_published_table(
    raw_full: pd.DataFrame, handbook_data: Path
) -> None:
    ours = compute_features(raw_full)  # speed: benchmarks/bench_tinybots.py
    published = pd.read_csv(handbook_data / TRANSFORMED, parse_dates=["TX_DATETIME"])
    ours = ours.set_index("TRANSACTION_ID").loc[published["TRANSACTION_ID"]]
    assert len(ours) == len(published) == 201_295
    columns = list(FEATURE_COLUMNS)
    diff = np.abs(ours[columns].to_numpy() - published[columns].to_numpy())
    wrong = diff.max(axis=1) > 1e-6
    # ties: one customer with two transactions in the same second; a rolling window counts
    # rows up to its own position, so which tied row sees the other depends on row order
    tied = raw_full.duplicated(["CUSTOMER_ID", "TX_DATETIME"], keep=False)
    tied_ids = set(raw_full.loc[tied, "TRANSACTION_ID"])
    wrong_ids = set(published.loc[wrong, "TRANSACTION_ID"])
    print(f"tied rows in the full table: {tied.sum()}; in the published range: "
          f"{sorted(tied_ids & set(published['TRANSACTION_ID']))}; differing: {sorted(wrong_ids)}")
    assert wrong_ids <= tied_ids, f"non-tie rows differ: {sorted(wrong_ids - tied_ids)[:20]}"
    customer = [c.startswith("CUSTOMER_ID") for c in FEATURE_COLUMNS]
    assert not (diff[:, ~np.array(customer)] > 1e-6).any(), "flags/terminal features must all match"
    assert len(wrong_ids) <= 20


@pytest.mark.slow
def test_online_equals_offline_on_handbook_customers(raw_full: pd.DataFrame) -> None:
    frame = raw_full[(raw_full["CUSTOMER_ID"] < 300) & (raw_full["TX_TIME_DAYS"] < 75)]
    frame = frame.reset_index(drop=True)
    assert frame["TX_FRAUD"].sum() > 50 and frame["CUSTOMER_ID"].nunique() >= 280
    online = stream(FeatureStore(), frame)
    np.testing.assert_allclose(online, offline_matrix(frame), rtol=0, atol=1e-9)


