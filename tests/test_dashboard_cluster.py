"""The cluster on the dashboards (sim.analysis.dashboard_cluster, sim.analysis.scaling_panels):
the scaling decisions read from real runs, replicas with ▲ / ▼ per changed decision, Pending
pods when a node pool is too small, node pools, the focused scaling figure, and the main
dashboard's replicas panel."""

from __future__ import annotations

import doctest

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import sim.analysis.dashboard_cluster as dashboard_cluster  # noqa: E402
import sim.analysis.scaling_panels as scaling_panels  # noqa: E402
from sim import load_preset, run, with_changes  # noqa: E402
from sim.analysis.dashboard import plot_dashboard  # noqa: E402
from sim.analysis.dashboard_cluster import (  # noqa: E402
    draw_nodes,
    draw_replicas,
    plot_scaling,
    scaling_decisions,
)

BURST = [{"start_s": 10, "duration_s": 20, "multiplier": 8}]


def _small(**changes):
    sc = load_preset("small")
    for path, value in changes.items():
        sc = with_changes(sc, path.replace("__", "."), value)
    return run(sc, progress=False)


@pytest.fixture(scope="module")
def scaled():
    """The small pipeline with an HPA on the enricher (target 50 %, 5-s syncs, 10-s scale-down
    window) under an 8x burst, on one 3-core node of 6 half-core pods (full) with a Cluster
    Autoscaler: the enricher scales 1 -> 2 -> 1, its new pod Pending until a node is added."""
    return _small(
        deployments__feature_enricher__autoscaling={
            "kind": "hpa", "min_replicas": 1, "max_replicas": 4, "sync_period_s": 5,
            "hpa": {"target_utilization": 0.5},
            "behavior": {"scale_down_stabilization_s": 10}},
        workload__bursts=BURST,
        cluster__node_pools={"cpu": {"nodes": 1, "cpu": 3.0, "autoscaler": {
            "max_nodes": 3, "node_startup_s": 15}}},
    )


@pytest.fixture(scope="module")
def plain():
    """The small preset as it is: fixed replicas, no node pools."""
    return _small()


@pytest.fixture(scope="module")
def too_small():
    """One node of 1 core for half-core pods, 3 enricher pods: two of them stay Pending."""
    return _small(cluster__node_pools={"cpu": {"nodes": 1, "cpu": 1.0}},
                  deployments__feature_enricher__replicas=3, max_duration_s=60.0)


def _gids(ax, prefix: str) -> dict[str, object]:
    return {str(a.get_gid()).split(":", 1)[1]: a for a in [*ax.lines, *ax.collections]
            if str(a.get_gid()).startswith(prefix + ":")}


def _marker_points(ax, what: str) -> int:
    return sum(len(line.get_xdata()) for line in _gids(ax, what).values())


def test_doctests() -> None:
    for module in (dashboard_cluster, scaling_panels):
        assert doctest.testmod(module).failed == 0


def test_decisions_of_a_real_run_parse_and_chain(scaled) -> None:
    inc = scaled.incidents
    d = scaling_decisions(inc)
    assert len(d) == (inc["kind"] == "scaling_decision").sum() > 5
    assert set(d["deployment"]) == {"feature_enricher"} and set(d["trigger"]) == {"cpu"}
    assert d["changed"].sum() == scaled.summary_dict()["scaling_changes"]
    assert (d["direction"] == 1).sum() >= 1 and (d["direction"] == -1).sum() >= 1
    assert np.isfinite(d["cpu"]).all() and (d["target"] == 0.5).all()
    assert d["lag"].isna().all()
    # each sync starts from the replicas the previous one applied
    assert (d["current"].to_numpy()[1:] == d["applied"].to_numpy()[:-1]).all()


def test_decisions_of_keda_details_and_of_no_autoscaler() -> None:
    inc = pd.DataFrame({
        "time_s": [5.0, 10.0, 12.0], "kind": ["scaling_decision", "pod_ready", "scaling_decision"],
        "target": ["fraud_detector", "fraud_detector-0", "fraud_detector"],
        "detail": ["lag=713 threshold=20 partitions_cap=6 current=2 desired=36 stabilized=36 "
                   "applied=6", "after 1 s", "lag=0 threshold=20 partitions_cap=none current=6 "
                   "desired=1 stabilized=6 applied=6"],
        "duration_s": [np.nan] * 3})
    d = scaling_decisions(inc)
    assert d[["lag", "threshold", "desired", "applied", "direction"]].iloc[0].tolist() == [
        713.0, 20.0, 36, 6, 1]
    assert d["partitions_cap"].iloc[0] == 6 and np.isnan(d["partitions_cap"].iloc[1])
    assert d["changed"].tolist() == [True, False] and (d["trigger"] == "lag").all()
    empty = scaling_decisions(inc[inc["kind"] == "pod_ready"])
    assert empty.empty and {"changed", "cpu", "lag", "applied"} <= set(empty.columns)


