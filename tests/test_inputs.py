"""Inputs that used to fail silently or without naming the file (issue 7, items 10, 11, 12).

- ``tinybots baseline`` on raw data without the 37 days of history the features need;
- runs whose size would exhaust memory, refused before anything is generated (``sim.budget``);
- binary or duplicate-key scenario YAML, fake ``.csv.gz`` files, labels other than 0/1.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.budget import check_fits, estimate
from sim.cli import main
from sim.scenario import Scenario, load_preset, preset_names, with_changes
from tinybots.errors import InputError
from tinybots.io import read_transactions
from tinybots.modeling import HISTORY_DAYS
from tinybots.schema import RAW_COLUMNS

RAW_EXTRACT = "raw/transactions_raw_2018-07-25_2018-08-14.csv.gz"


def one_error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; require exit code 2 and a single error line on stderr, and return it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------- 10: history before --start


@pytest.fixture(scope="module")
def small_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 60-day raw table (300 customers) as Parquet."""
    from tinybots.generator import HandbookConfig, generate_transactions

    config = HandbookConfig(n_customers=300, n_terminals=600, nb_days=60, radius=10.0)
    path = tmp_path_factory.mktemp("raw") / "small.parquet"
    generate_transactions(config, n_jobs=1).to_parquet(path, index=False)
    return path


