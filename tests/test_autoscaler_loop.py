"""The autoscalers' SimPy loops (sim.pods.autoscaler): what they sample, when they decide, and
that a decision is applied and logged with its inputs."""

from __future__ import annotations

import math

import pytest

from sim import build, run, with_changes
from sim.pods.autoscaler import pod_samples
from sim.scenario import Scenario
from sim.system import start


def _synthetic(**over) -> Scenario:
    """Ingestor -> enricher on synthetic Poisson content: no bank, a fraction of a second."""
    sc = Scenario.from_dict({
        "last_stage": "feature_enricher",
        "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": 20.0,
                     "live_duration_s": 120.0},
        "deployments": {"feature_enricher": {
            "replicas": 1, "max_poll_records": 1,
            "service": {"distribution": "deterministic", "per_record_s": 0.04}}},
        "monitoring_interval_s": 1.0,
        "max_duration_s": 600.0,
    })
    for path, value in over.items():
        sc = with_changes(sc, path.replace("__", "."), value)
    return sc


def _decisions(results) -> list[dict[str, str]]:
    inc = results.incidents
    rows = inc[inc["kind"] == "scaling_decision"]
    return [dict(p.split("=", 1) for p in d.split()) | {"time_s": t}
            for t, d in zip(rows["time_s"], rows["detail"], strict=True)]


def test_pod_utilisation_is_busy_time_over_ready_time():
    """One pod serving 20/s at 0.04 s each is 80 % busy: the sample says so (±5 %)."""
    sc = _synthetic(deployments__feature_enricher__autoscaling={"kind": "hpa",
                                                               "max_replicas": 1})
    s = build(sc)
    start(s)
    dep = s.deployments["feature_enricher"]
    last: dict[str, tuple[float, float]] = {}
    s.env.run(until=20.0)
    pod_samples(dep, last)
    s.env.run(until=80.0)
    (sample,) = pod_samples(dep, last)
    assert sample.ready and sample.utilization == pytest.approx(0.8, abs=0.05)


def test_hpa_decides_every_sync_period_and_scales_up_an_overloaded_pod():
    """Offered 20/s to one pod of 12.5/s (ρ = 1.6) with a 0.5 target: the HPA scales up at a
    sync, each sync is logged with its inputs, and the replicas follow the decision."""
    sc = _synthetic(deployments__feature_enricher__service__per_record_s=0.08,
                    deployments__feature_enricher__autoscaling={
                        "kind": "hpa", "max_replicas": 6, "sync_period_s": 10.0,
                        "hpa": {"target_utilization": 0.5}})
    r = run(sc, progress=False)
    dec = _decisions(r)
    times = [d["time_s"] for d in dec]
    assert all(math.isclose(t % 10.0, 0.0, abs_tol=1e-9) for t in times)
    assert {"cpu", "target", "current", "desired", "applied"} <= set(dec[0])
    first_up = next(d for d in dec if int(d["applied"]) > int(d["current"]))
    assert float(first_up["cpu"]) > 0.55
    spec = r.metrics[(r.metrics["name"] == "kube_deployment_spec_replicas")
                     & (r.metrics["labels"] == "deployment=feature_enricher")]
    assert spec["value"].max() > 1
    assert r.summary_dict()["scaling_changes"] >= 1
    assert r.summary_dict()["lost"] == 0


def test_keda_reads_the_lag_at_its_polling_interval():
    sc = _synthetic(deployments__feature_enricher__service__per_record_s=0.08,
                    deployments__feature_enricher__autoscaling={
                        "kind": "keda", "max_replicas": 6, "sync_period_s": 5.0,
                        "keda": {"lag_threshold": 5, "polling_interval_s": 20.0}})
    r = run(sc, progress=False)
    dec = _decisions(r)
    lags = [(d["time_s"], int(d["lag"])) for d in dec]
    # the reading changes only at multiples of the polling interval
    for (t0, a), (t1, b) in zip(lags, lags[1:], strict=False):
        if a != b:
            assert math.floor(t1 / 20.0 + 1e-9) > math.floor(t0 / 20.0 + 1e-9)
    assert max(int(d["applied"]) for d in dec) > 1


def test_a_crash_of_a_pod_the_autoscaler_removed_is_skipped():
    sc = _synthetic(workload__rate_per_s=1.0)
    sc = Scenario.model_validate({
        **sc.model_dump(),
        "deployments": {**sc.model_dump()["deployments"], "feature_enricher": {
            **sc.model_dump()["deployments"]["feature_enricher"], "replicas": 3,
            "autoscaling": {"kind": "hpa", "min_replicas": 1, "max_replicas": 3,
                            "sync_period_s": 5.0,
                            "behavior": {"scale_down_stabilization_s": 0.0}}}},
        "faults": [{"deployment": "feature_enricher", "at_s": 100.0, "pod": 2}],
    })
    r = run(sc, progress=False)
    kinds = r.incidents["kind"].tolist()
    assert "pod_crash_skipped" in kinds and "pod_crash" not in kinds
    assert r.summary_dict()["lost"] == 0


def test_scale_down_of_a_pod_with_two_consumers_one_waking_at_that_instant():
    """A label-feed pod of 2 consumers scaled to 0 by KEDA at the very tick a label batch
    wakes one of them: that consumer leaves at once, the other at the deferred stop (found
    by the break-it tests: the pod's members and processes fell out of step)."""
    from sim.scenario import load_preset

    sc = with_changes(load_preset("small"), "deployments.label_feed.concurrency", 2)
    sc = with_changes(sc, "deployments.label_feed.autoscaling", {
        "kind": "keda", "min_replicas": 0, "max_replicas": 2, "sync_period_s": 1.0,
        "keda": {"polling_interval_s": 1.0, "cooldown_s": 0.0}})
    r = run(sc, progress=False)
    s = r.summary_dict()
    assert s["lost"] == 0 and s["labels_lost"] == 0 and s["scaling_changes"] >= 2
    assert (r.incidents["kind"] == "pod_terminated").any()
