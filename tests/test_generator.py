"""Tests of tinybots.generator, the handbook's transaction simulator.

References are written independently here from the facts of the book's simulator (Le Borgne
et al., 2022, Chapter 3, "Transaction data simulator"): scalar RandomState / random.choice
calls, a brute-force distance test, a pure-Python introsort; never copied from the generator,
so each test can fail for the reason in its name.
"""

from __future__ import annotations

import doctest
import math
import random
from statistics import NormalDist

import numpy as np
import pandas as pd
import pydantic
import pytest

from tinybots.errors import InputError
from tinybots.generator import (
    HandbookConfig,
    customer_draws,
    frauds,
    generate_customer_profiles,
    generate_terminal_profiles,
    generate_transactions,
    iter_days,
    profiles,
    reachable_terminals,
    transactions,
)
from tinybots.generator.customer_draws import LegacyDraws, generate_chunk
from tinybots.schema import RAW_COLUMNS

SMALL = HandbookConfig(n_customers=120, n_terminals=400, nb_days=40)


@pytest.fixture(scope="module")
def small_table() -> pd.DataFrame:
    return generate_transactions(SMALL, n_jobs=1)


# ---------------------------------------------------------------- independent references


def scalar_customer_rows(cid, mean, std, lam, terminals, nb_days):
    """The handbook's per-customer loop with scalar legacy calls (reference, not optimised)."""
    rs, rnd = np.random.RandomState(cid), random.Random(cid)
    rows = []
    for day in range(nb_days):
        for _ in range(rs.poisson(lam)):
            t = int(rs.normal(86400 / 2, 20000))
            if 0 < t < 86400:
                amount = rs.normal(mean, std)
                if amount < 0:
                    amount = rs.uniform(0, mean * 2)
                amount = np.round(amount, decimals=2)
                if len(terminals) > 0:
                    rows.append((t + day * 86400, day, cid, rnd.choice(terminals), amount))
    return rows


def introsort_argsort(v: list[int]) -> list[int]:
    """numpy's classic argsort(kind='quicksort'): median of 3, insertion sort at <= 16 items."""
    idx = list(range(len(v)))
    stack, lo, hi = [], 0, len(v) - 1
    while True:
        while hi - lo > 15:
            mid = lo + ((hi - lo) >> 1)
            if v[idx[mid]] < v[idx[lo]]:
                idx[mid], idx[lo] = idx[lo], idx[mid]
            if v[idx[hi]] < v[idx[mid]]:
                idx[hi], idx[mid] = idx[mid], idx[hi]
            if v[idx[mid]] < v[idx[lo]]:
                idx[mid], idx[lo] = idx[lo], idx[mid]
            pivot, i, j = v[idx[mid]], lo, hi - 1
            idx[mid], idx[j] = idx[j], idx[mid]
            while True:
                i += 1
                while v[idx[i]] < pivot:
                    i += 1
                j -= 1
                while pivot < v[idx[j]]:
                    j -= 1
                if i >= j:
                    break
                idx[i], idx[j] = idx[j], idx[i]
            idx[i], idx[hi - 1] = idx[hi - 1], idx[i]
            if i - lo < hi - i:
                stack.append((i + 1, hi))
                hi = i - 1
            else:
                stack.append((lo, i - 1))
                lo = i + 1
        for k in range(lo + 1, hi + 1):
            item, j = idx[k], k
            while j > lo and v[item] < v[idx[j - 1]]:
                idx[j] = idx[j - 1]
                j -= 1
            idx[j] = item
        if not stack:
            return idx
        lo, hi = stack.pop()


# ---------------------------------------------------------------- building blocks


