"""Pod faults of any deployment (issue 11, item 1): single crashes and crash loops with the
kubelet's CrashLoopBackOff, deployment outages, the ingestor's crashes (its requests go back
to the queue, nothing is lost), random faults from their own stream, and the engine keeping
the ingestor on its event path when a fault can act on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simpy
from pydantic import ValidationError

from sim import run
from sim.engine import choose_paths
from sim.pods import Ingress
from sim.policies import CrashLoopBackOff
from sim.scenario import IngestorSpec, Scenario

ING, FE = "transaction_ingestor", "feature_enricher"


def _scenario(faults=(), rate_per_s=20.0, live_s=30.0, **deployments) -> Scenario:
    """A bank-free ingestor -> enricher run (plus the label feed), a fraction of a second."""
    deps = {ING: {"replicas": 2, "service": {"per_record_s": 0.04}},
            FE: {"replicas": 2, "max_poll_records": 10}}
    for name, over in deployments.items():
        deps[name] = {**deps.get(name, {}), **over}
    return Scenario.from_dict({
        "last_stage": FE,
        "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": rate_per_s,
                     "live_duration_s": live_s, "bank": {"n_customers": 50, "n_terminals": 80}},
        "deployments": deps,
        "topics": {"transactions": {"partitions": 2}},
        "faults": list(faults),
        "monitoring_interval_s": 1.0,
        "max_duration_s": 4000.0,
    })


def _of(res, kind: str, target: str | None = None) -> pd.DataFrame:
    inc = res.incidents
    rows = inc[inc["kind"] == kind]
    return rows if target is None else rows[rows["target"] == target]


# -- the ingestor ------------------------------------------------------------------------------
def test_a_crashed_ingestor_pods_request_goes_back_to_the_queue_front_for_another_server():
    """Two servers of 1 s each; pod 0 crashes half-way through its request, which is served
    again by pod 1 once free (before the request queued behind it), and nothing is lost."""
    env = simpy.Environment()
    spec = IngestorSpec(replicas=2, service={"distribution": "deterministic", "per_record_s": 1.0})
    served = []
    ing = Ingress(env, spec, np.random.default_rng(0),
                  lambda r, s, e, who: served.append((r, s, e, who)), lambda r, why: None)
    ing.start()
    for r in range(3):  # 0 -> pod 0, 1 -> pod 1, 2 queues
        ing.submit(r)
    env.timeout(0.5).callbacks.append(lambda _e: ing.crash(0, 10.0))
    env.run(until=5.0)
    assert served == [(1, 0.0, 1.0, f"{ING}-1/s0"), (0, 1.0, 2.0, f"{ING}-1/s0"),
                      (2, 2.0, 3.0, f"{ING}-1/s0")]
    assert ing.busy.level == 0 and ing.ready_consumers.level == 1 and not ing.queue


def test_an_ingestor_crash_loses_nothing_and_keeps_conservation():
    res = run(_scenario([{"deployment": ING, "at_s": t, "pod": p, "restart_s": 2.0}
                         for t, p in ((5.0, 0), (5.2, 1), (12.0, 0))],
                        **{ING: {"service": {"per_record_s": 0.08}}}), progress=False)
    s = res.summary_dict()  # run() itself raises on a conservation mismatch
    assert s["lost"] == 0 and s["completed"] == s["generated"] > 0
    assert len(_of(res, "pod_crash")) == 3 and len(_of(res, "pod_ready")) >= 2 + 3
    tx = res.transactions  # with both pods down from 5.2 s, nothing starts before 7 s
    started = tx["ingest_start_s"]
    assert not ((started > 5.2) & (started < 7.0)).any()
    assert ((tx["arrival_s"] > 5.2) & (tx["arrival_s"] < 7.0)).any()


@pytest.mark.parametrize("queue_limit", [None, 5])
def test_an_ingestor_outage_makes_requests_wait_or_be_shed_by_the_queue_settings(queue_limit):
    outage = {"kind": "deployment_outage", "deployment": ING, "at_s": 10.0, "duration_s": 5.0}
    res = run(_scenario([outage], **{ING: {"queue_limit": queue_limit}}), progress=False)
    s, tx = res.summary_dict(), res.transactions
    assert s["lost"] == 0
    inside = (tx["arrival_s"] >= 10.0) & (tx["arrival_s"] < 15.0)
    if queue_limit is None:  # every request waits for the restart
        assert s["shed"] == 0 and s["completed"] == s["generated"]
        assert (tx.loc[inside, "ingest_start_s"] >= 15.0).all()
    else:  # the queue fills and the rest is shed
        shed = tx["outcome"] == "shed"
        assert s["shed"] == shed.sum() >= inside.sum() - queue_limit - 2
        assert tx.loc[shed, "arrival_s"].between(10.0, 15.0).all()
    assert (_of(res, "fault_end")["time_s"] == 15.0).all()


# -- consumers -----------------------------------------------------------------------------
def test_a_crash_loops_restart_gaps_follow_the_crash_loop_back_off():
    """Each crash's restart waits the next CrashLoopBackOff delay (1, 2, 4, ... s) plus the
    start-up time, read from the incidents; no crash after the loop's end."""
    fault = {"deployment": FE, "at_s": 5.0, "pod": 1, "restart_s": 1.0, "duration_s": 120.0,
             "uptime_s": 3.0}
    res = run(_scenario([fault], rate_per_s=2.0, live_s=200.0, **{FE: {"startup_s": 0.5}}),
              progress=False)
    crash_t = _of(res, "pod_crash", f"{FE}-1")["time_s"].to_numpy()
    ready_t = _of(res, "pod_ready", f"{FE}-1")["time_s"].to_numpy()[1:]  # after the first start
    assert len(crash_t) == len(ready_t) >= 5
    want = CrashLoopBackOff(initial_s=1.0)
    gaps = ready_t - crash_t - 0.5
    np.testing.assert_allclose(gaps, [want.crash(3.5) for _ in crash_t], atol=1e-9)
    np.testing.assert_allclose(crash_t[1:], ready_t[:-1] + 3.0, atol=1e-9)  # uptime_s
    assert crash_t[-1] < 125.0 <= ready_t[-1] + 3.0
    assert res.summary_dict()["lost"] == 0


