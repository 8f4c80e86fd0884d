"""The ``generate`` and ``baseline`` sub-commands via ``sim.cli.main``, and once as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from tinybots.io import read_transactions
from tinybots.schema import RAW_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
TRANSFORMED = "transformed/transactions_transformed_2018-07-25_2018-08-14.csv.gz"
RAW_FULL = "raw/transactions_raw_2018-04-01_2018-09-30.csv.gz"
BOOK = {  # docs/handbook_reference.md, section 3.2 (test week)
    "logistic_regression": (0.871, 0.606, 0.291),
    "decision_tree_depth_2": (0.763, 0.496, 0.241),
    "decision_tree": (0.788, 0.309, 0.243),
    "random_forest": (0.867, 0.658, 0.287),
}


def assert_matches_book(records: list[dict]) -> None:
    for rec in records:
        auc, ap, cp = BOOK[rec["model"]]
        assert abs(rec["auc_roc"] - auc) <= 0.002, rec
        assert abs(rec["average_precision"] - ap) <= 0.002, rec
        assert abs(rec["card_precision_at_100"] - cp) <= 0.005, rec


def test_baseline_json_on_transformed_file(handbook_data: Path, capsys) -> None:
    code = main(["baseline", "--transactions", str(handbook_data / TRANSFORMED),
                 "--models", "decision_tree_depth_2", "--json"])
    assert code == 0
    records = json.loads(capsys.readouterr().out)
    assert [list(r) for r in records] == [
        ["model", "auc_roc", "average_precision", "card_precision_at_100"]
    ]
    assert_matches_book(records)


def write_raw(tmp_path: Path, drop: tuple[str, ...] = ()) -> Path:
    """A one-row raw table, optionally without some columns."""
    frame = pd.DataFrame({c: [1] for c in RAW_COLUMNS}).assign(TX_DATETIME="2018-04-01 10:00:00")
    path = tmp_path / "raw.csv"
    frame.drop(columns=list(drop)).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("extra_args", "message"),
    [
        (["--models", "xgboost"], "unknown model 'xgboost'"),
        (["--start", "July"], "start_date"),
    ],
)
def test_baseline_bad_options_exit_2(tmp_path: Path, capsys, extra_args, message) -> None:
    path = write_raw(tmp_path)
    assert main(["baseline", "--transactions", str(path), *extra_args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_baseline_missing_column_and_missing_file_exit_2(tmp_path: Path, capsys) -> None:
    path = write_raw(tmp_path, drop=("TERMINAL_ID",))
    assert main(["baseline", "--transactions", str(path)]) == 2
    assert "['TERMINAL_ID']" in capsys.readouterr().err
    assert main(["baseline", "--transactions", str(tmp_path / "absent.csv")]) == 2
    assert "not found" in capsys.readouterr().err


def generator_ready() -> bool:
    import tinybots.generator as gen

    return hasattr(gen, "generate_transactions") and hasattr(gen, "HandbookConfig")


needs_generator = pytest.mark.skipif(not generator_ready(), reason="tinybots.generator not landed")


@needs_generator
def test_generate_small_then_baseline_from_raw(tmp_path: Path, capsys) -> None:
    out = tmp_path / "small.parquet"
    args = ["generate", "--customers", "300", "--terminals", "600", "--days", "40",
            "--start", "2018-04-01", "--out", str(out), "--n-jobs", "1"]
    assert main(args) == 0
    summary = capsys.readouterr().out.strip()
    frame = read_transactions(out)
    assert summary.startswith(f"wrote {len(frame):,} transactions") and "\n" not in summary
    assert frame["TX_TIME_DAYS"].max() == 39
    code = main(["baseline", "--transactions", str(out), "--start", "2018-04-20",
                 "--models", "logistic_regression", "--json"])
    assert code == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert 0.5 < record["auc_roc"] <= 1.0  # the scenario-1 amount rule alone beats chance


@needs_generator
def test_generate_rejects_bad_values_before_running(tmp_path: Path, capsys) -> None:
    assert main(["generate", "--out", str(tmp_path / "t.xlsx"), "--days", "1"]) == 2
    assert "extension" in capsys.readouterr().err
    assert main(["generate", "--customers", "-5", "--out", str(tmp_path / "t.csv")]) == 2
    assert "customers" in capsys.readouterr().err


def test_console_script_as_a_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "baseline", "--transactions", str(tmp_path / "no.csv")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("tinybots baseline: error:") and proc.stderr.count("\n") == 1


@pytest.mark.slow
def test_baseline_on_full_raw_history_reproduces_the_book(handbook_data: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "baseline", "--transactions",
         str(handbook_data / RAW_FULL), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert [r["model"] for r in records] == list(BOOK)
    assert_matches_book(records)
