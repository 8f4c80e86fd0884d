"""``tinybots run``: bad input exits 2 with one line and writes nothing; a small run writes
the results folder (sim.cli.run through sim.cli.main)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sim.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TINYBOTS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _fails_cleanly(argv, tmp_path, capsys, fragment):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tinybots run: error:") and fragment in err[-1]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_unknown_preset(tmp_path, capsys):
    _fails_cleanly(["run", "--preset", "nope"], tmp_path, capsys, "known presets")


def test_invalid_scenario_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployments:\n  fraud_detector:\n    replicas: 0\n")
    _fails_cleanly(
        ["run", "--scenario", str(bad)], tmp_path, capsys, "deployments.fraud_detector.replicas"
    )


def test_missing_scenario_file(tmp_path, capsys):
    _fails_cleanly(
        ["run", "--scenario", str(tmp_path / "nope.yaml")], tmp_path, capsys, "nope.yaml"
    )


def test_bad_speedup(tmp_path, capsys):
    _fails_cleanly(
        ["run", "--preset", "small", "--speedup", "-3"], tmp_path, capsys, "workload.speedup"
    )


def test_transactions_file_with_missing_columns(tmp_path, capsys):
    f = tmp_path / "t.csv"
    pd.DataFrame({"TRANSACTION_ID": [0], "TX_AMOUNT": [1.0]}).to_csv(f, index=False)
    _fails_cleanly(
        ["run", "--preset", "small", "--transactions", str(f)], tmp_path, capsys, "TX_DATETIME"
    )


def test_transactions_file_that_does_not_exist(tmp_path, capsys):
    _fails_cleanly(
        ["run", "--transactions", str(tmp_path / "none.csv")], tmp_path, capsys, "none.csv"
    )


@pytest.mark.slow
def test_small_run_writes_the_results_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["run", "--preset", "small", "--seed", "3", "--out", str(out), "--no-progress"]) == 0
    )
    files = {p.name for p in out.iterdir()}
    assert {
        "summary.json",
        "scenario.yaml",
        "dashboard.png",
        "transactions.parquet",
        "spans.parquet",
        "metrics.parquet",
        "incidents.parquet",
        "models.parquet",
    } <= files
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "generated",
        "completed",
        "in_flight",
        "shed",
        "dead_lettered",
        "lost",
        "throughput_per_s",
        "latency_p50_s",
        "latency_p95_s",
        "latency_p99_s",
        "average_precision",
        "card_precision_at_100",
        "wall_s",
    ):
        assert key in summary
    assert summary["completed"] == summary["generated"] > 0
    assert "seed: 3" in (out / "scenario.yaml").read_text()
    assert "latency_p95_s" in capsys.readouterr().out


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--speedup", "abc"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid float value: 'abc'" in err[0] and "--help" in err[0]


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    import sim.cli.run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.cli.run, "scenario_from_args", interrupted)
    assert main(["run", "--no-progress"]) == 130
    assert capsys.readouterr().err.strip() == "tinybots run: interrupted"


def test_default_results_folder_is_named_after_the_scenario(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--preset", "small", "--no-progress"]) == 0
    assert (tmp_path / "runs" / "small" / "summary.json").is_file()
    assert not (tmp_path / "runs" / "default").exists()  # the default run's results are safe
    assert main(["run", "--preset", "small", "--no-progress"]) == 0
    assert "will be replaced" in capsys.readouterr().err
