"""Robustness: bad inputs, faults and edge cases across tinybots and the ``tinybots`` CLI.

Each test feeds one bad input and checks that the user gets a clear error naming the field
(CLI: one line on stderr, exit code 2), and that nothing is half-written or deleted.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from tinybots.errors import InputError
from tinybots.generator import HandbookConfig
from tinybots.io import read_transactions, validate_transactions
from tinybots.metrics import auc_roc, average_precision
from tinybots.modeling import make_model, run_baseline
from tinybots.registry import ModelRegistry


def _raw(n_days: int = 3, start: str = "2018-04-01", per_day: int = 6) -> pd.DataFrame:
    """A tiny, consistent raw table: ``per_day`` transactions a day, every third a fraud."""
    n = n_days * per_day
    seconds = np.arange(n) * (86_400 // per_day) + 60
    return pd.DataFrame({
        "TRANSACTION_ID": np.arange(n),
        "TX_DATETIME": pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s"),
        "CUSTOMER_ID": np.arange(n) % 4,
        "TERMINAL_ID": np.arange(n) % 5,
        "TX_AMOUNT": np.linspace(1.0, 90.0, n),
        "TX_TIME_SECONDS": seconds,
        "TX_TIME_DAYS": seconds // 86_400,
        "TX_FRAUD": (np.arange(n) % 3 == 0).astype(int),
        "TX_FRAUD_SCENARIO": (np.arange(n) % 3 == 0).astype(int),
    })


def _cli_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI, require exit code 2 and return its single stderr error line."""
    assert main(argv) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


# ---------------------------------------------------------------- tinybots generate


def test_generate_out_is_a_directory(tmp_path, capsys):
    out = tmp_path / "x.csv"
    out.mkdir()
    line = _cli_error(["generate", "--customers", "5", "--terminals", "5", "--days", "1",
                       "--out", str(out)], capsys)
    assert "--out" in line and out.is_dir()


def test_generate_out_parent_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("keep")
    line = _cli_error(["generate", "--customers", "5", "--terminals", "5", "--days", "1",
                       "--out", str(tmp_path / "f" / "x.csv")], capsys)
    assert "--out" in line and (tmp_path / "f").read_text() == "keep"


def test_generate_bad_size_is_one_concise_line(tmp_path, capsys):
    line = _cli_error(["generate", "--customers", "0", "--out", str(tmp_path / "x.csv")], capsys)
    assert "--customers" in line and "greater than or equal to 1" in line and "got 0" in line
    assert "errors.pydantic.dev" not in line


def test_generate_impossible_start_date(tmp_path, capsys):
    line = _cli_error(["generate", "--start", "2018-02-30", "--out", str(tmp_path / "x.csv")],
                      capsys)
    assert "start_date" in line and "2018-02-30" in line


def test_generate_calendar_must_fit_pandas_timestamps():
    """Days past 2262-04-11 silently wrapped round to 1677 (int64 nanosecond overflow)."""
    with pytest.raises(ValueError, match="start_date"):
        HandbookConfig(n_customers=5, n_terminals=5, nb_days=5, start_date="2262-04-09")
    with pytest.raises(ValueError, match="start_date"):
        HandbookConfig(n_customers=5, n_terminals=5, nb_days=1, start_date="1600-01-01")


def test_generate_huge_sizes_rejected_up_front():
    with pytest.raises(ValueError, match="n_customers"):
        HandbookConfig(n_customers=100_000_000)
    with pytest.raises(ValueError, match="nb_days"):
        HandbookConfig(nb_days=100_000)


# ---------------------------------------------------------------- reading tables


def test_duplicate_transaction_ids_rejected():
    raw = _raw()
    raw.loc[3, "TRANSACTION_ID"] = raw.loc[4, "TRANSACTION_ID"]
    with pytest.raises(InputError, match="TRANSACTION_ID.*duplicate"):
        validate_transactions(raw)


def test_negative_amount_rejected():
    raw = _raw()
    raw.loc[2, "TX_AMOUNT"] = -5.0
    with pytest.raises(InputError, match="TX_AMOUNT"):
        validate_transactions(raw)


def test_time_days_inconsistent_with_seconds_rejected():
    raw = _raw()
    raw.loc[2, "TX_TIME_DAYS"] = 99
    with pytest.raises(InputError, match="TX_TIME_DAYS"):
        validate_transactions(raw)


def test_bad_datetime_message_is_short_and_names_the_row(tmp_path):
    raw = _raw().astype({"TX_DATETIME": str})
    raw.loc[5, "TX_DATETIME"] = "2018-02-30 10:00:00"
    path = tmp_path / "t.csv"
    raw.to_csv(path, index=False)
    with pytest.raises(InputError, match="TX_DATETIME") as info:
        read_transactions(path)
    assert "2018-02-30 10:00:00" in str(info.value) and "row 5" in str(info.value)
    assert "You might want" not in str(info.value)


def test_wrong_delimiter_is_named(tmp_path):
    path = tmp_path / "t.csv"
    _raw().to_csv(path, index=False, sep=";")
    with pytest.raises(InputError, match="delimiter ';'"):
        read_transactions(path)


def test_unsorted_input_is_sorted_and_parquet_equals_csv(tmp_path):
    raw = _raw().sample(frac=1.0, random_state=3)
    raw.to_csv(tmp_path / "t.csv", index=False)
    raw.to_parquet(tmp_path / "t.parquet", index=False)
    a, b = read_transactions(tmp_path / "t.csv"), read_transactions(tmp_path / "t.parquet")
    assert a["TRANSACTION_ID"].is_monotonic_increasing
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------- baseline