def test_ten_minutes_up_between_crashes_resets_the_back_off_in_a_run():
    fault = {"deployment": FE, "at_s": 5.0, "restart_s": 2.0, "duration_s": 1900.0,
             "uptime_s": 600.0}
    res = run(_scenario([fault], rate_per_s=0.2, live_s=2000.0), progress=False)
    crash_t = _of(res, "pod_crash", f"{FE}-0")["time_s"].to_numpy()
    ready_t = _of(res, "pod_ready", f"{FE}-0")["time_s"].to_numpy()[1:]
    assert len(crash_t) == 4
    np.testing.assert_allclose(ready_t - crash_t, 2.0, atol=1e-9)  # never doubled


@pytest.mark.parametrize("windows, back_s", [([(10.0, 10.0)], 20.0),
                                             ([(10.0, 10.0), (15.0, 15.0)], 30.0)])
def test_a_deployment_outage_stops_every_pod_for_its_window_and_the_lag_drains(windows, back_s):
    faults = [{"kind": "deployment_outage", "deployment": FE, "at_s": a, "duration_s": d}
              for a, d in windows]
    res = run(_scenario(faults), progress=False)
    crashes = _of(res, "pod_crash")
    assert sorted(crashes["target"]) == [f"{FE}-0", f"{FE}-1"]
    assert (crashes["time_s"] == 10.0).all()
    ready = _of(res, "pod_ready")
    back = ready[ready["time_s"] > 0]
    assert sorted(back["target"]) == [f"{FE}-0", f"{FE}-1"]
    assert np.allclose(back["time_s"], back_s)  # the last outage's end (start-up 0)
    tx = res.transactions
    assert not ((tx["enrich_start_s"] > 10.0) & (tx["enrich_start_s"] < back_s)).any()
    m = res.metrics
    lag = m[m["name"] == "kafka_consumergroup_lag"]
    lag = lag[lag["labels"].str.endswith("group=feature-enricher")].groupby("time_s")["value"].sum()
    assert lag[lag.index <= 10.0].max() < lag[(lag.index > 10.0) & (lag.index <= back_s)].max()
    assert lag.iloc[-1] == 0
    s = res.summary_dict()
    assert s["lost"] == 0 and s["completed"] == s["generated"]


