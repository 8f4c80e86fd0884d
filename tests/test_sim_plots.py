"""Teaching views of a run (sim.analysis.plots): capacities and rho, traces, what-ifs, checks."""

from __future__ import annotations

import dataclasses
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sim import Scenario, load_preset, run, with_changes  # noqa: E402
from sim.analysis.plots import (  # noqa: E402
    check_choice,
    compare,
    compare_figure,
    example_traces,
    same_transaction_stream,
    stage_capacity,
    trace_figure,
    trace_spans,
    utilisation_table,
)


@pytest.fixture(scope="module")
def small():
    """The full four-stage pipeline on the tiny bank (about 2 s)."""
    return run(load_preset("small"), progress=False)


def _two_stage(enricher_replicas: int = 2, seed: int = 3) -> Scenario:
    return Scenario.from_dict({
        "seed": seed,
        "last_stage": "feature_enricher",
        "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": 20.0,
                     "live_duration_s": 15.0, "bank": {"n_customers": 50, "n_terminals": 80}},
        "deployments": {
            "feature_enricher": {"replicas": enricher_replicas, "max_poll_records": 5,
                                 "service": {"fixed_s": 0.01, "per_record_s": 0.02}}},
        "topics": {"transactions": {"partitions": 3}},
        "bus": {"kafka": {"rebalance_pause_s": 0.5}},
        "monitoring_interval_s": 1.0,
    })


def test_stage_capacity_formula_and_partition_cap() -> None:
    sc = with_changes(_two_stage(), "deployments.feature_enricher.concurrency", 2)
    cap = stage_capacity(sc)
    assert list(cap.index) == ["transaction_ingestor", "feature_enricher"]
    enr = cap.loc["feature_enricher"]
    assert enr["servers"] == 3  # 2 pods x 2 consumers = 4, but only 3 partitions
    assert enr["batch_service_s"] == pytest.approx(0.01 + 0.02 * 5)
    assert enr["capacity_per_s"] == pytest.approx(3 * 5 / 0.11)
    ing = sc.deployments.transaction_ingestor
    assert cap.loc["transaction_ingestor", "capacity_per_s"] == pytest.approx(
        ing.replicas / ing.service.per_record_s)


def test_utilisation_table_uses_measured_arrivals(small) -> None:
    table = utilisation_table(small, window_s=30.0)
    arr = small.transactions["arrival_s"]
    assert table["lambda_mean_per_s"].iloc[0] == pytest.approx(len(arr) / arr.max())
    peak = np.histogram(arr, bins=np.arange(0, arr.max() + 30, 30))[0].max() / 30
    assert table["lambda_peak_per_s"].iloc[0] == pytest.approx(peak)
    assert np.allclose(table["rho_peak"], peak / table["capacity_per_s"])
    busy = table["busy_measured"]
    assert busy.notna().all() and ((busy >= 0) & (busy <= 1)).all()
    with pytest.raises(ValueError, match="window_s"):
        utilisation_table(small, window_s=0.0)


def test_trace_spans_chain_adds_up_to_the_latency(small) -> None:
    tx = small.transactions.set_index("row")
    for tid in (0, len(tx) // 2, len(tx) - 1):
        hops = trace_spans(small, tid)
        assert list(hops["service"].astype(str)) == [
            "transaction_ingestor", "feature_enricher", "fraud_detector", "alert_service"]
        assert np.allclose(hops["enqueued_s"].iloc[1:], hops["end_s"].iloc[:-1])
        assert hops["enqueued_s"].iloc[0] == pytest.approx(tx.loc[tid, "arrival_s"])
        total = (hops["queue_wait_s"] + hops["service_s"]).sum()
        assert total == pytest.approx(tx.loc[tid, "latency_s"])
        deps = small.scenario.deployments
        assert hops["batch_records"].iloc[0] == 1  # the ingestor serves one request at a time
        for _, h in hops.iloc[1:].iterrows():
            assert 1 <= h.batch_records <= getattr(deps, str(h.service)).max_poll_records
    with pytest.raises(KeyError, match="no spans"):
        trace_spans(small, -5)


def test_example_traces_pick_what_they_promise(small) -> None:
    ex = example_traces(small)
    waits = small.spans.groupby("trace_id")["queue_wait_s"].sum()
    assert waits[ex["longest_wait"]] == waits.max()
    tx = small.transactions.set_index("row")
    assert tx.loc[ex["alerted_fraud"], "alerted"] and tx.loc[ex["alerted_fraud"], "label"] == 1
    none_alerted = dataclasses.replace(
        small, transactions=small.transactions.assign(alerted=False))
    assert "alerted_fraud" not in example_traces(none_alerted)


def test_trace_figure_one_panel_per_trace(small) -> None:
    fig = trace_figure(small, [0, 1], titles=["a", "b"])
    try:
        assert len(fig.axes) == 2
        assert [t.get_text() for t in fig.axes[0].get_yticklabels()][0] == "transaction_ingestor"
        assert fig.axes[0].get_title().startswith("a:")
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="at least one"):
        trace_figure(small, [])
    with pytest.raises(ValueError, match="titles"):
        trace_figure(small, [0], titles=["a", "b"])


def test_same_transaction_stream_under_a_pod_change_only() -> None:
    a = run(_two_stage(2), progress=False)
    b = run(_two_stage(3), progress=False)
    assert same_transaction_stream(a, b)
    assert not same_transaction_stream(a, run(_two_stage(2, seed=4), progress=False))
    shifted = dataclasses.replace(
        a, transactions=a.transactions.assign(arrival_s=a.transactions["arrival_s"] + 1e-6))
    assert not same_transaction_stream(a, shifted)
    table = compare({"two": a, "three": b}, keys=("generated", "latency_p95_s", "max_lag"))
    assert list(table.columns) == ["two", "three", "change"]
    assert table.loc["latency_p95_s", "three"] == b.summary_dict()["latency_p95_s"]
    assert table.loc["max_lag", "change"] == pytest.approx(
        b.summary_dict()["max_lag"] - a.summary_dict()["max_lag"])
    assert "change" not in compare({"two": a}).columns
    with pytest.raises(KeyError):
        compare({"two": a}, keys=("no_such_kpi",))
    fig = compare_figure({"two": a, "three": b}, topic="transactions", group="feature-enricher")
    try:
        assert [len(ax.lines) for ax in fig.axes] == [2, 2]
        assert all(len(line.get_xdata()) > 0 for line in fig.axes[0].lines)
    finally:
        plt.close(fig)


def test_check_choice_nearest_in_ratio(capsys) -> None:
    choices = {"a": 1.0, "b": 2.0, "c": 10.0}
    assert check_choice("c", choices, 5.0, name="r", hint="h")  # 5 is nearer 10 than 2 in ratio
    assert not check_choice("b", choices, 5.0, name="r", hint="think in ratios")
    assert "think in ratios" in capsys.readouterr().out
    assert not check_choice(None, choices, 1.1, name="r", hint="h")
    assert "no answer yet" in capsys.readouterr().out
    assert check_choice("a", choices, 1.1, name="r", hint="h")
    assert capsys.readouterr().out.startswith("✓")
    with pytest.raises(ValueError, match="one of"):
        check_choice("d", choices, 1.0, name="r", hint="h")
    with pytest.raises(ValueError, match="> 0"):
        check_choice("a", choices, math.nan, name="r", hint="h")
