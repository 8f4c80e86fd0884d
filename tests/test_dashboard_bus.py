"""The bus on the dashboard (sim.analysis.dashboard_bus): rebalance pauses shaded on the time axis
of the lag and latency panels per group, and a panel of shed / lost / dead-lettered records over
time with their reasons (drop incidents, else the totals metrics) beside a table of the
transactions per outcome and reason, or "nothing shed or lost" in the title."""

from __future__ import annotations

import dataclasses
import doctest

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import sim.analysis.dashboard_bus as dashboard_bus  # noqa: E402
import sim.analysis.timeaxis as timeaxis  # noqa: E402
from sim import load_preset, run, with_changes  # noqa: E402
from sim.analysis.dashboard import plot_dashboard  # noqa: E402
from sim.record.incidents import drop_detail  # noqa: E402

CRASH = [{"deployment": "feature_enricher", "at_s": 20}]


@pytest.fixture(scope="module")
def small():
    """The four-stage pipeline on the tiny bank, nothing dropped (about 2 s)."""
    return run(load_preset("small"), progress=False)


@pytest.fixture(scope="module")
def crash():
    """``small`` with the feature-enricher's pod crashing at 20 s (restart after 10 s)."""
    return run(with_changes(load_preset("small"), "faults", CRASH), progress=False)


@pytest.fixture(scope="module")
def shedding():
    """``small`` with one ingress server and no ingress queue: requests are shed (M/M/1/1)."""
    s = with_changes(load_preset("small"), "deployments.transaction_ingestor.queue_limit", 0)
    return run(with_changes(s, "deployments.transaction_ingestor.replicas", 1), progress=False)


def _panel(fig, title: str):
    return next(a for a in fig.axes if a.get_title().startswith(title))


def _spans(ax, group: str) -> list[tuple[float, float]]:
    """The (start, end) of the pause spans of ``group`` on ``ax``, in processing seconds."""
    return sorted((p.get_x(), p.get_x() + p.get_width()) for p in ax.patches
                  if isinstance(p, Rectangle) and p.get_gid() == f"rebalance:{group}")


def _legend_texts(ax) -> list[str]:
    return [t.get_text() for c in ax.get_children() if isinstance(c, Legend)
            for t in c.get_texts()]


def _incidents(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["time_s", "kind", "target", "detail", "duration_s"])


def _with_drops(res, outcomes: dict[str, tuple[str, str, int]]):
    """``res`` with the first transactions given each outcome: ``{outcome: (reason, stage, n)}``."""
    t = res.transactions.copy()
    out, reason, stage = (t[c].astype(str).to_numpy().copy()
                          for c in ("outcome", "reason", "outcome_stage"))
    at = 0
    for outcome, (why, where, n) in outcomes.items():
        out[at:at + n], reason[at:at + n], stage[at:at + n] = outcome, why, where
        at += n
    t["outcome"], t["reason"], t["outcome_stage"] = (pd.Categorical(c) for c in (out, reason,
                                                                                  stage))
    return t


def test_rebalance_pauses_are_shaded_per_group(small) -> None:
    inc = _incidents([
        (10.0, "rebalance", "feature-enricher", "generation 2", 4.0),
        (30.0, "rebalance", "fraud-detector", "generation 2", 2.5),
        (40.0, "rebalance", "label-feed", "generation 2", 1.0),
        (50.0, "rebalance", "feature-enricher", "generation 3, cooperative", 0.0),  # no pause
        (55.0, "pod_crash", "feature_enricher-0", "restart in 10 s", 10.0),
    ])
    fig = plot_dashboard(dataclasses.replace(small, incidents=inc))
    try:
        lag, latency = _panel(fig, "Consumer lag"), _panel(fig, "End-to-end latency")
        assert _spans(lag, "feature-enricher") == [(10.0, 14.0)]
        assert _spans(lag, "fraud-detector") == [(30.0, 32.5)]
        assert _spans(lag, "label-feed") == [(40.0, 41.0)]
        line = next(li for li in lag.lines if li.get_label() == "transactions → feature-enricher")
        span = next(p for p in lag.patches if p.get_gid() == "rebalance:feature-enricher")
        assert matplotlib.colors.same_color(span.get_facecolor()[:3], line.get_color())
        assert any("rebalance pause" in t for t in _legend_texts(lag))
        assert _spans(latency, "feature-enricher") == [(10.0, 14.0)]
        assert _spans(latency, "fraud-detector") == [(30.0, 32.5)]
        assert _spans(latency, "label-feed") == []  # not on the transaction path
        pauses = [t for t in _legend_texts(latency) if "pause" in t]
        assert pauses == ["feature-enricher: 1 pause, 4 s", "fraud-detector: 1 pause, 2.5 s"]
        assert [t.get_text() for t in latency.get_legend().get_texts()] == ["p50", "p95", "p99"]
    finally:
        plt.close(fig)
    fig = plot_dashboard(dataclasses.replace(small, incidents=inc[inc["kind"] != "rebalance"]))
    try:  # no rebalance (an SQS or RabbitMQ bus): no span, no pause legend
        for ax in (_panel(fig, "Consumer lag"), _panel(fig, "End-to-end latency")):
            assert not ax.patches and not [t for t in _legend_texts(ax) if "pause" in t]
    finally:
        plt.close(fig)


