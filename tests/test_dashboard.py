"""The run dashboard (sim.analysis.dashboard): no spike from the last partial interval, notes in
empty
panels, readable legends, the event time of day on the time axis, defined figures in the title."""

from __future__ import annotations

import dataclasses
import doctest
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import sim.analysis.dashboard as dashboard  # noqa: E402
from sim import load_preset, run, with_changes  # noqa: E402
from sim.analysis.dashboard import plot_dashboard  # noqa: E402


@pytest.fixture(scope="module")
def small():
    """The full four-stage pipeline on the tiny bank (about 2 s); 2-s monitoring interval."""
    return run(load_preset("small"), progress=False)


@pytest.fixture(scope="module")
def mmc():
    """The one-stage ingestor_mmc preset, shortened: no consumer groups, no model, no alerts."""
    return run(with_changes(load_preset("ingestor_mmc"), "workload.live_duration_s", 300.0),
               progress=False)


PANELS = ("throughput", "latency", "lag", "pods", "utilisation", "alerts")


def _axes(fig):
    """The six panels by name, in the 3 x 2 grid's order (the secondary time axes are children
    of the top panels, not in ``fig.axes``)."""
    return dict(zip(PANELS, fig.axes[:6], strict=True))


def _texts(ax) -> str:
    return " ".join(t.get_text() for t in ax.texts)


def _line(ax, label: str):
    return next(line for line in ax.lines if line.get_label() == label)


def _constructed_metrics(interval_s: float) -> pd.DataFrame:
    """Ten full intervals at 2 completions/s and 10 % busy, then a 0.1-s partial interval with
    one completion (10/s) during one busy poll (0.99): the monitor's end-of-run sample."""
    times = [interval_s * (i + 1) for i in range(10)]
    end = times[-1] + 0.1
    rows = []
    for t in [*times, end]:
        last = t == end
        rows += [
            (t, "tinybots_completed_per_s", "", 10.0 if last else 2.0),
            (t, "tinybots_arrivals_per_s", "", 0.0 if last else 2.0),
            (t, "tinybots_utilisation", "deployment=feature_enricher", 0.99 if last else 0.1),
            (t, "tinybots_e2e_latency_seconds", "quantile=0.95", 9.0 if last else 1.0),
            (t, "kafka_consumergroup_lag", "topic=transactions,group=feature-enricher", 3.0),
            (t, "kube_deployment_status_replicas_ready", "deployment=feature_enricher", 2.0),
            (t, "tinybots_alerts_total", "", 1.0),
        ]
    return pd.DataFrame(rows, columns=["time_s", "name", "labels", "value"])


def test_last_partial_interval_draws_no_spike(small) -> None:
    interval = small.scenario.monitoring_interval_s
    metrics = _constructed_metrics(interval)
    end = metrics["time_s"].max()
    fig = plot_dashboard(dataclasses.replace(small, metrics=metrics))
    try:
        panels = _axes(fig)
        done = _line(panels["throughput"], "completed")
        assert done.get_xdata()[-1] == pytest.approx(end)  # the end of the run is still drawn
        merged = (2.0 * interval + 10.0 * 0.1) / (interval + 0.1)  # one rate over both intervals
        assert done.get_ydata()[-1] == pytest.approx(merged)
        assert max(done.get_ydata()) < 2.5
        util = _line(panels["utilisation"], "feature-enricher")
        assert max(util.get_ydata()) < 0.2
        p95 = _line(panels["latency"], "p95")
        assert max(p95.get_xdata()) == pytest.approx(end - 0.1)  # too short for a percentile
        lag = panels["lag"].lines[0]
        assert lag.get_xdata()[-1] == pytest.approx(end)  # levels are kept
    finally:
        plt.close(fig)
    assert dashboard.settle_last_interval(metrics.iloc[:-7], interval).equals(metrics.iloc[:-7])
    settled = dashboard.settle_last_interval(metrics, interval)
    assert len(settled) == len(metrics) - 4  # 3 series merged, 1 percentile dropped


def test_compare_figure_drops_the_short_last_percentile(small) -> None:
    from sim.analysis.plots import compare_figure

    metrics = _constructed_metrics(small.scenario.monitoring_interval_s)
    fig = compare_figure({"a": dataclasses.replace(small, metrics=metrics)})
    try:
        assert max(fig.axes[1].lines[0].get_ydata()) == pytest.approx(1.0)  # not the 9-s spike
    finally:
        plt.close(fig)


def test_empty_panels_say_why_and_title_has_no_nan(mmc) -> None:
    fig = plot_dashboard(mmc)
    try:
        panels = _axes(fig)
        lag = panels["lag"]
        assert not lag.lines and "no consumer groups in this run" in _texts(lag)
        alerts = panels["alerts"]
        assert not alerts.lines and "no alert-service in this run" in _texts(alerts)
        title = fig._suptitle.get_text()
        assert "nan" not in title.lower() and "AP" not in title and "CP@100" not in title
        assert "p95 latency" in title
        for name, ax in panels.items():
            if ax.lines:
                assert not ax.texts, name
    finally:
        plt.close(fig)


def test_legends_name_topics_groups_and_deployments(small) -> None:
    fig = plot_dashboard(small)
    try:
        panels = _axes(fig)
        legends = {name: [t.get_text() for t in ax.get_legend().get_texts()]
                   for name, ax in panels.items() if ax.get_legend()}
        lag = legends["lag"]
        assert lag[0] == "transactions → feature-enricher"  # pipeline order
        util = legends["utilisation"]
        assert util[:2] == ["transaction-ingestor", "feature-enricher"]
        assert legends["latency"] == ["p50", "p95", "p99"]
        every = [label for labels in legends.values() for label in labels]
        assert not [label for label in every if "=" in label or label.startswith("tinybots_")]
    finally:
        plt.close(fig)
    assert dashboard.readable_label('group="feature-enricher",topic="transactions"') == (
        "transactions → feature-enricher")


def _event_axis_labels(fig, panel: str) -> list[str]:
    fig.canvas.draw()
    ax = _axes(fig)[panel]
    (sec,) = ax.child_axes
    return [t.get_text() for t in sec.get_xticklabels() if t.get_text()]


def test_time_axis_gives_the_event_time_of_day(small, mmc) -> None:
    fig = plot_dashboard(small)  # 10:00 + 200 x processing s, for about 72 s
    try:
        labels = _event_axis_labels(fig, "throughput")
        assert {"10:00", "11:00", "12:00", "13:00"} <= set(labels)
        assert all(re.fullmatch(r"\d\d:\d\d", t) for t in labels)
        assert _event_axis_labels(fig, "latency") == labels
    finally:
        plt.close(fig)
    fig = plot_dashboard(mmc)  # Poisson, 00:00 + 1 x processing s, for about 300 s
    try:
        labels = _event_axis_labels(fig, "throughput")
        assert labels[:3] == ["00:00", "00:01", "00:02"]
    finally:
        plt.close(fig)


def test_dashboard_doctests() -> None:
    assert doctest.testmod(dashboard).failed == 0
