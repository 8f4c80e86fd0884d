"""The retraining loop in small runs (tests/retraining_scenarios.py): scheduled jobs on the
labels known at their start, no label leak (and a leak injected is caught), the rolling
hot-swap per pod, training outages and failed fits that leave scoring alone, a bad model
rolled back, shadow promote / discard, on-drift triggers. Conservation is checked at the end
of every run (``sim.record.frames.assemble``) and again here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from retraining_scenarios import DAY_S, scenario

from sim.services.rollout import pod_versions
from sim.services.training import LabelLeak, check_no_label_leak
from sim.services.training_data import TrainingData
from sim.system import build, run


def _run(sc):
    s = build(sc)
    return s, run(s, progress=False)


def _conserved(res):
    row = res.summary.iloc[0]
    assert row["generated"] == row["completed"] + row["in_flight"] + row["shed"] + \
        row["dead_lettered"] + row["lost"]
    assert row["completed"] == row["generated"] and not row["cut_short"]


def _detector_p99(res):
    sp = res.spans[res.spans["service"] == "fraud_detector"]
    return float(np.percentile(sp["end_s"] - sp["start_s"] + sp["queue_wait_s"], 99))


@pytest.fixture(scope="module")
def scheduled():
    return _run(scenario())


def test_scheduled_jobs_start_every_3_days_and_use_only_labels_known_then(scheduled):
    s, res = scheduled
    _conserved(res)
    m = res.models
    jobs = m[m["trigger"] == "scheduled"]
    assert np.allclose(jobs["job_start_s"], [3 * DAY_S, 6 * DAY_S, 9 * DAY_S])
    assert (jobs["labels_known_max_s"] <= jobs["job_start_s"]).all()
    store, t = s.orchestrator.data.label_store, s.table.event_time_s
    for _, j in jobs.iterrows():  # every live label known then, in the window, was used
        now_event = s.table.live_start_s + j["job_start_s"] * s.scenario.workload.speedup
        window = (t >= now_event - 7 * 86400) & (t < now_event)
        assert j["n_labels_used"] == int((store.known_at_s[: len(t)] <= j["job_start_s"])
                                         [window].sum())
    assert np.allclose(jobs["created_s"] - jobs["job_start_s"], s.scenario.retraining.duration_s)
    assert list(m["version"]) == [1, 2, 3, 4] and res.summary["model_versions"][0] == 4
    assert len(s.orchestrator.registry) == 4  # one registry, the initial version in it
    assert list(m["status"]) == ["retired", "retired", "retired", "champion"]
    assert m["n_scored"].sum() == len(res.transactions)
    assert check_no_label_leak(s) > 0


def test_an_injected_label_leak_is_caught(monkeypatch):
    monkeypatch.setattr(TrainingData, "known",
                        lambda self, now_s: np.ones(len(self.features), dtype=bool))
    s, _ = _run(scenario(days=5.0))
    with pytest.raises(LabelLeak, match="before it was due"):
        check_no_label_leak(s)


def test_hot_swap_scores_every_transaction_and_pods_switch_at_their_load_times(scheduled):
    s, res = scheduled
    tx = res.transactions
    assert (tx["model_version"] >= 1).all() and np.isfinite(tx["score"]).all()
    loads = pod_versions(res.incidents)
    swaps = loads[loads["how"] == "hot-swap"]
    for v in (2, 3, 4):  # pod by pod, model_load_s apart, after registration
        created = res.models.set_index("version").loc[v, "created_s"]
        times = np.sort(swaps.loc[swaps["version"] == v, "time_s"].to_numpy())
        assert np.allclose(times, created + 2.0 * np.arange(1, 3))
    sp = res.spans[res.spans["service"] == "fraud_detector"]
    got = tx.set_index("row")["model_version"].reindex(sp["trace_id"]).to_numpy()
    for pod, g in loads.groupby("pod"):  # each pod scores with its last loaded version
        mine = (sp["pod"] == pod).to_numpy()
        at = np.searchsorted(g["time_s"].to_numpy(), sp["start_s"].to_numpy()[mine], "right")
        assert (at >= 1).all()
        assert (got[mine] == g["version"].to_numpy()[at - 1]).all()
    assert sp["pod"].nunique() == 2


def test_training_outage_fails_the_job_and_leaves_scoring_latency_identical(scheduled):
    _, base = scheduled
    s, res = _run(scenario(faults=[{"kind": "training_outage", "at_s": 100.0,
                                    "duration_s": 60.0}]))
    _conserved(res)
    m = res.models
    failed = m[m["status"] == "failed"]
    assert len(failed) == 1 and failed["job_start_s"].iloc[0] == pytest.approx(3 * DAY_S)
    assert failed["reason"].iloc[0] == "training_outage" and failed["version"].iloc[0] == -1
    assert res.summary["model_versions"][0] == 3
    # the training service shares nothing with the pods: the same service times, exactly
    assert res.summary["latency_p99_s"][0] == base.summary["latency_p99_s"][0]
    assert _detector_p99(res) == _detector_p99(base)
    assert len(res.transactions) == len(base.transactions)


def test_a_fit_without_fraud_fails_the_job_not_the_run(monkeypatch):
    select = TrainingData.select

    def no_fraud(self, now_s, event_now_s, train_days):
        ts = select(self, now_s, event_now_s, train_days)
        ts.y[:] = 0
        return ts

    monkeypatch.setattr(TrainingData, "select", no_fraud)
    s, res = _run(scenario(days=5.0))
    _conserved(res)
    m = res.models
    assert list(m["status"]) == ["champion", "failed"]
    assert "both classes" in m["reason"].iloc[1]
    assert (res.transactions["model_version"] == 1).all()


def test_a_bad_model_is_rolled_back_within_a_day_and_a_half_and_its_alerts_counted():
    s, res = _run(scenario(faults=[{"kind": "bad_model", "at_s": 200.0}],
                           **{"retraining.guard.after_days": 0.5}))
    _conserved(res)
    m = res.models.set_index("version")
    bad = m[m["trigger"] == "bad_model"]
    assert len(bad) == 1 and bad["status"].iloc[0] == "rolled_back"
    v = int(bad.index[0])
    assert np.isnan(bad["shadow_start_s"].iloc[0]) and bad["created_s"].iloc[0] == 200.0
    # labels come a day later: rolled back within delay (1 d) + after_days (0.5 d) of its rollout
    assert bad["rolled_back_s"].iloc[0] - bad["rollout_end_s"].iloc[0] <= 1.5 * DAY_S
    assert bad["average_precision"].iloc[0] < 0.5 * m.loc[v - 1, "average_precision"]
    tx = res.transactions
    served = tx["model_version"] == v
    assert served.sum() == bad["n_scored"].iloc[0] > 0
    assert bad["n_alerts"].iloc[0] == int((served & tx["alerted"]).sum())
    after = tx[(tx["detect_start_s"] > bad["rollback_end_s"].iloc[0])
               & (tx["detect_start_s"] < 270.0)]
    assert len(after) and (after["model_version"] == v - 1).all()  # the previous one again


@pytest.mark.parametrize(("margin", "status"), [(-1.0, "retired"), (1.0, "discarded")])
def test_shadow_promotes_or_discards_and_costs_detector_time(margin, status):
    s, res = _run(scenario(**{"retraining.shadow.enabled": True, "retraining.shadow.days": 1.0,
                              "retraining.shadow.margin": margin,
                              "retraining.shadow.cost_factor": 5.0}))
    _conserved(res)
    m = res.models.set_index("version")
    assert m.loc[2, "status"] == status
    assert m.loc[2, "shadow_start_s"] == m.loc[2, "created_s"] + 2.0
    assert m.loc[2, "shadow_end_s"] - m.loc[2, "shadow_start_s"] >= DAY_S  # shadow.days
    tx = res.transactions.set_index("row")
    shadowed = tx["shadow_version"] == 2
    assert shadowed.sum() > 1000 and np.isfinite(tx.loc[shadowed, "shadow_score"]).all()
    assert (tx.loc[shadowed, "model_version"] != 2).all()  # the champion scored (and alerted)
    assert tx.loc[tx["shadow_version"] < 0, "shadow_score"].isna().all()
    sp = res.spans[res.spans["service"] == "fraud_detector"].set_index("trace_id")
    on = tx["shadow_version"].reindex(sp.index) >= 0
    assert sp.loc[on, "service_s"].mean() > 1.2 * sp.loc[~on, "service_s"].mean()
    promoted = m.loc[2, "n_scored"] > 0
    assert promoted == (margin < 0)


def test_on_drift_trains_once_per_cooldown():
    sc = scenario(days=5.0, **{"monitoring.drift": True, "retraining.policy": "on_drift",
                               "retraining.cooldown_days": 1.0})
    s = build(sc)
    # only the alarms below: the monitoring-service's own alarms are not handed on
    s.deployments["orchestrator"].handler.on_alarm = None

    def alarms(env):
        for t in (50.0, 60.0, 100.0):  # 60 s is a quarter day after 50 s: inside the cooldown
            yield env.timeout(t - env.now)
            s.orchestrator.on_drift({"time_s": t, "statistic": "psi"})

    s.env.process(alarms(s.env))
    res = run(s, progress=False)
    _conserved(res)
    m = res.models
    assert list(m["trigger"]) == ["initial", "drift", "drift"]
    assert np.allclose(m["job_start_s"].iloc[1:], [50.0, 100.0])


def test_the_training_window_ends_gap_days_before_the_job():
    """``retraining.gap_days`` None: the window ends ``labels.delay_days`` before the job's
    event time (the handbook's delay period), and uses no label of the gap."""
    s, res = _run(scenario(days=7.0, **{"retraining.gap_days": None}))
    _conserved(res)
    jobs = res.models[res.models["trigger"] == "scheduled"]
    assert len(jobs) == 2
    live_start, speed = s.table.live_start_s, s.scenario.workload.speedup
    for _, j in jobs.iterrows():
        now_event = live_start + j["job_start_s"] * speed
        end = pd.Timestamp(now_event - 1 * 86400.0, unit="s")  # labels.delay_days = 1
        assert pd.Timestamp(j["train_end"]) == end
        assert pd.Timestamp(j["train_start"]) == end - pd.Timedelta(days=7)
