"""Tests of sim.analysis.bus: Little's law on a stage, consumers a group uses, paired runs."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from sim.analysis.bus import (
    active_consumers,
    littles_law_check,
    littles_law_frames,
    paired_difference,
    paired_runs,
    time_average,
)
from sim.scenario import Scenario, on_bus, with_changes
from tinybots.errors import InputError

LABELS = "topic=transactions,group=feature-enricher"


def _frames(lag_values: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    # two records in the enricher: [1, 3] and [2, 6] (enqueued -> served): sum of times 6 s
    spans = pd.DataFrame({
        "service": ["transaction_ingestor", "feature_enricher", "feature_enricher"],
        "queue_wait_s": [0.0, 1.0, 3.0], "start_s": [0.0, 2.0, 5.0], "end_s": [1.0, 3.0, 6.0]})
    metrics = pd.DataFrame({"time_s": [2.0, 4.0, 6.0, 8.0], "name": "kafka_consumergroup_lag",
                            "labels": LABELS, "value": lag_values})
    return spans, metrics


def test_time_average_weights_each_sample_by_its_interval() -> None:
    assert time_average([2.0, 4.0, 5.0], [1.0, 3.0, 5.0], 5.0) == pytest.approx(2.6)
    # samples after the window are left out, the last interval is cut at the window
    assert time_average([2.0, 4.0, 9.0], [1.0, 3.0, 100.0], 3.0) == pytest.approx(5 / 3)
    with pytest.raises(InputError, match="window_s"):
        time_average([1.0], [1.0], 0.0)
    assert time_average([5.0], [4.0], 1.0) == 4.0  # the one sample covers [0, 5]


def test_littles_law_frames_uses_the_spans_for_lambda_w_and_the_lag_for_l() -> None:
    spans, metrics = _frames([1.0, 2.0, 1.0, 0.0])
    check = littles_law_frames(spans, metrics, service="feature_enricher", labels=LABELS,
                               window_s=8.0)
    assert check.records == 2
    assert check.lambda_per_s == pytest.approx(2 / 8)
    assert check.w_s == pytest.approx(3.0)  # (3 - 1 + 6 - 2) / 2
    assert check.l_law == pytest.approx(0.75)
    assert check.l_measured == pytest.approx(1.0)  # (2*1 + 2*2 + 2*1 + 2*0) / 8
    assert check.relative_gap == pytest.approx(1 / 3)


def test_littles_law_frames_names_what_is_missing() -> None:
    spans, metrics = _frames([0.0] * 4)
    with pytest.raises(InputError, match="service"):
        littles_law_frames(spans, metrics, service="fraud_detector", labels=LABELS, window_s=8)
    with pytest.raises(InputError, match="labels"):
        littles_law_frames(spans, metrics, service="feature_enricher", labels="x", window_s=8)


def test_active_consumers_caps_a_kafka_group_at_its_partitions_not_a_queue() -> None:
    sc = with_changes(Scenario(), "deployments.feature_enricher.replicas", 9)
    assert active_consumers(sc) == sc.topics.transactions.partitions == 6
    assert active_consumers(with_changes(sc, "deployments.feature_enricher.replicas", 4)) == 4
    for kind in ("sqs", "rabbitmq"):
        assert active_consumers(on_bus(sc, kind)) == 9
    with pytest.raises(InputError, match="deployment"):
        active_consumers(sc, "transaction_ingestor")


def test_paired_runs_runs_both_arms_on_each_seed() -> None:
    a = Scenario()
    b = with_changes(a, "deployments.feature_enricher.replicas", 3)
    seen = []

    def fake_run(sc: Scenario) -> SimpleNamespace:
        seen.append((sc.seed, sc.deployments.feature_enricher.replicas))
        return SimpleNamespace(value=10.0 * sc.seed + sc.deployments.feature_enricher.replicas)

    runs = paired_runs(a, b, [0, 1, 2], lambda r: r.value, run=fake_run)
    assert seen == [(0, 1), (0, 3), (1, 1), (1, 3), (2, 1), (2, 3)]
    assert runs["difference"].tolist() == [2.0, 2.0, 2.0]
    mean, lo, hi = paired_difference(runs)
    assert (mean, lo, hi) == (2.0, 2.0, 2.0)
    with pytest.raises(InputError, match="seeds"):
        paired_runs(a, b, [], lambda r: r.value, run=fake_run)


def test_littles_law_holds_on_a_run_of_the_small_preset(small) -> None:
    """On a loaded enricher the lag the monitor samples is λW within the sampling error."""
    import sim

    sc = with_changes(small, "deployments.feature_enricher.service.per_record_s", 0.5)
    results = sim.run(sc, progress=False)
    check = littles_law_check(results)
    assert check.records == results.summary_dict()["completed"]
    assert check.l_law > 1.0  # a queue worth checking
    assert math.isclose(check.l_measured, check.l_law, rel_tol=0.2)
    with pytest.raises(InputError, match="stage"):
        littles_law_check(results, "transaction_ingestor")


def test_group_pauses_keeps_the_groups_pauses_and_counts_paused_partitions() -> None:
    from sim.analysis.bus import group_pauses

    inc = pd.DataFrame({
        "time_s": [0.0, 5.0, 8.0, 9.0],
        "kind": ["rebalance", "rebalance", "rebalance", "pod_crash"],
        "target": ["g", "other", "g", "g"],
        "detail": ["generation 1, eager/range, 3 of 3 partitions paused 1 s",
                   "generation 1, 1 of 1 partitions paused 1 s",
                   "generation 2, cooperative/cooperative_sticky, 1 of 3 partitions paused 2 s",
                   "crashed"],
        "duration_s": [1.0, 1.0, 2.0, float("nan")]})
    p = group_pauses(inc, "g")
    assert p["start_s"].tolist() == [0.0, 8.0] and p["end_s"].tolist() == [1.0, 10.0]
    assert p["partitions"].tolist() == [3.0, 1.0]
    assert p["partition_s"].sum() == 5.0


def test_lag_pauses_figure_draws_one_panel_per_run(small) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import sim
    from sim.analysis.bus import lag_pauses_figure

    results = sim.run(small, progress=False)
    fig = lag_pauses_figure({"a": results, "b": results})
    assert len(fig.axes) == 2
    n = len(results.incidents.query("kind == 'rebalance' and target == 'feature-enricher'"))
    assert fig.axes[0].get_title().startswith(f"a: {n} pauses")


def test_run_with_pauses_counts_what_the_groups_pauses_held(small) -> None:
    from sim.analysis.bus import group_pauses, run_with_pauses

    crash = {"deployment": "feature_enricher", "pod": 0, "at_s": 10.0, "restart_s": 5.0}
    sc = with_changes(with_changes(small, "deployments.feature_enricher.replicas", 2),
                      "faults", (crash,))
    held = run_with_pauses(sc)
    pauses = group_pauses(held.results.incidents, "feature-enricher")
    # pauses that overlap (two joins at once) extend one window: the incidents count it twice
    assert 0 < held.paused_partition_s <= pauses["partition_s"].sum()
    assert held.paused_records > 0
    none = run_with_pauses(with_changes(sc, "bus.kafka.rebalance_pause_s", 0.0))
    assert none.paused_records == 0 and none.paused_partition_s == 0.0
    with pytest.raises(InputError, match="deployment"):
        run_with_pauses(with_changes(small, "last_stage", "transaction_ingestor"))


def test_stage_capacity_caps_servers_at_partitions_only_on_kafka() -> None:
    from sim.analysis.plots import stage_capacity
    from sim.scenario import load_preset, on_bus, with_changes

    sc = with_changes(load_preset("small"), "deployments.feature_enricher.replicas", 5)
    kafka = stage_capacity(sc).loc["feature_enricher", "servers"]
    sqs = stage_capacity(on_bus(sc, "sqs")).loc["feature_enricher", "servers"]
    assert (kafka, sqs) == (sc.topics.transactions.partitions, 5)
