"""The drift results: the ``drift`` and ``daily`` frames survive ``Results.save`` / ``load``,
``drift_detection_delay_s`` is a float or JSON null in ``summary.json``, and
``DriftWatch.set_reference`` makes the checks compare with the new reference (issue 12)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
from drift_helpers import drift_scenario

import sim
from sim.scenario.learning import MonitoringSpec
from sim.services.drift_watch import DriftWatch
from sim.system import build, run
from tinybots.schema import FEATURE_COLUMNS

DRIFT = [{"kind": "covariate", "onset_day": 2, "amount_factor": 2.0}]


def _run(**changes):
    return run(build(drift_scenario(0, days=3.0, **changes), progress=False), progress=False)


def test_drift_and_daily_frames_round_trip_and_the_delay_is_a_float(tmp_path):
    res = _run(**{"workload.drift": DRIFT})
    assert (res.drift["event"] == "alarm").any() and len(res.daily) >= 3
    out = res.save(tmp_path / "r")
    back = sim.Results.load(out)
    for name in ("drift", "daily"):
        got, want = getattr(back, name), getattr(res, name)
        # text columns come back as pandas' string dtype; every other dtype is kept
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
        kept = [c for c in want.columns if want[c].dtype.kind != "O"]
        assert kept and (got[kept].dtypes == want[kept].dtypes).all()
    summary = json.loads((out / "summary.json").read_text())
    assert isinstance(summary["drift_detection_delay_s"], float)
    assert summary["drift_detection_delay_s"] == res.drift["delay_s"].iloc[0] > 0
    assert summary["drift_alarms"] == (res.drift["event"] == "alarm").sum()


def test_the_delay_is_json_null_without_an_alarm_after_the_onset(tmp_path):
    quiet = {"monitoring.psi_threshold": 10.0, "monitoring.ks_alpha": 1e-300,
             "monitoring.detector": {"kind": "none"}}
    res = _run(**{"workload.drift": DRIFT}, **quiet)
    assert (res.drift["event"] == "onset").sum() == 1 and res.summary_dict()["drift_alarms"] == 0
    assert np.isnan(res.drift["delay_s"].iloc[0])
    text = (res.save(tmp_path / "r") / "summary.json").read_text()
    assert '"drift_detection_delay_s": null' in text
    assert json.loads(text)["drift_detection_delay_s"] is None


def _watch(n_per_day: int, days: int, rng: np.random.Generator):
    """A DriftWatch over fakes: ``days`` days of rows shifted by 3 from N(0, 1), then one row
    past the last midnight to trigger its check."""
    n = n_per_day * days + 1
    ev = np.concatenate([np.sort(rng.uniform(d * 86400.0, (d + 1) * 86400.0, n_per_day))
                         for d in range(days)] + [np.array([days * 86400.0 + 1.0])])
    feats = rng.normal(3.0, 1.0, (n, len(FEATURE_COLUMNS)))
    feats[:, FEATURE_COLUMNS.index("TX_DURING_WEEKEND")] = 0.0
    ledger = SimpleNamespace(score=rng.uniform(size=n))
    table = SimpleNamespace(event_time_s=ev, customer_id=np.arange(n))
    store = SimpleNamespace(known_at_s=np.full(n, np.inf), value=np.zeros(n))
    topic = SimpleNamespace(send=lambda ids, parts: ids)
    spec = MonitoringSpec(drift=True, min_window_rows=100, detector={"kind": "none"})
    return DriftWatch(spec, table, ledger, SimpleNamespace(features=feats), store, topic,
                      0.0, 0.0, 2000.0), feats, ledger.score, ev


def test_after_set_reference_the_checks_compare_with_the_new_reference():
    rng = np.random.default_rng(3)
    watch, feats, score, ev = _watch(500, 2, rng)
    ref = rng.normal(0.0, 1.0, (3000, len(FEATURE_COLUMNS)))
    ref[:, FEATURE_COLUMNS.index("TX_DURING_WEEKEND")] = 0.0
    watch.set_reference(ref, rng.uniform(size=3000), version=1)
    day1 = np.flatnonzero(ev < 86400.0)
    assert watch.consumed(day1, 10.0) is None and not watch.checks  # not due before day 1
    first = watch.consumed(np.array([day1[-1] + 1]), 11.0)  # the first row of day 1: check
    assert first is not None and len(watch.alarms) >= 14  # every shifted feature alarms
    assert {a["model_version"] for a in watch.alarms} == {1}
    # the next window's own rows as the reference: nothing differs, no alarm
    day2 = np.flatnonzero((ev > 86400.0) & (ev <= 2 * 86400.0))
    watch.set_reference(feats[day2], score[day2], version=2)
    n = len(watch.alarms)
    assert watch.consumed(day2[1:], 20.0) is None
    assert watch.consumed(np.array([len(ev) - 1]), 21.0) is None
    check = watch.checks[-1]
    assert len(watch.checks) == 2 and check["n_current"] == len(day2)
    assert check["n_reference"] == len(day2) and len(watch.alarms) == n
    assert all(s.value == 0.0 for s in check["stats"] if s.statistic == "psi")
