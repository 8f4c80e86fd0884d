"""The kubelet's CrashLoopBackOff (``sim.policies.backoff``) against Kubernetes' documented
restart policy: 10 s, doubling per crash, capped at 300 s, reset after 10 minutes running."""

from __future__ import annotations

import math

import pytest

from sim.policies import CrashLoopBackOff


def test_the_delays_double_from_10_s_to_the_300_s_cap():
    b = CrashLoopBackOff()
    assert [b.crash(ran_s=1.0) for _ in range(8)] == [10, 20, 40, 80, 160, 300, 300, 300]


def test_ten_minutes_of_running_resets_the_back_off():
    b = CrashLoopBackOff()
    for _ in range(5):
        b.crash(ran_s=1.0)
    assert b.crash(ran_s=599.0) == 300.0  # just short of 10 minutes: no reset
    assert b.crash(ran_s=600.0) == 10.0  # 10 minutes without a crash: back to 10 s
    assert b.crash(ran_s=1.0) == 20.0  # and doubling again from there


def test_the_first_delay_is_the_given_one_even_above_the_cap():
    assert [CrashLoopBackOff(initial_s=2.5).crash(1.0)] == [2.5]
    b = CrashLoopBackOff(initial_s=400.0)
    assert [b.crash(1.0), b.crash(1.0)] == [400.0, 400.0]
    b = CrashLoopBackOff(initial_s=0.0)
    assert [b.crash(1.0), b.crash(1.0)] == [0.0, 0.0]


def test_next_delay_does_not_change_the_state():
    b = CrashLoopBackOff()
    b.crash(1.0)
    assert b.next_delay_s(1.0) == b.next_delay_s(1.0) == 20.0
    assert b.next_delay_s(math.inf) == 10.0
    assert b.crash(1.0) == 20.0


@pytest.mark.parametrize("kwargs, field", [
    ({"initial_s": -1.0}, "initial_s"), ({"max_s": math.nan}, "max_s"),
    ({"reset_after_s": 0.0}, "reset_after_s"),
])
def test_bad_parameters_are_one_line_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}: must be"):
        CrashLoopBackOff(**kwargs)


def test_a_negative_running_time_is_refused():
    with pytest.raises(ValueError, match=r"^ran_s: must be >= 0"):
        CrashLoopBackOff().crash(-1.0)