def test_crashed_pod_rebalances_show_on_the_time_axis(crash) -> None:
    inc = crash.incidents
    reb = inc[(inc["kind"] == "rebalance") & (inc["target"] == "feature-enricher")]
    assert (reb["time_s"] >= 20.0).any()  # the crash (once noticed) and the restart rebalance
    pause = crash.scenario.bus.kafka.rebalance_pause_s
    expected = [(t, t + (d if np.isfinite(d) else pause))
                for t, d in zip(reb["time_s"], reb["duration_s"], strict=True)]
    fig = plot_dashboard(crash)
    try:
        for panel in ("Consumer lag", "End-to-end latency"):
            spans = _spans(_panel(fig, panel), "feature-enricher")
            assert np.allclose(spans, sorted(expected))
        assert "nothing shed or lost" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_nothing_dropped_says_so_and_adds_no_panel(small) -> None:
    fig = plot_dashboard(small)
    try:
        assert len(fig.axes) == 6
        assert "nothing shed or lost" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_drops_draw_a_cumulative_line_per_reason_and_a_table(small) -> None:
    end = float(small.metrics["time_s"].max())
    inc = _incidents([
        (12.0, "records_lost", "transactions", drop_detail(3, "records", "transactions",
                                                           "retention"), np.nan),
        (30.0, "records_lost", "transactions", drop_detail(2, "records", "transactions",
                                                           "retention"), np.nan),
        (15.0, "records_shed", "features-ready", drop_detail(3, "records", "features-ready",
                                                             "topic full"), np.nan),
        (40.0, "records_dead_lettered", "fraud-scores",
         drop_detail(2, "records", "fraud-scores", "max_receive_count 3 reached"), np.nan),
        (45.0, "records_lost", "labels", drop_detail(4, "labels", "labels", "retention"), np.nan),
    ])
    tx = _with_drops(small, {"lost": ("retention", "feature_enricher", 5),
                             "shed": ("topic full", "feature_enricher", 3),
                             "dead_lettered": ("max_receive_count 3 reached", "alert_service",
                                               2)})
    fig = plot_dashboard(dataclasses.replace(small, incidents=inc, transactions=tx))
    try:
        assert len(fig.axes) == 8
        drops = _panel(fig, "Shed, lost and dead-lettered")
        lines = {li.get_label(): li for li in drops.lines}
        assert set(lines) == {"shed: topic full — 3", "lost: retention — 5",
                              "lost: retention (labels) — 4",
                              "dead-lettered: max_receive_count 3 reached — 2"}
        lost = lines["lost: retention — 5"]
        assert list(lost.get_xdata()) == [0.0, 12.0, 30.0, end]
        assert list(lost.get_ydata()) == [0.0, 3.0, 5.0, 5.0]
        assert lost.get_color() != lines["shed: topic full — 3"].get_color()
        table = _panel(fig, "Transactions by outcome and reason")
        cells = [c.get_text().get_text() for c in table.tables[0].get_celld().values()]
        assert {"retention", "topic full", "max_receive_count 3 reached", "5", "3", "2",
                "feature-enricher", "alert-service"} <= set(cells)
        assert "3 shed, 5 lost, 2 dead-lettered" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_drops_without_incidents_fall_back_to_the_totals_metric(small) -> None:
    m = small.metrics
    times = np.unique(m["time_s"])
    total = pd.DataFrame({"time_s": times, "name": "tinybots_shed_total", "labels": "",
                          "value": np.minimum(np.arange(len(times)), 6.0)})
    metrics = pd.concat([m[m["name"] != "tinybots_shed_total"], total], ignore_index=True)
    tx = _with_drops(small, {"shed": ("ingress queue full", "transaction_ingestor", 6)})
    res = dataclasses.replace(small, metrics=metrics, transactions=tx)
    fig = plot_dashboard(res)
    try:
        (line,) = _panel(fig, "Shed, lost and dead-lettered").lines
        assert line.get_label() == "shed: ingress queue full — 6"
        assert line.get_ydata()[-1] == 6.0
    finally:
        plt.close(fig)
    inc = _incidents([(15.0, "records_shed", "transactions",
                       drop_detail(2, "records", "transactions", "producer buffer full"),
                       np.nan)])
    fig = plot_dashboard(dataclasses.replace(res, incidents=inc))  # 2 of the 6 have an incident
    try:
        labels = [li.get_label() for li in _panel(fig, "Shed, lost and dead-lettered").lines]
        assert labels == ["shed: producer buffer full — 2", "shed: all reasons — 6"]
    finally:
        plt.close(fig)


def test_a_shedding_run_shows_its_reason(shedding) -> None:
    t = shedding.transactions
    shed = t[t["outcome"] == "shed"]
    assert len(shed) > 0
    (reason,) = shed["reason"].astype(str).unique()
    fig = plot_dashboard(shedding)
    try:
        (line,) = _panel(fig, "Shed, lost and dead-lettered").lines
        assert line.get_label() == f"shed: {reason} — {len(shed)}"
        table = _panel(fig, "Transactions by outcome and reason")
        cells = [c.get_text().get_text() for c in table.tables[0].get_celld().values()]
        assert reason in cells and str(len(shed)) in cells
        assert f"{len(shed)} shed" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_doctests() -> None:
    assert doctest.testmod(dashboard_bus).failed == 0
    assert doctest.testmod(timeaxis).failed == 0


def test_pod_crashes_are_marked_on_the_lag_panel_once_in_the_legend() -> None:
    from sim import load_preset, run, with_changes
    from sim.analysis.dashboard import plot_dashboard

    sc = with_changes(load_preset("small"), "faults", [{"deployment": "feature_enricher",
                                                       "at_s": 20.0}])
    fig = plot_dashboard(run(sc, progress=False))
    lag = next(a for a in fig.axes if a.get_title().startswith("Consumer lag"))
    marks = [li for li in lag.lines if str(li.get_gid()).startswith("pod_crash:")]
    assert [float(m.get_xdata()[0]) for m in marks] == [20.0]
    labels = [t.get_text() for t in lag.get_legend().get_texts()]
    plt.close(fig)
    assert labels.count("pod crash") == 1 and not any(t.startswith("_") for t in labels)
