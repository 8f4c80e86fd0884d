"""The multiwindow, multi-burn-rate alert policy against hand-computed cases (Google SRE
workbook, "Alerting on SLOs": a 2 % error rate on a 99.9 % SLO is a burn rate of 20)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.policies.slo import BurnWindow, alert_intervals, burn_rates, error_budget
from sim.scenario.resilience import SRE_WINDOWS

DT = 0.001  # one event per ms: a bad one every 50 ms while erring


def _traffic(good_s: float, bad_s: float, after_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``good_s`` of all-good traffic, then ``bad_s`` of a 2 % error rate (every 50th event
    bad), then ``after_s`` of good traffic again, one event per ``DT``."""
    t = np.arange(0.0, good_s + bad_s + after_s, DT)
    i = np.arange(len(t))
    erring = (t >= good_s) & (t < good_s + bad_s)
    return t, ~(erring & (i % 50 == 0))


def test_a_two_percent_error_rate_burns_a_three_nines_budget_20_times():
    t, good = _traffic(100.0, 100.0, 100.0)
    b = burn_rates(t, good, [160.0, 199.0], 5.0, 0.999)
    assert b == pytest.approx([20.0, 20.0], rel=0.02)  # 100 bad of 5000 events, ±1 at the edges
    fast, very_fast = BurnWindow(60.0, 5.0, 14.4), BurnWindow(60.0, 5.0, 30.0)
    assert [a.burn_rate for a in alert_intervals(t, good, 0.999, [fast, very_fast])] == [14.4]


def test_the_alert_fires_once_the_long_window_has_burned_enough():
    # 100 s good, then 2 %: the 60 s window's burn is 20 · x / 60 after x s of errors, above
    # 14.4 from x = 43.2 s (the 5 s window is above it from x = 3.6 s).
    t, good = _traffic(100.0, 100.0, 100.0)
    (a,) = alert_intervals(t, good, 0.999, [BurnWindow(60.0, 5.0, 14.4)])
    assert a.start_s == pytest.approx(143.2, abs=0.06)


def test_the_short_window_resets_the_alert_soon_after_the_errors_stop():
    # errors stop at 200 s: the 5 s window's burn 20 · (5 − y) / 5 falls under 14.4 at y = 1.4
    # s; the 60 s window alone would keep firing until y = 16.8 s.
    t, good = _traffic(100.0, 100.0, 100.0)
    (a,) = alert_intervals(t, good, 0.999, [BurnWindow(60.0, 5.0, 14.4)])
    assert a.end_s == pytest.approx(201.4, abs=0.06)
    (long_only,) = alert_intervals(t, good, 0.999, [BurnWindow(60.0, 60.0, 14.4)])
    assert long_only.end_s == pytest.approx(216.8, abs=0.06)
    assert a.peak_burn_rate == pytest.approx(20.0, rel=0.02)


def test_the_slow_burn_alert_needs_a_long_incident():
    # 6x over 360 s: 20 · x / 360 > 6 from x = 108 s of errors
    short = alert_intervals(*_traffic(400.0, 100.0, 50.0), 0.999, [BurnWindow(360, 30, 6.0)])
    assert short == []
    (a,) = alert_intervals(*_traffic(400.0, 200.0, 50.0), 0.999, [BurnWindow(360, 30, 6.0)])
    assert a.start_s == pytest.approx(508.0, abs=0.06)


def test_the_scenarios_sre_windows_are_accepted():
    t, good = _traffic(400.0, 100.0, 100.0)
    fired = alert_intervals(t, good, 0.999, SRE_WINDOWS)
    assert [a.burn_rate for a in fired] == [14.4]  # 6x over 360 s: 20 · 100 / 360 < 6


def test_a_grid_evaluation_holds_the_state_until_the_next_grid_time():
    t, good = _traffic(100.0, 100.0, 100.0)
    (a,) = alert_intervals(t, good, 0.999, [BurnWindow(60.0, 5.0, 14.4)],
                           grid=np.arange(0.0, 301.0, 10.0))
    assert (a.start_s, a.end_s) == (150.0, 210.0)


def test_no_traffic_is_no_burn():
    assert np.isnan(burn_rates([1.0], [False], [10.0], 5.0, 0.99)[0])
    (a,) = alert_intervals([1.0], [False], 0.99, [BurnWindow(5.0, 1.0, 2.0)])
    assert (a.start_s, a.end_s) == (1.0, 2.0)  # fires while the short window holds it
    assert alert_intervals([], [], 0.99, SRE_WINDOWS) == []


def test_end_s_closes_an_alert_still_firing():
    (a,) = alert_intervals([0.0, 1.0], [False, False], 0.9, [BurnWindow(10, 5, 2.0)],
                           end_s=3.0)
    assert a.end_s == 3.0


@pytest.mark.parametrize(("call", "field"), [
    (lambda: error_budget(1.0), "objective"),
    (lambda: burn_rates([0.0], [True], [0.0], 0.0, 0.9), "window_s"),
    (lambda: alert_intervals([0.0], [True], 0.9, [BurnWindow(5, 10, 2)]), "alerts.short_s"),
    (lambda: alert_intervals([0.0], [True, False], 0.9, SRE_WINDOWS), "good"),
])
def test_bad_input_is_one_line_naming_the_field(call, field):
    with pytest.raises(ValueError, match=rf"^{field}: ") as exc:
        call()
    assert "\n" not in str(exc.value)
