"""The label feed's delay distribution, coverage and investigators' feedback (issue 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from drift_helpers import drift_scenario

from sim.scenario.learning import LabelDelaySpec, LabelSpec
from sim.services.label_feed import LabelTable
from sim.services.label_rules import CardIndex, feedback_rows, fraud_delays_days, label_due
from sim.services.label_store import LabelStore
from sim.system import build, run


def test_exponential_and_lognormal_delays_have_their_mean():
    rng = np.random.default_rng(1)
    for spec in (LabelDelaySpec(distribution="exponential", mean_days=3.0, min_days=1.0),
                 LabelDelaySpec(distribution="lognormal", mean_days=3.0, min_days=1.0,
                                sigma=0.5)):
        d = fraud_delays_days(spec, 7, 20_000, rng)
        half = 3 * d.std() / np.sqrt(len(d))  # 3-sigma CI of the mean
        assert abs(d.mean() - 3.0) < half and d.min() >= 1.0


def test_uniform_delays_and_the_cap():
    d = fraud_delays_days(LabelDelaySpec(distribution="uniform", min_days=1.0, max_days=5.0), 7,
                          20_000, np.random.default_rng(2))
    assert abs(d.mean() - 3.0) < 3 * (4 / np.sqrt(12)) / np.sqrt(len(d))
    capped = fraud_delays_days(LabelDelaySpec(distribution="exponential", max_days=2.0), 7,
                               1000, np.random.default_rng(3))
    assert capped.max() == 2.0


def test_coverage_share_and_unreported_frauds_are_published_as_genuine_at_delay_days():
    n = 20_000
    fraud = np.ones(n, dtype=np.int64)
    event = np.arange(n, dtype=np.float64)
    spec = LabelSpec(coverage=0.3, fraud_delay=LabelDelaySpec(distribution="exponential",
                                                              mean_days=2.0))
    value, due = label_due(event, fraud, spec, np.random.default_rng(4))
    share = value.mean()
    assert abs(share - 0.3) < 3 * np.sqrt(0.3 * 0.7 / n)
    np.testing.assert_array_equal(due[value == 0], event[value == 0] + 7 * 86400.0)
    assert not np.allclose(due[value == 1], event[value == 1] + 7 * 86400.0)


def test_label_table_is_sorted_by_due_time():
    rng = np.random.default_rng(5)
    event = np.sort(rng.uniform(0, 1e5, 500))
    delays = rng.exponential(86400.0, 500)
    t = LabelTable(rng.integers(0, 9, 500), event, rng.integers(0, 2, 500), delays,
                   np.arange(500))
    assert np.all(np.diff(t.due_s) >= 0)
    np.testing.assert_allclose(t.due_s - t.event_time_s, delays[t.rows])


def test_feedback_rows_are_the_cards_lookback_window():
    ix = CardIndex(np.array([1, 1, 1, 2]), np.array([0.0, 50_000.0, 100_000.0, 99_000.0]))
    assert feedback_rows(ix, np.array([1, 1]), 100_000.0, 1.0).tolist() == [1, 2]
    assert feedback_rows(ix, np.array([2]), 98_000.0, 1.0).tolist() == []


def _label_store(s):
    return s.deployments["label_feed"].handler.label_store


def test_feedback_labels_arrive_at_alert_plus_delay_and_feed_labels_keep_their_rule():
    sc = drift_scenario(0, days=3.0, **{"labels.feedback": {"enabled": True, "delay_days": 0.5},
                                        "labels.coverage": 0.5,
                                        "labels.fraud_delay": {"distribution": "exponential",
                                                               "mean_days": 2.0}})
    s = build(sc, progress=False)
    res = run(s, progress=False)
    store: LabelStore = _label_store(s)
    fb = np.flatnonzero(store.source == LabelStore.FEEDBACK)
    assert len(fb) > 0
    checks = s.deployments["alert_service"].handler.on_alert.__self__.checks
    first_due = min(c[1] for c in checks if c[2] > 0)
    delay = 0.5 * 86400 / sc.workload.speedup
    assert all(abs(c[1] - c[0] - delay) < 1e-9 for c in checks)
    assert store.known_at_s[fb].min() >= first_due - 1e-9
    np.testing.assert_array_equal(store.value[fb], s.table.fraud[fb])  # true labels
    feed = np.flatnonzero(np.isfinite(store.known_at_s) & (store.source == LabelStore.FEED))
    lab = s.labels
    due = pd.Series(lab.due_s, index=lab.rows).loc[feed].to_numpy()
    rule = (due - s.table.live_start_s) / sc.workload.speedup
    assert np.all(store.known_at_s[feed] >= rule - 1e-6)  # never before its rule
    assert res.summary_dict()["generated"] == sum(  # labels stay outside conservation
        res.summary_dict()[k] for k in ("completed", "in_flight", "shed", "dead_lettered",
                                        "lost"))


def test_fast_label_path_equals_the_event_path_with_drawn_delays():
    ch = {"labels.coverage": 0.6, "monitoring.drift": False,
          "labels.fraud_delay": {"distribution": "exponential", "mean_days": 1.0}}
    fast = run(drift_scenario(1, days=2.0, **ch), progress=False)
    slow = run(drift_scenario(1, days=2.0, **ch, **{"engine.fast_paths": "off"}),
               progress=False)
    pd.testing.assert_frame_equal(fast.transactions, slow.transactions)


@pytest.mark.parametrize("changes, field", [
    ({"labels.coverage": 1.5}, "labels.coverage"),
    ({"labels.fraud_delay": {"min_days": -1.0}}, "labels.fraud_delay.min_days"),
    ({"monitoring.window_days": 30.0}, "monitoring.window_days"),
])
def test_bad_learning_input_is_a_one_line_error(changes, field, tmp_path, capsys):
    import yaml

    from sim.cli import main
    from tinybots.errors import InputError

    with pytest.raises((InputError, ValueError)) as err:
        build(drift_scenario(0, days=2.0, **changes), progress=False)
    assert field in str(err.value).splitlines()[0] or field in str(err.value)
    d = drift_scenario(0, days=2.0).model_dump()
    head, _, last = next(iter(changes)).rpartition(".")
    cur = d
    for p in head.split("."):
        cur = cur[p]
    cur[last] = next(iter(changes.values()))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d))
    capsys.readouterr()
    assert main(["run", "--scenario", str(path), "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert any(field in line for line in err) and len(err) <= 2, err