def test_replicas_draw_one_marker_per_changed_decision(scaled) -> None:
    d = scaling_decisions(scaled.incidents)
    fig, ax = plt.subplots()
    assert draw_replicas(ax, scaled) == ["feature_enricher"]
    assert _marker_points(ax, "scale-up") == (d["direction"] == 1).sum()
    assert _marker_points(ax, "scale-down") == (d["direction"] == -1).sum()
    up = _gids(ax, "scale-up")["feature_enricher"]
    assert list(up.get_ydata()) == d.loc[d["direction"] == 1, "applied"].tolist()
    wanted = _gids(ax, "wanted")["feature_enricher"]
    assert (min(wanted.get_ydata()), max(wanted.get_ydata())) == (1, 2)
    assert "feature_enricher" in _gids(ax, "ready")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "feature-enricher: 1-2 pods (HPA)" in labels
    assert any(label.startswith("scale-up (") for label in labels)
    # the deployments that did not move are one line of text, not lines
    assert "fraud_detector" not in _gids(ax, "wanted")
    assert "fraud-detector\u00a01" in " ".join(t.get_text() for t in ax.texts)


def test_pending_pods_drawn_when_the_pool_is_too_small(too_small, plain) -> None:
    m = too_small.metrics
    pending = m[m["labels"] == "deployment=feature_enricher,phase=Pending"]["value"]
    assert pending.max() == 2
    fig, ax = plt.subplots()
    assert "feature_enricher" in draw_replicas(ax, too_small)
    area = _gids(ax, "pending")["feature_enricher"]
    assert area.get_paths()[0].vertices[:, 1].max() == pending.max()
    assert "Pending pods (no node had room)" in [t.get_text()
                                                 for t in ax.get_legend().get_texts()]
    fig2, ax2 = plt.subplots()
    assert draw_replicas(ax2, plain) == []
    assert not _gids(ax2, "pending") and not ax2.lines
    assert "fixed replicas, all ready by" in ax2.texts[0].get_text()


def test_nodes_per_pool_with_the_nodes_added(scaled, plain) -> None:
    fig, ax = plt.subplots()
    assert draw_nodes(ax, scaled)
    assert _marker_points(ax, "node_added") == scaled.summary_dict()["nodes_added"] == 1
    ready = next(line for line in ax.lines if line.get_label() == "cpu: nodes ready")
    assert (min(ready.get_ydata()), max(ready.get_ydata())) == (1, 2)
    fig2, ax2 = plt.subplots()
    assert draw_nodes(ax2, plain) is False
    assert not ax2.lines and not ax2.collections


def _titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_scaling_figure_rows_and_title(scaled, plain, tmp_path) -> None:
    fig = plot_scaling(scaled)
    titles = _titles(fig)
    assert len(titles) == 4
    assert titles[0].startswith("Replicas") and titles[1].startswith("HPA: CPU")
    assert titles[2].startswith("Node pools") and titles[3].startswith("Consumer lag")
    head = fig._suptitle.get_text()
    s = scaled.summary_dict()
    assert head.startswith("small: p99 latency") and "2 scaling changes" in head
    assert f"{s['pod_seconds']:,.0f} pod-seconds" in head and "1 node added" in head
    cpu = next(line for line in fig.axes[1].lines if line.get_label() == "feature-enricher: CPU")
    assert list(cpu.get_ydata()) == scaling_decisions(scaled.incidents)["cpu"].tolist()
    assert _marker_points(fig.axes[1], "scale-up") == 1
    assert any("burst ×8" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    out = tmp_path / "scaling.png"
    plot_scaling(plain, out)
    assert out.stat().st_size > 10_000
    fig = plot_scaling(plain)
    assert len(fig.axes) == 3 and "no autoscaler decision" in fig.axes[1].texts[0].get_text()


def test_scaling_figure_of_a_keda_autoscaler() -> None:
    res = _small(deployments__feature_enricher__autoscaling={
        "kind": "keda", "min_replicas": 1, "max_replicas": 3, "sync_period_s": 5,
        "keda": {"lag_threshold": 5, "polling_interval_s": 2},
        "behavior": {"scale_down_stabilization_s": 10}}, workload__bursts=BURST)
    d = scaling_decisions(res.incidents)
    assert d["changed"].sum() >= 1 and (d["trigger"] == "lag").all()
    fig = plot_scaling(res)
    ax = fig.axes[1]
    assert ax.get_title().startswith("KEDA")
    carry = next(line for line in ax.lines if line.get_label() == "lag_threshold × replicas")
    assert list(carry.get_ydata()) == (5 * d["current"]).tolist()


def test_main_dashboard_shows_replicas_and_decisions(scaled, plain) -> None:
    fig = plot_dashboard(scaled)
    pods = fig.axes[3]
    assert pods.get_title().startswith("Replicas")
    assert _marker_points(pods, "scale-up") + _marker_points(pods, "scale-down") == \
        scaled.summary_dict()["scaling_changes"]
    assert "feature_enricher" in _gids(pods, "pending")
    fig = plot_dashboard(plain)
    assert "fixed replicas" in fig.axes[3].texts[0].get_text()