def test_modules_doctests_pass():
    for module in (customer_draws, frauds, transactions, profiles):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_worker_module_imports_without_pandas_or_scipy():
    import subprocess
    import sys

    code = (
        "import sys, tinybots.generator.customer_draws;"
        "print(sorted({'pandas', 'scipy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("seed", [0, 1, 17, 4999])
def test_legacy_draws_replay_randomstate_scalar_calls(seed):
    rs, draws, plan = np.random.RandomState(seed), LegacyDraws(seed), random.Random(seed)
    for _ in range(3000):
        kind = plan.choice("pnnu")
        lam, loc, scale = plan.uniform(0, 4), plan.uniform(-50, 100), plan.uniform(0.1, 50)
        if kind == "p":
            assert draws.poisson(lam) == rs.poisson(lam)
        elif kind == "n":
            assert draws.normal(loc, scale) == rs.normal(loc, scale)
        else:
            assert draws.uniform(0, loc) == rs.uniform(0, loc)


def test_customer_streams_equal_scalar_handbook_loop():
    cust = generate_customer_profiles(60)
    reach = reachable_terminals(cust, generate_terminal_profiles(2000), 8.0)
    reach[5] = np.empty(0, dtype=np.int64)  # a customer with no terminal: draws, keeps nothing
    args = [c.tolist() for c in (cust.CUSTOMER_ID, cust.mean_amount, cust.std_amount)]
    lams = cust.mean_nb_tx_per_day.tolist()
    got = generate_chunk((*args, lams, [r.tolist() for r in reach], 50, True))
    ref = [
        row
        for c in range(60)
        for row in scalar_customer_rows(c, args[1][c], args[2][c], lams[c], reach[c].tolist(), 50)
    ]
    assert len(ref) > 3000
    assert np.array_equal(np.column_stack(got), np.array(ref, dtype=np.float64))
    assert 5 not in set(got[2].tolist())


@pytest.mark.parametrize("n, n_values", [(40, 5), (700, 60), (5000, 900), (20000, 4000)])
def test_handbook_order_is_numpys_classic_unstable_introsort(n, n_values):
    values = np.random.default_rng(n).integers(0, n_values, n)
    order = transactions.handbook_order(values)
    assert order.tolist() == introsort_argsort(values.tolist())
    if n >= 700:  # ties really are broken differently from a stable sort
        assert not np.array_equal(order, np.argsort(values, kind="stable"))


def test_profiles_ranges_and_scalar_draw_order():
    cust, term = generate_customer_profiles(500), generate_terminal_profiles(300)
    assert list(cust.columns) == list(profiles.CUSTOMER_COLUMNS)
    assert list(term.columns) == list(profiles.TERMINAL_COLUMNS)
    assert cust.CUSTOMER_ID.tolist() == list(range(500)) and cust.CUSTOMER_ID.dtype == np.int64
    for col, lo, hi in [("x_customer_id", 0, 100), ("mean_amount", 5, 100),
                        ("mean_nb_tx_per_day", 0, 4)]:  # fmt: skip
        assert cust[col].between(lo, hi, inclusive="left").all(), col
    assert np.array_equal(cust.std_amount, cust.mean_amount / 2)
    assert term[["x_terminal_id", "y_terminal_id"]].stack().between(0, 100).all()
    rs = np.random.RandomState(0)
    for i in range(3):
        draws = [rs.uniform(0, 100), rs.uniform(0, 100), rs.uniform(5, 100), rs.uniform(0, 4)]
        row = cust.loc[i, ["x_customer_id", "y_customer_id", "mean_amount", "mean_nb_tx_per_day"]]
        assert row.tolist() == draws
    rs = np.random.RandomState(1)
    assert term.loc[0, ["x_terminal_id", "y_terminal_id"]].tolist() == [
        rs.uniform(0, 100),
        rs.uniform(0, 100),
    ]


@pytest.mark.parametrize("radius", [0.7, 5.0, 30.0])
def test_reachable_terminals_equal_brute_force_ascending(radius):
    cust, term = generate_customer_profiles(200), generate_terminal_profiles(3000)
    got = reachable_terminals(cust, term, radius)
    txy = term[["x_terminal_id", "y_terminal_id"]].to_numpy()
    for i, cxy in enumerate(cust[["x_customer_id", "y_customer_id"]].to_numpy()):
        dist = np.sqrt(np.sum(np.square(cxy - txy), axis=1))
        assert got[i].tolist() == np.where(dist < radius)[0].tolist()


# ---------------------------------------------------------------- whole table


def test_columns_dtypes_and_ids(small_table):
    df = small_table
    assert tuple(df.columns) == RAW_COLUMNS
    assert df.TX_DATETIME.dtype == np.dtype("M8[ns]")
    assert df.TX_AMOUNT.dtype == np.float64
    others = [c for c in RAW_COLUMNS if c not in ("TX_DATETIME", "TX_AMOUNT")]
    assert all(df[c].dtype == np.int64 for c in others)
    assert df.TRANSACTION_ID.tolist() == list(range(len(df)))
    assert df.TX_DATETIME.is_monotonic_increasing
    offset = (df.TX_DATETIME - pd.Timestamp("2018-04-01")).dt.total_seconds()
    assert np.array_equal(offset.to_numpy(), df.TX_TIME_SECONDS.to_numpy())
    assert np.array_equal(df.TX_TIME_SECONDS // 86400, df.TX_TIME_DAYS)
    assert (df.TX_TIME_SECONDS % 86400 > 0).all()


def test_deterministic(small_table):
    pd.testing.assert_frame_equal(generate_transactions(SMALL, n_jobs=1), small_table)


def test_worker_processes_return_the_serial_chunks_in_order():
    customers, _, reach = transactions.simulate_population(SMALL)
    args = transactions.chunk_args(customers, reach, SMALL.nb_days, 5, pick=True)
    serial, pooled = (list(transactions.run_chunks(args, jobs)) for jobs in (1, 2))
    assert len(pooled) == 5
    for a, b in zip(serial, pooled, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    customer_ids = np.concatenate([p[2] for p in pooled])
    assert (np.diff(customer_ids) >= 0).all()  # concatenated by customer, in id order


def test_start_date_shifts_datetimes_only(small_table):
    later = generate_transactions(SMALL.model_copy(update={"start_date": "2020-02-28"}), n_jobs=1)
    shift = pd.Timestamp("2020-02-28") - pd.Timestamp("2018-04-01")
    assert (later.TX_DATETIME - small_table.TX_DATETIME == shift).all()
    cols = [c for c in RAW_COLUMNS if c != "TX_DATETIME"]
    pd.testing.assert_frame_equal(later[cols], small_table[cols])


def test_customer_stream_independent_of_population_size():
    tables = [
        generate_transactions(HandbookConfig(n_customers=n, n_terminals=3000, nb_days=30), n_jobs=1)
        for n in (50, 100)
    ]
    tables[1] = tables[1][tables[1].CUSTOMER_ID < 50]
    assert tables[0].CUSTOMER_ID.nunique() > 40
    # per customer, rows keep their draw order in both tables
    by_customer = ["CUSTOMER_ID", "TX_TIME_SECONDS"]
    ours, theirs = (t.sort_values(by_customer, kind="stable") for t in tables)
    for col in ("CUSTOMER_ID", "TX_TIME_SECONDS", "TERMINAL_ID"):
        assert ours[col].tolist() == theirs[col].tolist()
    # amounts before fraud injection: skip rows where either run applied scenario 3's x5
    clean = (ours.TX_FRAUD_SCENARIO.to_numpy() != 3) & (theirs.TX_FRAUD_SCENARIO.to_numpy() != 3)
    assert clean.mean() > 0.5
    assert np.array_equal(ours.TX_AMOUNT[clean], theirs.TX_AMOUNT[clean])


def test_drop_rule_keeps_times_strictly_inside_the_day():
    """About 3.1 % of drawn times fall outside (0, 86400) s and are dropped, not clipped."""
    config = HandbookConfig(n_customers=300, n_terminals=10000, nb_days=183)
    cust, _, reach = transactions.simulate_population(config)
    lam = cust.mean_nb_tx_per_day.to_numpy()[[len(r) > 0 for r in reach]]
    n_kept = len(generate_transactions(config, n_jobs=1))
    p_keep = NormalDist(43200, 20000).cdf(86400) - NormalDist(43200, 20000).cdf(1)
    drawn = lam.sum() * config.nb_days  # kept rows are Poisson with mean drawn * p_keep
    assert abs(n_kept - drawn * p_keep) < 4 * math.sqrt(drawn * p_keep)
    assert abs(1 - p_keep - 0.031) < 0.001
    assert n_kept < drawn * (1 - 0.02)  # clipping or redrawing would keep ~100 %


def test_fraud_scenarios_follow_the_rules(small_table):
    df = small_table
    assert np.array_equal(df.TX_FRAUD, (df.TX_FRAUD_SCENARIO > 0).astype(np.int64))
    max_day = int(df.TX_TIME_DAYS.max())
    on_bad_terminal = np.zeros(len(df), dtype=bool)
    for d in range(max_day):
        terms = np.random.RandomState(d).permutation(SMALL.n_terminals)[:2]
        window = df.TX_TIME_DAYS.between(d, d + 27)
        on_bad_terminal |= (df.TERMINAL_ID.isin(terms) & window).to_numpy()
    s = df.TX_FRAUD_SCENARIO.to_numpy()
    assert on_bad_terminal[s == 2].all()  # scenario 2 only inside a compromise window
    assert np.isin(s[on_bad_terminal], [2, 3]).all()  # ... and it overwrites scenario 1
    assert (df.TX_AMOUNT[s == 1] > 220).all() and (df.TX_AMOUNT[s == 0] <= 220).all()
    assert {1, 2, 3} <= set(s.tolist())


def test_scenario3_picks_a_third_of_the_pooled_rows_of_three_cards(small_table):
    df, day = small_table, 3
    cards = np.random.RandomState(day).permutation(SMALL.n_customers)[:3]
    pool = df.index[df.CUSTOMER_ID.isin(cards) & df.TX_TIME_DAYS.between(day, day + 13)]
    picked = random.Random(day).sample(list(pool), k=len(pool) // 3)
    assert len(picked) > 3
    assert (df.loc[picked, "TX_FRAUD_SCENARIO"] == 3).all()


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize(
    "config",
    [SMALL, HandbookConfig(n_customers=40, n_terminals=60, nb_days=9, radius=9.0)],
    ids=["40days", "shorter_than_window"],
)
def test_iter_days_concatenation_equals_generate_transactions(config, small_table):
    frames = list(iter_days(config, n_jobs=1))
    assert len(frames) == config.nb_days
    assert all(f.TX_TIME_DAYS.eq(d).all() for d, f in enumerate(frames))
    whole = small_table if config == SMALL else generate_transactions(config, n_jobs=1)
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), whole, check_exact=True)


@pytest.mark.slow
def test_iter_days_equals_generate_transactions_with_the_full_population():
    """5,000 customers make many same-second ties between customers (ids still agree)."""
    config = HandbookConfig(nb_days=16)
    whole = generate_transactions(config)
    assert whole.duplicated("TX_TIME_SECONDS").sum() > 1000
    streamed = pd.concat(iter_days(config), ignore_index=True)
    pd.testing.assert_frame_equal(streamed, whole, check_exact=True)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, field, words",
    [
        ({"n_customers": -3}, "n_customers", "greater than or equal to 1"),
        ({"n_terminals": 0}, "n_terminals", "greater than or equal to 1"),
        ({"nb_days": 0}, "nb_days", "greater than or equal to 1"),
        ({"radius": 0}, "radius", "greater than 0"),
        ({"radius": float("inf")}, "radius", "finite"),
        ({"start_date": "not-a-date"}, "start_date", "YYYY-MM-DD"),
        ({"n_customer": 5}, "n_customer", "Extra inputs"),
    ],
)
def test_bad_config_names_field_and_range(kwargs, field, words):
    with pytest.raises(pydantic.ValidationError) as err:
        HandbookConfig(**kwargs)
    assert field in str(err.value) and words in str(err.value)


def test_config_is_frozen_and_parses_dates():
    config = HandbookConfig(start_date="2018-05-02")
    assert config.start_date.isoformat() == "2018-05-02"
    with pytest.raises(pydantic.ValidationError):
        config.nb_days = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: generate_customer_profiles(0), "n_customers must be an integer >= 1"),
        (lambda: generate_terminal_profiles(-1), "n_terminals must be an integer >= 1"),
        (lambda: generate_customer_profiles(5, seed=-1), "seed must be an integer in [0"),
        (lambda: generate_transactions(SMALL, n_jobs=0), "n_jobs must be None or an integer"),
        (lambda: reachable_terminals(pd.DataFrame(), pd.DataFrame(), -1.0), "radius must be"),
    ],
)
def test_bad_arguments_raise_input_error(call, words):
    with pytest.raises(InputError, match=words.replace("[", r"\[")):
        call()


