"""Dead-lettering through a real path: a replayed transaction file carrying bad events.

A real stream carries events that break the schema; the transaction-ingestor dead-letters each
with its reason (``docs/architecture.md``, "Conservation and outcomes"). The table reader keeps
such rows only when asked (``read_transactions(path, rows="keep")``, which ``sim.workload`` uses
for replay files); training (``tinybots baseline``) still refuses the file, and the bad rows of
the history never reach the model or the feature store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.scenario import with_changes
from sim.workload import build_workload, event_seconds, load_bank
from tinybots.errors import InputError
from tinybots.io import read_transactions, write_transactions
from tinybots.schema import event_schema_violations

AMOUNT_REASON = "schema: TX_AMOUNT must be finite and >= 0"
TERMINAL_REASON = "schema: TERMINAL_ID must be >= 0"


@pytest.fixture(scope="module")
def bad_file(small, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, str]]:
    """The small preset's bank with three negative amounts and one negative terminal id in the
    live window, and two negative amounts in the history; returns the file and, per
    TRANSACTION_ID of a bad live row, its expected reason."""
    raw = load_bank(small.workload).copy()
    w = small.workload
    t = event_seconds(raw["TX_DATETIME"])
    start = float(pd.Timestamp("2018-04-01").value / 1e9) + w.live_start_day * 86400.0 \
        + w.live_start_hour * 3600.0
    live = np.flatnonzero((t >= start) & (t < start + w.live_duration_s))
    history = np.flatnonzero(t < start - 86400.0)
    assert len(live) > 20 and len(history) > 20
    pick = live[[1, len(live) // 2, len(live) - 2]]
    raw.loc[pick, "TX_AMOUNT"] = -raw.loc[pick, "TX_AMOUNT"] - 1.0
    bad_terminal = live[5]
    raw.loc[bad_terminal, "TERMINAL_ID"] = -3
    raw.loc[history[[3, 10]], "TX_AMOUNT"] = -7.5
    expected = {int(raw.loc[i, "TRANSACTION_ID"]): AMOUNT_REASON for i in pick}
    expected[int(raw.loc[bad_terminal, "TRANSACTION_ID"])] = TERMINAL_REASON
    path = write_transactions(raw, tmp_path_factory.mktemp("bad") / "bad.parquet")
    return path, expected


def test_reader_keeps_schema_violations_only_when_asked(bad_file) -> None:
    path, expected = bad_file
    with pytest.raises(InputError, match="TERMINAL_ID must be >= 0|TX_AMOUNT must be finite"):
        read_transactions(path)
    kept = read_transactions(path, rows="keep")
    assert int(event_schema_violations(kept).sum()) == len(expected) + 2


def test_reader_still_refuses_structural_errors_in_keep_mode(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "TRANSACTION_ID": [0, 1], "TX_DATETIME": ["2018-04-01 00:00:01", "2018-04-01 00:00:02"],
        "CUSTOMER_ID": [0, 1], "TERMINAL_ID": [0, 1], "TX_AMOUNT": [-1.0, 2.0],
        "TX_TIME_SECONDS": [1, 2], "TX_TIME_DAYS": [0, 0], "TX_FRAUD": [0, 2],
        "TX_FRAUD_SCENARIO": [0, 0],
    })
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match="TX_FRAUD must be 0 or 1"):
        read_transactions(path, rows="keep")
    frame.drop(columns="TERMINAL_ID").to_csv(path, index=False)
    with pytest.raises(InputError, match="missing column"):
        read_transactions(path, rows="keep")
    frame.assign(TX_FRAUD=0, TX_AMOUNT=["x", "2"]).to_csv(path, index=False)
    with pytest.raises(InputError, match="TX_AMOUNT must be numeric"):
        read_transactions(path, rows="keep")
    with pytest.raises(InputError, match="rows must be 'reject' or 'keep'"):
        read_transactions(path, rows="maybe")  # type: ignore[arg-type]


def test_replayed_bad_events_are_dead_lettered_with_their_reason(small, bad_file) -> None:
    path, expected = bad_file
    sc = with_changes(small, "workload.transactions_path", str(path))
    res = sim.run(sc, progress=False)
    tx = res.transactions
    dead = tx.loc[tx["outcome"] == "dead_lettered"]
    assert dict(zip(dead["tx_id"].astype(int), dead["reason"], strict=True)) == expected
    assert (dead["outcome_stage"] == "transaction_ingestor").all()
    assert dead["enrich_start_s"].isna().all()  # never reached the enricher
    s = res.summary_dict()
    assert s["dead_lettered"] == len(expected)
    assert s["generated"] == (s["completed"] + s["in_flight"] + s["shed"]
                              + s["dead_lettered"] + s["lost"]) == len(tx)
    assert s["completed"] == len(tx) - len(expected)


def test_bad_history_rows_never_reach_training_or_the_store(small, bad_file) -> None:
    path, _ = bad_file
    spec = with_changes(small, "workload.transactions_path", str(path)).workload
    rng = np.random.default_rng(0)
    table = build_workload(spec, rng, rng)
    assert table.history is not None
    assert not event_schema_violations(table.history).any()
    assert len(table.history) == int((event_seconds(read_transactions(path, rows="keep")[
        "TX_DATETIME"]) < table.live_start_s).sum()) - 2


def test_baseline_still_refuses_a_file_with_bad_events(bad_file, capsys) -> None:
    path, _ = bad_file
    assert main(["baseline", "--transactions", str(path)]) == 2
    err = capsys.readouterr().err
    assert "TX_AMOUNT must be finite and >= 0" in err or "TERMINAL_ID must be >= 0" in err