def test_the_label_feed_crashes_and_restarts_too():
    res = run(_scenario([{"kind": "deployment_outage", "deployment": "label_feed",
                          "at_s": 5.0, "duration_s": 3.0}]), progress=False)
    assert list(_of(res, "pod_crash")["target"]) == ["label_feed-0"]
    assert _of(res, "pod_ready", "label_feed-0")["time_s"].max() == pytest.approx(8.0)


# -- random faults, the frame, the scenario ------------------------------------------------
def _random(seed: int, with_fault: bool) -> Scenario:
    faults = [{"deployment": FE, "rate_per_h": 360.0, "restart_s": 1.0}] if with_fault else []
    return Scenario.model_validate({**_scenario(faults).model_dump(), "seed": seed})


def test_random_faults_replay_on_a_seed_and_leave_the_transaction_stream_unchanged():
    a, b = run(_random(3, True), progress=False), run(_random(3, True), progress=False)
    pd.testing.assert_frame_equal(a.faults, b.faults)
    assert len(a.faults) == a.summary_dict()["faults"] > 0
    assert (a.faults["start_s"] < a.transactions["arrival_s"].max()).all()
    assert len(_of(a, "fault_start")) == len(a.faults)
    plain = run(_random(3, False), progress=False)
    cols = ["row", "arrival_s", "amount", "customer_id"]
    pd.testing.assert_frame_equal(plain.transactions[cols], a.transactions[cols])
    assert plain.summary_dict()["faults"] == 0 and plain.faults.empty
    other = run(_random(4, True), progress=False)
    assert not a.faults["start_s"].equals(other.faults["start_s"])


def test_the_faults_frame_is_saved_and_loaded(tmp_path):
    from sim.record.results import Results

    res = run(_scenario([{"deployment": FE, "at_s": 5.0}]), progress=False)
    back = Results.load(res.save(tmp_path / "out"))
    pd.testing.assert_frame_equal(back.faults, res.faults, check_dtype=False)  # str on load
    assert list(res.faults.columns) == ["fault", "kind", "target", "start_s", "end_s"]


def test_a_fault_on_a_deployment_not_in_the_run_is_refused_naming_the_field():
    with pytest.raises(ValidationError, match=r"faults\[0\]\.deployment: fraud_detector does "
                                              r"not run with last_stage feature_enricher"):
        _scenario([{"deployment": "fraud_detector", "at_s": 5.0}])
    with pytest.raises(ValidationError, match=r"faults\[1\]\.deployment: label_feed"):
        Scenario.from_dict({"last_stage": ING, "faults": [
            {"deployment": ING, "at_s": 1.0},
            {"kind": "deployment_outage", "deployment": "label_feed", "at_s": 1.0}]})


@pytest.mark.parametrize("fault", [
    {"deployment": ING, "at_s": 5.0},
    {"kind": "deployment_outage", "deployment": ING, "rate_per_h": 1.0},
    {"kind": "broker_outage", "at_s": 5.0},
    {"kind": "broker_outage", "topics": ["transactions"], "at_s": 5.0},
    {"kind": "partition_unavailable", "topic": "transactions", "at_s": 5.0},
    {"kind": "network_delay", "source": ING, "target": FE, "at_s": 5.0},
])
def test_the_engine_keeps_the_ingestor_on_its_event_path_when_a_fault_can_act_on_it(fault):
    paths = choose_paths(_scenario([fault]))
    assert not paths.scheduled_ingress
    assert paths.reasons["ingress"] == f"faults[0] ({fault.get('kind', 'pod_crash')}) acts on " \
                                       "the ingestor"


@pytest.mark.parametrize("fault", [
    {"deployment": FE, "at_s": 5.0},
    {"kind": "broker_outage", "topics": ["features-ready"], "at_s": 5.0},
    {"kind": "network_delay", "source": FE, "target": "feature_store", "at_s": 5.0},
])
def test_faults_elsewhere_keep_the_ingress_schedule(fault):
    assert choose_paths(_scenario([fault])).scheduled_ingress