def test_baseline_too_short_names_the_dates_needed():
    with pytest.raises(InputError) as info:
        run_baseline(_raw(n_days=3), start_date="2018-07-25", models=["decision_tree_depth_2"])
    text = str(info.value)
    assert "2018-07-25" in text and "2018-08-14" in text  # 21 days needed
    assert "2018-04-01" in text and "2018-04-03" in text  # what the table covers


def test_baseline_without_frauds_in_training_is_clear():
    raw = _raw(n_days=22)
    raw["TX_FRAUD"] = 0
    with pytest.raises(InputError, match="TX_FRAUD") as info:
        run_baseline(raw, start_date="2018-04-01", models=["logistic_regression"])
    assert "2018-04-01" in str(info.value) and "solver" not in str(info.value)


def test_baseline_cli_on_short_table(tmp_path, capsys):
    path = tmp_path / "t.csv"
    _raw(n_days=3).to_csv(path, index=False)
    line = _cli_error(["baseline", "--transactions", str(path)], capsys)
    assert "2018-07-25" in line and "2018-08-14" in line


# ---------------------------------------------------------------- metrics


def test_metrics_reject_nan_scores_naming_y_score():
    with pytest.raises(InputError, match="y_score"):
        auc_roc([0, 1, 0, 1], [0.1, float("nan"), 0.3, 0.9])


def test_metrics_reject_non_binary_labels():
    with pytest.raises(InputError, match="y_true"):
        average_precision([0, 2, 0, 2], [0.1, 0.2, 0.3, 0.9])


# ---------------------------------------------------------------- registry


@pytest.fixture
def registry_dir(tmp_path):
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(30, 2)), columns=["a", "b"])
    model = make_model("decision_tree_depth_2").fit(x, (x["a"] > 0).astype(int))
    root = tmp_path / "reg"
    ModelRegistry(root).register(model, kind="decision_tree_depth_2",
                                 training_window=("2018-04-01", "2018-04-07"),
                                 features=["a", "b"], metrics={"auc_roc": 1.0})
    return root


@pytest.mark.parametrize("tamper", [
    lambda d: (d / "v0001" / "meta.json").write_text("{not json"),
    lambda d: (d / "v0001" / "meta.json").unlink(),
    lambda d: (d / "v0001" / "meta.json").write_text(json.dumps({"version": 1})),
    lambda d: (d / "v0001" / "model.skops").write_bytes(b"not a zip"),
    lambda d: (d / "v0001" / "model.skops").unlink(),
    lambda d: shutil.copytree(d / "v0001", d / "v0002"),  # folder v0002 claims version 1
], ids=["bad-json", "no-meta", "meta-missing-keys", "garbage-model", "no-model", "wrong-version"])
def test_tampered_registry_is_a_clear_input_error(registry_dir, tamper):
    tamper(registry_dir)
    with pytest.raises(InputError, match="v000"):
        ModelRegistry(registry_dir)


def test_registry_ignores_stray_files(registry_dir):
    (registry_dir / "v0002.txt").write_text("notes")
    assert len(ModelRegistry(registry_dir)) == 1


# ---------------------------------------------------------------- tinybots run


def _run_error(argv, tmp_path, capsys):
    out = tmp_path / "out"
    line = _cli_error(["run", *argv, "--out", str(out), "--no-progress"], capsys)
    assert not out.exists()
    return line


def test_run_malformed_yaml(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("workload:\n  speedup: [1\n")
    line = _run_error(["--scenario", str(bad)], tmp_path, capsys)
    assert "bad.yaml" in line and "line" in line


def test_run_scenario_is_a_directory(tmp_path, capsys):
    (tmp_path / "sc").mkdir()
    line = _run_error(["--scenario", str(tmp_path / "sc")], tmp_path, capsys)
    assert "--scenario" in line


def test_run_missing_scenario_names_the_option(tmp_path, capsys):
    line = _run_error(["--scenario", str(tmp_path / "nope.yaml")], tmp_path, capsys)
    assert "--scenario" in line and "nope.yaml" in line


def test_run_bool_is_not_a_seed(tmp_path, capsys):
    sc = tmp_path / "s.yaml"
    sc.write_text("seed: true\n")
    assert "seed" in _run_error(["--scenario", str(sc)], tmp_path, capsys)


def test_run_nan_speedup_says_finite(tmp_path, capsys):
    line = _run_error(["--preset", "small", "--speedup", "nan"], tmp_path, capsys)
    assert "workload.speedup" in line and "finite" in line
    assert "errors.pydantic.dev" not in line


def test_run_refuses_to_replace_a_folder_that_is_not_a_results_folder(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    line = _cli_error(["run", "--preset", "small", "--out", str(out), "--no-progress"], capsys)
    assert "--out" in line
    assert (out / "thesis.tex").read_text() == "years of work"


def test_run_out_is_an_existing_file(tmp_path, capsys):
    out = tmp_path / "f"
    out.write_text("keep")
    line = _cli_error(["run", "--preset", "small", "--out", str(out), "--no-progress"], capsys)
    assert "--out" in line and out.read_text() == "keep"


def test_results_save_does_not_delete_a_foreign_folder(tmp_path):
    from sim.record.results import FRAMES, Results
    from sim.scenario import Scenario

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    frames = {name: pd.DataFrame({"x": [1]}) for name in FRAMES}
    try:
        Results(scenario=Scenario(), **frames).save(mine)
    except ValueError:
        pass
    assert (mine / "thesis.tex").exists()


def test_published_results_are_readable_by_others(tmp_path):
    """tempfile makes owner-only files; what we publish gets ordinary modes (0666/0777 - umask)."""
    import os

    from tinybots.io import write_transactions

    umask = os.umask(0o022)
    try:
        out = write_transactions(
            pd.DataFrame({"TRANSACTION_ID": [0], "TX_AMOUNT": [1.0]}), tmp_path / "t.csv"
        )
        assert out.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)
