"""The circuit breaker policy against the resilience4j CircuitBreaker documentation, on scripted
call sequences whose outcomes are computed by hand, and a hypothesis property over random ones."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.policies import BreakerConfig, CircuitBreaker
from sim.policies import breaker as breaker_module
from sim.policies.breaker import CircuitState, SlidingWindowType

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def _calls(cb: CircuitBreaker, outcomes: str, start_s: float = 0.0, step_s: float = 1.0,
           duration_s: float = 0.1) -> float:
    """Record ``outcomes`` ('S' success, 'F' failure, 'L' slow success), one per ``step_s``;
    returns the time of the last one."""
    t = start_s
    for i, c in enumerate(outcomes):
        t = start_s + i * step_s
        cb.on_result(t, 120.0 if c == "L" else duration_s, success=c != "F")
    return t


def _opened(n_half_open: int = 4, wait_s: float = 60.0) -> CircuitBreaker:
    """A breaker (window 10, minimum 10) opened at t=9 by 10 failures."""
    cb = CircuitBreaker(BreakerConfig(sliding_window_size=10, minimum_number_of_calls=10,
                                      wait_duration_in_open_state_s=wait_s,
                                      permitted_number_of_calls_in_half_open_state=n_half_open))
    _calls(cb, "F" * 10)
    assert cb.state is OPEN and cb.transitions == [(9.0, CLOSED, OPEN)]
    return cb


def test_doctests() -> None:
    result = doctest.testmod(breaker_module)
    assert result.attempted >= 7 and result.failed == 0


def test_defaults_are_resilience4j_s() -> None:
    c = BreakerConfig()
    assert (c.sliding_window_type, c.sliding_window_size, c.minimum_number_of_calls) == (
        SlidingWindowType.COUNT_BASED, 100, 100)
    assert (c.failure_rate_threshold, c.slow_call_rate_threshold) == (50.0, 100.0)
    assert (c.slow_call_duration_threshold_s, c.wait_duration_in_open_state_s) == (60.0, 60.0)
    assert c.permitted_number_of_calls_in_half_open_state == 10


def test_closed_below_minimum_calls_even_at_100_percent_failures() -> None:
    cb = CircuitBreaker()
    _calls(cb, "F" * 99)
    assert cb.state is CLOSED and cb.transitions == []
    assert cb.failure_rate() == -1.0 and cb.slow_call_rate() == -1.0
    assert all(cb.try_acquire(100.0) for _ in range(3))
    cb.on_result(100.0, 0.1, success=False)  # the 100th call: 100 % >= 50 %
    assert cb.state is OPEN and cb.transitions == [(100.0, CLOSED, OPEN)]


@pytest.mark.parametrize(("last", "state", "rate"), [("F", OPEN, 50.0), ("S", CLOSED, 40.0)])
def test_opens_exactly_at_the_call_reaching_minimum_calls(last: str, state: CircuitState,
                                                          rate: float) -> None:
    cb = CircuitBreaker(BreakerConfig(sliding_window_size=10, minimum_number_of_calls=10))
    _calls(cb, "SFSFSFSFS")  # 9 calls, 4 failed: not judged yet
    assert cb.state is CLOSED and cb.failure_rate() == -1.0
    _calls(cb, last, start_s=9.0)
    assert cb.state is state and cb.failure_rate() == rate  # OPEN keeps the tripping window


def test_minimum_capped_at_a_count_window_but_not_a_time_window() -> None:
    count = CircuitBreaker(BreakerConfig(sliding_window_size=4, minimum_number_of_calls=20))
    _calls(count, "FFFF")
    assert count.state is OPEN
    timed = CircuitBreaker(BreakerConfig(sliding_window_type="TIME_BASED", sliding_window_size=4,
                                         minimum_number_of_calls=20))
    _calls(timed, "F" * 19, step_s=0.1)
    assert timed.state is CLOSED and timed.failure_rate() == -1.0
    _calls(timed, "F", start_s=1.9)
    assert timed.state is OPEN


def test_open_rejects_until_exactly_the_wait_then_the_first_try_half_opens() -> None:
    cb = _opened()
    assert not cb.try_acquire(9.0) and not cb.try_acquire(68.999)
    assert cb.state is OPEN  # no timer: still OPEN after the wait until a call attempt
    assert cb.try_acquire(69.0) and cb.state is HALF_OPEN
    assert cb.transitions[-1] == (69.0, OPEN, HALF_OPEN)
    assert cb.failure_rate() == -1.0  # a fresh half-open window


def test_results_in_open_are_ignored() -> None:
    cb = _opened()
    _calls(cb, "SSSSSSSSSS", start_s=10.0)
    assert cb.state is OPEN and cb.failure_rate() == 100.0


def test_half_open_permits_exactly_n_calls() -> None:
    cb = _opened(n_half_open=4)
    assert [cb.try_acquire(70.0) for _ in range(5)] == [True, True, True, True, False]
    _calls(cb, "SSS", start_s=71.0)  # 3 of 4 done: not judged yet, still no permit
    assert cb.state is HALF_OPEN and not cb.try_acquire(74.0)


def test_half_open_n_successes_close_with_a_reset_window() -> None:
    cb = _opened(n_half_open=4)
    assert all(cb.try_acquire(70.0) for _ in range(4))
    _calls(cb, "SSFS", start_s=71.0)  # 25 % < 50 %
    assert cb.state is CLOSED and cb.transitions[-1] == (74.0, HALF_OPEN, CLOSED)
    assert cb.failure_rate() == -1.0 and cb.try_acquire(75.0)
    _calls(cb, "F" * 9, start_s=75.0)  # the old failures are gone: 9 < 10 calls
    assert cb.state is CLOSED


def test_half_open_failure_rate_at_threshold_reopens_with_a_new_wait() -> None:
    cb = _opened(n_half_open=4)
    assert all(cb.try_acquire(70.0) for _ in range(4))
    _calls(cb, "SFSF", start_s=71.0)  # 50 % >= 50 %
    assert cb.state is OPEN and cb.transitions[-1] == (74.0, HALF_OPEN, OPEN)
    assert not cb.try_acquire(133.9)
    assert cb.try_acquire(134.0) and cb.state is HALF_OPEN
    assert [s for _, _, s in cb.transitions] == [OPEN, HALF_OPEN, OPEN, HALF_OPEN]


def test_slow_calls_open_it_by_slow_call_rate() -> None:
    cb = CircuitBreaker(BreakerConfig(sliding_window_size=4, slow_call_rate_threshold=50,
                                      slow_call_duration_threshold_s=1.0))
    cb.on_result(0.0, 1.0, success=True)  # exactly the threshold: not slow
    cb.on_result(1.0, 1.01, success=True)
    _calls(cb, "SS", start_s=2.0, duration_s=1.0)
    assert cb.state is CLOSED and cb.slow_call_rate() == 25.0 and cb.failure_rate() == 0.0
    cb.on_result(4.0, 5.0, success=True)  # window: not, slow, not, slow
    assert cb.state is OPEN and cb.slow_call_rate() == 50.0 and cb.failure_rate() == 0.0


def test_default_slow_call_rate_needs_every_call_slow() -> None:
    cb = CircuitBreaker(BreakerConfig(sliding_window_size=4))
    _calls(cb, "LLLS")
    assert cb.state is CLOSED and cb.slow_call_rate() == 75.0
    _calls(cb, "LLLL", start_s=4.0)
    assert cb.state is OPEN and cb.slow_call_rate() == 100.0


def test_a_slow_failure_counts_in_both_rates() -> None:
    cb = CircuitBreaker(BreakerConfig(sliding_window_size=4, failure_rate_threshold=100,
                                      slow_call_rate_threshold=100,
                                      slow_call_duration_threshold_s=1.0))
    for t in range(3):
        cb.on_result(float(t), 2.0, success=False)
    cb.on_result(3.0, 0.5, success=True)
    assert cb.failure_rate() == 75.0 and cb.slow_call_rate() == 75.0


def test_count_window_keeps_only_the_last_size_calls() -> None:
    cb = CircuitBreaker(BreakerConfig(sliding_window_size=4, failure_rate_threshold=75))
    _calls(cb, "SSFF")
    assert cb.state is CLOSED and cb.failure_rate() == 50.0
    _calls(cb, "F", start_s=4.0)  # window S F F F: 75 % (all five would be 60 %)
    assert cb.state is OPEN and cb.failure_rate() == 75.0


@pytest.mark.parametrize(("third_s", "state"), [(9.99, OPEN), (10.0, CLOSED)])
def test_time_window_drops_calls_older_than_the_window(third_s: float,
                                                       state: CircuitState) -> None:
    cb = CircuitBreaker(BreakerConfig(sliding_window_type=SlidingWindowType.TIME_BASED,
                                      sliding_window_size=10, minimum_number_of_calls=3))
    cb.on_result(0.0, 0.1, success=False)
    cb.on_result(1.0, 0.1, success=False)
    cb.on_result(third_s, 0.1, success=True)  # at 10.0 the second 0 has left the window
    assert cb.state is state
    if state is CLOSED:
        assert cb.failure_rate() == -1.0  # F@1, S@10: 2 calls < 3
        cb.on_result(10.5, 0.1, success=True)
        assert cb.failure_rate() == pytest.approx(100 / 3)
        assert cb.failure_rate(now_s=11.0) == -1.0  # F@1 gone too


def test_bad_times_and_durations_are_refused() -> None:
    cb = CircuitBreaker()
    cb.on_result(5.0, 0.1, success=True)
    with pytest.raises(ValueError, match="now_s"):
        cb.try_acquire(4.0)
    with pytest.raises(ValueError, match="duration_s"):
        cb.on_result(6.0, -0.1, success=True)


@pytest.mark.parametrize(("field", "value"), [
    ("failure_rate_threshold", 0), ("failure_rate_threshold", 101),
    ("slow_call_rate_threshold", 0), ("slow_call_rate_threshold", 100.5),
    ("sliding_window_size", 0), ("sliding_window_size", 2.5),
    ("minimum_number_of_calls", 0), ("permitted_number_of_calls_in_half_open_state", 0),
    ("slow_call_duration_threshold_s", 0), ("wait_duration_in_open_state_s", -1),
    ("sliding_window_type", "SLIDING"),
])
def test_config_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{field}: must be"):
        BreakerConfig(**{field: value})


def test_config_accepts_the_bounds() -> None:
    c = BreakerConfig(failure_rate_threshold=100, slow_call_rate_threshold=0.1,
                      sliding_window_size=1, minimum_number_of_calls=1,
                      permitted_number_of_calls_in_half_open_state=1)
    assert c.effective_minimum_calls == 1


OPS = st.lists(st.tuples(st.floats(0, 3), st.booleans(), st.floats(0, 2), st.booleans()),
               max_size=80)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, size=st.integers(1, 5), minimum=st.integers(1, 5), n=st.integers(1, 3),
       threshold=st.sampled_from([25.0, 50.0, 100.0]), timed=st.booleans())
def test_state_machine_properties(ops: list[tuple[float, bool, float, bool]], size: int,
                                  minimum: int, n: int, threshold: float, timed: bool) -> None:
    cb = CircuitBreaker(BreakerConfig(
        sliding_window_type="TIME_BASED" if timed else "COUNT_BASED", sliding_window_size=size,
        minimum_number_of_calls=minimum, failure_rate_threshold=threshold,
        slow_call_rate_threshold=threshold, slow_call_duration_threshold_s=1.0,
        wait_duration_in_open_state_s=2.0, permitted_number_of_calls_in_half_open_state=n))
    now, permits = 0.0, 0
    for dt, acquire, duration, success in ops:
        now += dt
        if acquire:
            before = len(cb.transitions)
            granted = cb.try_acquire(now)
            if len(cb.transitions) > before:
                permits = 0
            if granted and cb.state is HALF_OPEN:
                permits += 1
            assert permits <= n
            assert not (granted and cb.state is OPEN)
        else:
            cb.on_result(now, duration, success)
    times = [t for t, _, _ in cb.transitions]
    assert times == sorted(times)
    assert (CLOSED, HALF_OPEN) not in [(a, b) for _, a, b in cb.transitions]
    assert all(a is not b for _, a, b in cb.transitions)
    chain = [CLOSED] + [b for _, _, b in cb.transitions]
    assert all(a is prev for (_, a, _), prev in zip(cb.transitions, chain, strict=False))
