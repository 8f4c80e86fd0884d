"""After the card-testing drift of ``card_testing_drift``, on-drift retraining brings the daily
card precision back to its pre-drift level while the no-retraining control stays below it:
same seeds side by side, a t confidence interval over the seeds of each paired difference.

The daily card precision is the handbook's reported CP@k (cards found on earlier days removed)
at the investigators' capacity, k = ``alerts.cards_per_day`` = ``monitoring.k`` = 20: the
preset's bank has 1,000 cards, and 20 is the share (2 %) that the handbook's CP@100 is of its
5,000. Days 0-6 are before the onset (day 7); days 14-20 are after the loop has had labels of
the new pattern to learn from (a 2-day label delay, a retraining at most every 2 days).
Replication i has seed i and its own stretch of the bank: the live window starts on day
60 + 21 i (the handbook's generator draws a customer's day from the customer and the day, not
from the scenario's seed, so a new seed alone would replay the same bank).
``TINYBOTS_RECOVERY_SEEDS`` (default 3) sets the number of replications.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import stats

from sim import load_preset, run, with_changes

SEEDS = int(os.environ.get("TINYBOTS_RECOVERY_SEEDS", "3"))
MARGIN = 0.1
"""Retrained: within 0.1 of the pre-drift CP@k (the CI's lower bound); the control: below it
(the CI's upper bound < 0)."""
PRE, POST = slice(0, 7), slice(14, 21)


def _ci(x: np.ndarray) -> tuple[float, float]:
    """95 % t interval of the mean of ``x``."""
    m, se = float(np.mean(x)), float(np.std(x, ddof=1) / np.sqrt(len(x)))
    h = stats.t.ppf(0.975, len(x) - 1) * se
    return m - h, m + h


@pytest.fixture(scope="module")
def arms():
    out = []
    for seed in range(SEEDS):
        sc = with_changes(load_preset("card_testing_drift"), "seed", seed)
        sc = with_changes(sc, "workload.live_start_day", 60 + 21 * seed)
        retrained = run(sc, progress=False)
        control = run(with_changes(sc, "retraining.policy", "none"), progress=False)
        out.append((retrained, control))
    return out


def _mean(res, days: slice, col: str = "card_precision_at_k") -> float:
    d = res.daily.set_index("day")[col]
    return float(d.loc[days.start: days.stop - 1].mean())


@pytest.mark.slow
def test_retraining_recovers_the_daily_card_precision_and_the_control_does_not(arms):
    for retrained, control in arms:
        for res in (retrained, control):
            s = res.summary.iloc[0]
            assert s["completed"] == s["generated"]  # nothing lost, nothing left in flight
        assert int(retrained.summary["model_versions"][0]) > 1
        assert int(control.summary["model_versions"][0]) == 1
    pre = np.array([_mean(c, PRE) for _, c in arms])
    back = np.array([_mean(r, POST) for r, _ in arms]) - pre
    stays = np.array([_mean(c, POST) for _, c in arms]) - pre
    gain = back - stays
    assert _ci(back)[0] > -MARGIN, f"retrained minus pre-drift CP@k: {back}"
    assert _ci(stays)[1] < 0, f"control minus pre-drift CP@k: {stays}"
    assert _ci(gain)[0] > 0, f"retrained minus control: {gain}"


@pytest.mark.slow
def test_the_drift_hurts_average_precision_and_retraining_restores_it(arms):
    pre = np.array([_mean(c, PRE, "average_precision") for _, c in arms])
    control = np.array([_mean(c, POST, "average_precision") for _, c in arms])
    retrained = np.array([_mean(r, POST, "average_precision") for r, _ in arms])
    assert _ci(control - pre)[1] < -0.2  # the new pattern is missed: AP falls
    assert _ci(retrained - pre)[0] > -MARGIN
    onset = [r.drift.query("event == 'onset'") for r, _ in arms]
    assert all(len(o) == 1 and o["kind"].iloc[0] == "card_testing" for o in onset)
    assert all(np.isfinite(r.summary["drift_detection_delay_s"].astype(float)[0])
               for r, _ in arms)