def test_baseline_on_raw_without_history_names_days_needed_and_present(
    small_raw: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_error_line(["baseline", "--transactions", str(small_raw), "--start", "2018-04-11",
                           "--models", "logistic_regression"], capsys)
    assert f"{HISTORY_DAYS} days of history" in line and "10 day(s) before" in line
    assert "2018-03-05" in line and "2018-04-01" in line  # needed from / the table starts


def test_baseline_on_raw_with_just_enough_history_runs(
    small_raw: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = (pd.Timestamp("2018-04-01") + pd.Timedelta(days=HISTORY_DAYS)).date().isoformat()
    code = main(["baseline", "--transactions", str(small_raw), "--start", start,
                 "--models", "logistic_regression", "--json"])
    assert code == 0, capsys.readouterr().err


def test_baseline_on_the_raw_three_week_extract_is_refused(
    handbook_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_error_line(["baseline", "--transactions", str(handbook_data / RAW_EXTRACT)], capsys)
    assert "37 days of history" in line and "0 day(s) before" in line and "2018-06-18" in line


# ---------------------------------------------------------------- 11: runs too large for memory

GB = 2**30
HUGE = [  # the three examples, made large enough to exceed any machine
    ("monitoring_interval_s", {"monitoring_interval_s": 1e-4, "max_duration_s": 1e6,
                               "workload": {"live_duration_s": 3e7, "speedup": 1.0}}),
    ("workload.rate_per_s", {"last_stage": "transaction_ingestor", "workload": {
        "kind": "poisson", "content": "synthetic", "rate_per_s": 1e6}}),
    ("workload.bank.n_customers", {"workload": {"bank": {"n_customers": 1_000_000,
                                                         "nb_days": 3650}}}),
]


@pytest.mark.parametrize(("field", "changes"), HUGE, ids=[f for f, _ in HUGE])
def test_build_refuses_a_run_too_large_before_generating(field: str, changes: dict) -> None:
    from sim import build

    sc = Scenario.model_validate(changes)
    started = time.perf_counter()
    with pytest.raises(InputError) as info:
        build(sc)
    assert time.perf_counter() - started < 1.0
    text = str(info.value)
    assert field in text and "would not fit" in text and "\n" not in text


def test_a_million_customer_bank_does_not_fit_in_20_gb() -> None:
    sc = with_changes(load_preset("default"), "workload.bank.n_customers", 1_000_000)
    with pytest.raises(InputError, match=r"workload\.bank\.n_customers × bank days "
                                         r"\(1,000,000 × 53\): about 101,760,000"):
        check_fits(sc, available_bytes=20 * GB)


def test_monitoring_every_0_1_ms_of_the_default_run_does_not_fit() -> None:
    sc = with_changes(load_preset("default"), "monitoring_interval_s", 1e-4)
    size = estimate(sc)
    assert size.monitoring_rows == 43 * 540 * 10_000  # 43 series, 43,200 s / 80, every 1e-4 s
    with pytest.raises(InputError, match="monitoring_interval_s"):
        check_fits(sc, available_bytes=20 * GB)


@pytest.mark.parametrize("name", preset_names())
def test_presets_fit_in_4_gb(name: str) -> None:
    size = check_fits(load_preset(name), available_bytes=4 * GB)
    assert 0 < size.total_bytes < 4 * GB


def test_cli_refuses_a_huge_scenario_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("workload:\n  bank: {n_customers: 1000000, nb_days: 3650}\n")
    line = one_error_line(["run", "--scenario", str(path), "--out", str(tmp_path / "o"),
                           "--no-progress"], capsys)
    assert "workload.bank.n_customers" in line and "would not fit" in line


# ---------------------------------------------------------------- 12: errors naming the file

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@pytest.mark.parametrize("content", [os.urandom(512), PNG], ids=["random", "png"])
def test_binary_scenario_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(b"\x89" + content)  # never valid UTF-8
    line = one_error_line(["run", "--scenario", str(path), "--out", str(tmp_path / "o")], capsys)
    assert str(path) in line and "not a YAML text file" in line


@pytest.mark.parametrize(
    ("text", "key", "line_no"),
    [("name: a\nseed: 1\nseed: 2\n", "seed", 3),
     ("workload:\n  speedup: 2.0\n  kind: replay\n  speedup: 3.0\n", "speedup", 4),
     ("alerts: {threshold: 0.5, threshold: 0.9}\n", "threshold", 1)],
)
def test_duplicate_scenario_keys_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, line_no: int
) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    line = one_error_line(["run", "--scenario", str(path), "--out", str(tmp_path / "o")], capsys)
    assert str(path) in line and f"duplicate key '{key}'" in line and f"line {line_no}" in line


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("x: &base {threshold: 0.5, cards_per_day: 3}\nalerts:\n  <<: *base\n"
                    "  threshold: 0.9\n")
    with pytest.raises(ValueError, match="x"):  # 'x' is no field; the merge itself is fine
        Scenario.from_yaml(path)
    path.write_text("alerts: {threshold: 0.5}\n")
    assert Scenario.from_yaml(path).alerts.threshold == 0.5


def raw_table(n: int = 30) -> pd.DataFrame:
    seconds = pd.Series(range(n)) * 3600
    return pd.DataFrame({
        "TRANSACTION_ID": range(n),
        "TX_DATETIME": pd.Timestamp("2018-04-01") + pd.to_timedelta(seconds, unit="s"),
        "CUSTOMER_ID": [i % 3 for i in range(n)],
        "TERMINAL_ID": [i % 4 for i in range(n)],
        "TX_AMOUNT": [10.0 + i for i in range(n)],
        "TX_TIME_SECONDS": seconds,
        "TX_TIME_DAYS": seconds // 86400,
        "TX_FRAUD": [int(i % 5 == 0) for i in range(n)],
        "TX_FRAUD_SCENARIO": [int(i % 5 == 0) for i in range(n)],
    }).loc[:, list(RAW_COLUMNS)]


@pytest.mark.parametrize(
    ("name", "content"),
    [("plain.csv.gz", "text"), ("random.csv.gz", "random"), ("random.csv", "random"),
     ("random.parquet", "random"), ("plain.csv.bz2", "text")],
)
def test_a_file_that_is_not_its_format_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str
) -> None:
    path = tmp_path / name
    if content == "text":
        path.write_text(raw_table().to_csv(index=False))
    else:
        path.write_bytes(b"\xff\xfe" + os.urandom(2048))
    with pytest.raises(InputError, match="is not a readable") as info:
        read_transactions(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    line = one_error_line(["baseline", "--transactions", str(path)], capsys)
    assert str(path) in line


@pytest.mark.parametrize("value", [7, -1, 2])
def test_labels_other_than_0_and_1_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: int
) -> None:
    frame = raw_table()
    frame.loc[4, "TX_FRAUD"] = value
    path = tmp_path / "labels.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        read_transactions(path)
    text = str(info.value)
    assert str(path) in text and "TX_FRAUD" in text and "0 or 1" in text and f"{value}" in text
    line = one_error_line(["baseline", "--transactions", str(path)], capsys)
    assert str(path) in line and "TX_FRAUD" in line and "0 or 1" in line


@pytest.mark.parametrize("last", ["transaction_ingestor", "feature_enricher", "fraud_detector",
                                  "alert_service"])
def test_the_budget_counts_the_series_the_monitor_writes(last) -> None:
    """``sim.budget`` counts as many monitoring rows per sample as a run writes (with node
    pools too), so the memory estimate follows the monitor when it gains a metric."""
    from sim import run
    from sim.budget import _series

    sc = with_changes(load_preset("small"), "last_stage", last)
    sc = with_changes(sc, "cluster.node_pools", {"cpu": {"nodes": 3}})
    per_sample = run(sc, progress=False).metrics.groupby("time_s").size().max()
    assert _series(sc) == per_sample

