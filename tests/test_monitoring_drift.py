"""The monitoring-service's drift checks: an injected amount shift is detected, alarms go
through the drift-detected topic to the orchestrator's callback (issue 12)."""

from __future__ import annotations

import dataclasses

import numpy as np
from drift_helpers import drift_scenario

import sim.system
from sim.system import build, run


def test_an_amount_shift_is_detected_and_handed_to_the_orchestrator(monkeypatch):
    real = sim.system.build_workload
    onset_day = 3

    def shifted(*a, **k):
        t = real(*a, **k)
        day0 = t.live_start_s - 10 * 3600.0
        amount = t.amount.copy()
        amount[t.event_time_s >= day0 + onset_day * 86400.0] *= 3.0
        return dataclasses.replace(t, amount=amount)

    monkeypatch.setattr(sim.system, "build_workload", shifted)
    s = build(drift_scenario(0, days=6.0), progress=False)
    got = []
    s.deployments["orchestrator"].handler.on_alarm = got.append
    res = run(s, progress=False)
    alarms = res.drift[res.drift["event"] == "alarm"]
    amount = alarms[alarms["feature"] == "TX_AMOUNT"]
    assert len(amount) and set(amount["statistic"]) == {"psi", "ks"}
    onset_s = (s.table.live_start_s - 10 * 3600 + onset_day * 86400 - s.table.live_start_s) / 2000
    delay = amount["time_s"].min() - onset_s
    # one window (a day) after the onset, plus the pipeline latency until the check is consumed
    assert 0 < delay < 2 * 86400 / 2000 + res.summary_dict()["latency_max_s"]
    assert not len(alarms[alarms["time_s"] < onset_s])  # none before the onset
    assert len(got) == len(alarms) and res.summary_dict()["drift_alarms"] == len(alarms)
    assert (res.incidents["kind"] == "drift_detected").sum() == len(alarms)
    assert np.isfinite(res.daily["auc_roc"]).all()