# ---------------------------------------------------------------- the published data


@pytest.mark.slow
def test_default_run_equals_published_raw_dataset(handbook_data):
    """generate_transactions() reproduces the handbook's 183-day raw table value for value."""
    published = pd.read_csv(
        handbook_data / "raw/transactions_raw_2018-04-01_2018-09-30.csv.gz",
        parse_dates=["TX_DATETIME"],
    )
    published["TX_DATETIME"] = published["TX_DATETIME"].astype("M8[ns]")  # pandas 3 reads us
    ours = generate_transactions()
    assert len(ours) == 1_754_155 and ours.TX_FRAUD.sum() == 14_681
    counts = ours.TX_FRAUD_SCENARIO.value_counts().to_dict()
    assert [counts[k] for k in (1, 2, 3)] == [973, 9_077, 4_631]
    pd.testing.assert_frame_equal(ours, published, check_exact=True)


def test_shipped_sample_is_what_the_generator_makes_today():
    """data/sample_transactions.csv.gz is regenerated by the command in data/README.md."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "sample_transactions.csv.gz"
    shipped = pd.read_csv(path, parse_dates=["TX_DATETIME"])
    shipped["TX_DATETIME"] = shipped["TX_DATETIME"].astype("M8[ns]")
    config = HandbookConfig(n_customers=300, n_terminals=600, nb_days=30)
    pd.testing.assert_frame_equal(shipped, generate_transactions(config, n_jobs=1))
