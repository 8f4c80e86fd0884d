"""The composed system: conservation, determinism, common random numbers, horizon, faults,
direction (more pods -> less lag) and the results round trip (sim.system, sim.record.results)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim import Scenario, build, run, with_changes
from sim.analysis.stats import mean_ci
from tinybots.errors import InputError


@pytest.fixture(autouse=True, params=["auto", "off"])
def fast_paths(request, monkeypatch):
    """Every test of this module runs twice: with the fast paths sim.engine chooses, and with
    ``engine.fast_paths: off`` forced on every scenario (the event-driven models)."""
    if request.param == "off":
        import sim.engine
        import sim.system

        def event_paths(scenario):
            return sim.engine.choose_paths(with_changes(scenario, "engine.fast_paths", "off"))

        monkeypatch.setattr(sim.system, "choose_paths", event_paths)
    return request.param


def _synthetic(**over) -> Scenario:
    """A small two-stage (ingestor -> enricher) Poisson scenario without a bank."""
    data = {
        "last_stage": "feature_enricher",
        "workload": {
            "kind": "poisson",
            "content": "synthetic",
            "rate_per_s": 20.0,
            "live_duration_s": 20.0,
            "bank": {"n_customers": 50, "n_terminals": 80},
        },
        "deployments": {
            "transaction_ingestor": {"replicas": 2, "service": {"per_record_s": 0.05}},
            "feature_enricher": {
                "replicas": 2,
                "max_poll_records": 5,
                "service": {"fixed_s": 0.01, "per_record_s": 0.02},
            },
        },
        "topics": {"transactions": {"partitions": 3}},
        "bus": {"kafka": {"rebalance_pause_s": 0.5}},
        "monitoring_interval_s": 1.0,
    }
    sc = Scenario.from_dict(data)
    for path, value in over.items():
        sc = with_changes(sc, path.replace("__", "."), value)
    return sc


@st.composite
def small_scenarios(draw):
    enrichers = draw(st.integers(1, 4))
    sc = {
        "seed": draw(st.integers(0, 1000)),
        "last_stage": draw(st.sampled_from(["transaction_ingestor", "feature_enricher"])),
        "workload": {
            "kind": "poisson",
            "content": "synthetic",
            "rate_per_s": draw(st.floats(1.0, 40.0)),
            "live_duration_s": draw(st.floats(1.0, 10.0)),
            "diurnal_amplitude": draw(st.floats(0.0, 0.9)),
            "period_s": 10.0,
            "bank": {"n_customers": 30, "n_terminals": 40},
        },
        "deployments": {
            "transaction_ingestor": {
                "replicas": draw(st.integers(1, 3)),
                "queue_limit": draw(st.one_of(st.none(), st.integers(0, 20))),
                "service": {
                    "distribution": draw(st.sampled_from(["exponential", "lognormal"])),
                    "per_record_s": draw(st.floats(0.005, 0.2)),
                },
            },
            "feature_enricher": {
                "replicas": enrichers,
                "concurrency": draw(st.integers(1, 2)),
                "max_poll_records": draw(st.integers(1, 20)),
                "delivery": draw(st.sampled_from(["at_least_once", "at_most_once"])),
                "service": {
                    "fixed_s": draw(st.floats(0.0, 0.05)),
                    "per_record_s": draw(st.floats(0.001, 0.1)),
                },
            },
        },
        "topics": {
            "transactions": {
                "partitions": draw(st.integers(1, 5)),
                "capacity_records": draw(st.one_of(st.none(), st.integers(1, 30))),
            },
        },
        "bus": {"kafka": {"rebalance_pause_s": draw(st.floats(0.0, 1.0))}},
        "max_duration_s": draw(st.floats(2.0, 60.0)),
        "monitoring_interval_s": 1.0,
    }
    # A crash of a deployment in the run (the scenario refuses one after last_stage), the
    # ingestor included, starting before the cap (the scenario refuses a later one).
    if sc["last_stage"] == "feature_enricher" and draw(st.booleans()):
        target, pods = "feature_enricher", enrichers
    else:
        target, pods = "transaction_ingestor", sc["deployments"]["transaction_ingestor"]["replicas"]
    sc["faults"] = [
        {
            "deployment": target,
            "at_s": draw(st.floats(0.0, min(10.0, sc["max_duration_s"]), exclude_max=True)),
            "pod": draw(st.integers(0, pods - 1)),
            "restart_s": draw(st.floats(0.0, 3.0)),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    return Scenario.from_dict(sc)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_scenarios())
def test_conservation_holds_over_random_small_scenarios(sc):
    try:
        res = run(sc, progress=False)  # run() itself raises ConservationError on a mismatch
    except InputError as exc:  # nothing arrives before the cap: refused (issue 7)
        assert str(exc).startswith(("max_duration_s:", "workload.rate_per_s:"))
        return
    s = res.summary_dict()
    assert (
        s["completed"] + s["in_flight"] + s["shed"] + s["dead_lettered"] + s["lost"]
        == s["generated"]
    )
    tx = res.transactions
    assert len(tx) == s["generated"]
    assert (tx.loc[tx.outcome == "shed", "reason"].str.contains("queue_limit")).all()
    assert (tx.loc[tx.outcome == "lost", "reason"].str.contains("at-most-once")).all()
    assert (
        tx.loc[tx.outcome == "in_flight", "outcome_stage"]
        .isin(["ingress_queue", "transaction_ingestor", "transactions", "feature_enricher"])
        .all()
    )
    spans = res.spans
    assert (spans.queue_wait_s >= -1e-9).all() and (spans.service_s >= 0).all()
    util = res.metrics.loc[res.metrics.name == "tinybots_utilisation", "value"].dropna()
    assert ((util >= -1e-9) & (util <= 1 + 1e-9)).all()


def test_same_scenario_and_seed_give_identical_frames():
    a, b = run(_synthetic(), progress=False), run(_synthetic(), progress=False)
    for name in ("transactions", "spans", "metrics", "incidents"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    c = run(_synthetic(seed=1), progress=False)
    assert not np.array_equal(
        a.transactions.arrival_s, c.transactions.arrival_s[: len(a.transactions)]
    ) or len(a.transactions) != len(c.transactions)


def test_changing_replicas_keeps_the_transaction_stream():
    a = build(_synthetic())
    b = build(
        _synthetic(
            deployments__feature_enricher__replicas=4, deployments__transaction_ingestor__replicas=5
        )
    )
    for col in ("arrival_s", "customer_id", "terminal_id", "amount", "event_time_s", "fraud"):
        assert np.array_equal(getattr(a.table, col), getattr(b.table, col))


def test_build_wires_without_advancing_time():
    s = build(_synthetic())
    assert s.env.now == 0 and not s.started and s.ledger.arrived == 0
    assert set(s.groups) == {"feature_enricher", "label_feed"}
    assert s.topics["transactions"].n_partitions == 3
    assert len(s.deployments["feature_enricher"].pods) == 2


def test_horizon_cap_leaves_in_flight_with_their_stage():
    sc = _synthetic(
        max_duration_s=5.0, deployments__feature_enricher__replicas=1, workload__rate_per_s=60.0
    )
    res = run(sc, progress=False)
    s = res.summary_dict()
    assert s["in_flight"] > 0 and s["sim_time_s"] == pytest.approx(5.0)
    assert s["generated"] < len(build(sc).table)  # later arrivals never arrived
    where = res.transactions.loc[res.transactions.outcome == "in_flight", "outcome_stage"]
    assert "transactions" in set(where)


def test_crash_at_most_once_loses_with_reason_at_least_once_does_not():
    crash = [{"deployment": "feature_enricher", "at_s": 5.0, "pod": 0, "restart_s": 1.0}]
    base = _synthetic(
        deployments__feature_enricher__max_poll_records=50,
        deployments__feature_enricher__replicas=1,
        deployments__feature_enricher__service__per_record_s=0.06,  # overloaded: always busy
        faults=crash,
    )
    lost = run(
        with_changes(base, "deployments.feature_enricher.delivery", "at_most_once"), progress=False
    )
    kept = run(base, progress=False)
    assert lost.summary_dict()["lost"] > 0
    assert kept.summary_dict()["lost"] == 0
    assert kept.summary_dict()["completed"] == kept.summary_dict()["generated"]
    kinds = set(kept.incidents.kind)
    assert {"pod_crash", "pod_ready", "rebalance"} <= kinds


def test_results_save_and_load_round_trip(tmp_path):
    res = run(_synthetic(), progress=False)
    out = res.save(tmp_path / "r")
    assert {p.name for p in out.iterdir()} >= {
        "summary.json",
        "scenario.yaml",
        "transactions.parquet",
    }
    back = sim.Results.load(out)
    assert back.scenario == res.scenario
    for name in ("transactions", "spans", "metrics", "incidents", "models", "summary"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(res, name), check_dtype=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_ingestor_sheds_with_a_queue_limit():
    sc = Scenario.from_dict(
        {
            "last_stage": "transaction_ingestor",
            "workload": {
                "kind": "poisson",
                "content": "synthetic",
                "rate_per_s": 50.0,
                "live_duration_s": 10.0,
            },
            "deployments": {
                "transaction_ingestor": {
                    "replicas": 1,
                    "queue_limit": 3,
                    "service": {"per_record_s": 0.1},
                }
            },
        }
    )
    s = run(sc, progress=False).summary_dict()
    assert s["shed"] > 0 and s["completed"] + s["shed"] == s["generated"]


# -- the full pipeline on a tiny bank (real generator, features, model) ------------------------


def test_full_pipeline_scores_with_the_registered_model(small):
    res = run(small, progress=False)
    tx = res.transactions
    s = res.summary_dict()
    assert s["completed"] == s["generated"] > 50
    assert tx.score.between(0, 1).all() and (tx.model_version == 1).all()
    assert res.models.loc[0, "kind"] == "logistic_regression" and res.models.loc[0, "n_train"] > 0
    assert set(res.spans.service) == {
        "transaction_ingestor",
        "feature_enricher",
        "fraud_detector",
        "alert_service",
    }
    assert (res.spans.groupby("trace_id").size() == 4).all()
    # the alert policy: every alert has a score at the threshold or more
    assert (tx.loc[tx.alerted, "score"] >= small.alerts.threshold).all()


@pytest.mark.slow
def test_more_detector_pods_give_less_lag(small):
    """Detector as the bottleneck: paired (common random numbers) differences over 4 seeds."""
    slow = with_changes(
        small,
        "deployments.fraud_detector.service",
        {"distribution": "exponential", "fixed_s": 0.3, "per_record_s": 0.1},
    )
    slow = with_changes(slow, "deployments.fraud_detector.max_poll_records", 5)
    diffs = []
    for seed in range(4):
        lags = []
        for replicas in (1, 3):
            sc = with_changes(
                with_changes(slow, "seed", seed), "deployments.fraud_detector.replicas", replicas
            )
            m = run(sc, progress=False).metrics
            lag = m[(m.name == "kafka_consumergroup_lag") & m.labels.str.contains("fraud-detector")]
            lags.append(lag.value.mean())
        diffs.append(lags[0] - lags[1])
    _, lo, _ = mean_ci(diffs, confidence=0.95)
    assert lo > 0, diffs


def test_empty_live_window_is_an_input_error(small):
    with pytest.raises(InputError, match="live window"):
        build(
            with_changes(
                with_changes(small, "workload.live_start_day", 20), "workload.bank.nb_days", 15
            )
        )


def test_crash_while_blocked_on_a_full_topic_loses_nothing(small):
    """The enricher blocks on a full features-ready partition and crashes while blocked;
    at-least-once redelivery must complete every transaction with one span per hop."""
    sc = with_changes(small, "topics.features_ready.capacity_records", 3)
    sc = with_changes(
        sc,
        "deployments.fraud_detector.service",
        {"distribution": "deterministic", "fixed_s": 0.5, "per_record_s": 0.05},
    )
    sc = with_changes(
        sc,
        "faults",
        [
            {"deployment": "feature_enricher", "at_s": t, "restart_s": 0.5}
            for t in (10.0, 20.0, 30.0)
        ],
    )
    res = run(sc, progress=False)
    s = res.summary_dict()
    assert s["completed"] == s["generated"] and s["lost"] == 0
    assert res.spans.span_id.is_unique
    assert (res.incidents.kind == "pod_crash").sum() == 3
