"""The retraining loop's pure policies (sim.policies.retraining) and the fit of a job
(sim.services.training_data.fit_version), without SimPy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.policies.retraining import TriggerPolicy, delayed_metric, guard_verdict, shadow_verdict
from sim.services.training_data import TrainingFailed, TrainingSet, fit_version

DAY = 86400.0


def test_scheduled_fires_every_n_days_of_event_time_and_once_for_missed_slots():
    p = TriggerPolicy("scheduled", every_days=2.0, cooldown_days=1.0, origin_s=1000.0)
    hours = np.arange(0, 24 * 7) * 3600.0 + 1000.0
    fired = [t for t in hours if p.scheduled(t)]
    assert fired == [1000.0 + 2 * DAY, 1000.0 + 4 * DAY, 1000.0 + 6 * DAY]
    q = TriggerPolicy("scheduled", every_days=1.0, cooldown_days=1.0, origin_s=0.0)
    assert q.scheduled(3.5 * DAY) and not q.scheduled(3.9 * DAY) and q.scheduled(4.0 * DAY)


@pytest.mark.parametrize("policy", ["none", "on_drift"])
def test_no_schedule_without_a_scheduled_policy(policy):
    p = TriggerPolicy(policy, every_days=1.0, cooldown_days=0.0, origin_s=0.0)
    assert not any(p.scheduled(d * DAY) for d in range(10))


def test_drift_respects_the_cooldown_and_the_policy():
    p = TriggerPolicy("both", every_days=7.0, cooldown_days=2.0, origin_s=0.0)
    assert [p.drift(d * DAY) for d in (0.0, 1.0, 1.99, 2.0, 3.0, 4.5)] == \
        [True, False, False, True, False, True]
    assert not TriggerPolicy("scheduled", 7.0, 0.0, 0.0).drift(0.0)
    with pytest.raises(ValueError, match="retraining.every_days"):
        TriggerPolicy("scheduled", every_days=0.0, cooldown_days=0.0, origin_s=0.0)


def test_shadow_waits_for_days_and_labels_then_promotes_only_a_better_challenger():
    kw = {"days": 2.0, "min_labels": 100, "margin": 0.05}
    assert shadow_verdict(0.9, 0.5, 99, 5.0, **kw) == "wait"
    assert shadow_verdict(0.9, 0.5, 500, 1.9, **kw) == "wait"
    assert shadow_verdict(math.nan, 0.5, 500, 3.0, **kw) == "wait"
    assert shadow_verdict(0.56, 0.5, 500, 3.0, **kw) == "promote"
    assert shadow_verdict(0.55, 0.5, 500, 3.0, **kw) == "discard"


def test_guard_rolls_back_below_min_ratio_of_the_previous_version():
    kw = {"after_days": 1.0, "min_labels": 200, "min_ratio": 0.5}
    assert guard_verdict(0.29, 0.6, 300, 1.0, **kw) == "roll_back"
    assert guard_verdict(0.30, 0.6, 300, 1.0, **kw) == "keep"
    assert guard_verdict(0.0, 0.6, 199, 9.0, **kw) == "wait"
    assert guard_verdict(0.0, 0.6, 300, 0.99, **kw) == "wait"
    assert guard_verdict(0.0, math.nan, 300, 2.0, **kw) == "wait"


def test_delayed_metric_is_nan_with_one_class_and_ranks_otherwise():
    y = np.array([0, 0, 1, 1])
    good, bad = np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.9, 0.8, 0.2, 0.1])
    day, card = np.zeros(4), np.arange(4)
    assert delayed_metric("average_precision", y, good, day, card) == 1.0
    assert delayed_metric("average_precision", y, bad, day, card) < 0.6
    assert math.isnan(delayed_metric("average_precision", np.zeros(4, int), good, day, card))
    assert delayed_metric("card_precision_at_100", y, good, day, card, k=2) == 1.0


def _set(y: np.ndarray, days: np.ndarray, rng: np.random.Generator) -> TrainingSet:
    X = rng.normal(size=(len(y), 15)) + y[:, None] * 2.0
    return TrainingSet(X=X, y=y.astype(np.int8), event_s=days * DAY + 10.0,
                       card=np.arange(len(y)), rows=np.arange(len(y)), known_max_s=0.0,
                       start_s=0.0, end_s=float(days.max() + 1) * DAY)


def test_fit_holds_the_latest_eval_days_out():
    rng = np.random.default_rng(1)
    days = np.repeat(np.arange(5), 200)
    y = (rng.random(1000) < 0.1).astype(int)
    model, m, train = fit_version(_set(y, days, rng), "logistic_regression", 2, 0)
    assert train.sum() == 600 and m["n_train"] == 600 and not train[days >= 3].any()
    assert m["auc_roc"] > 0.9 and m["average_precision"] > 0.5
    _, shuffled, _ = fit_version(_set(y, days, rng), "logistic_regression", 2, 0,
                                 shuffle=np.random.default_rng(2))
    assert shuffled["average_precision"] < m["average_precision"]


def test_fit_without_fraud_fails_the_job():
    rng = np.random.default_rng(0)
    with pytest.raises(TrainingFailed, match="both classes"):
        fit_version(_set(np.zeros(300, int), np.repeat(np.arange(3), 100), rng),
                    "logistic_regression", 1, 0)
