"""A circuit breaker with resilience4j's semantics, as a pure policy (no SimPy inside).

Models the state machine of the resilience4j CircuitBreaker documentation
(``CircuitBreakerStateMachine``):

- **CLOSED**: every call is permitted; outcomes go into a sliding window (the last
  ``sliding_window_size`` calls, or the calls of the last ``sliding_window_size`` seconds in
  1 s buckets by epoch second). Once the window holds at least ``minimum_number_of_calls``
  (capped at the window size for a count-based window, as resilience4j's
  ``CircuitBreakerMetrics`` does), a failure rate or slow-call rate at or above its threshold
  opens the breaker.
- **OPEN**: every call is refused (resilience4j's ``CallNotPermittedException``). With
  ``automaticTransitionFromOpenToHalfOpenEnabled`` false (resilience4j's default) the breaker
  moves to HALF_OPEN lazily, on the first call attempt once ``wait_duration_in_open_state_s``
  has elapsed: :meth:`CircuitBreaker.try_acquire` performs that transition.
- **HALF_OPEN**: ``permitted_number_of_calls_in_half_open_state`` calls are permitted, the
  rest refused. Their outcomes go into a fresh count-based window of that size whose minimum
  is that size (``CircuitBreakerMetrics.forHalfOpen``); once it is full, a rate at or above a
  threshold reopens the breaker (a new wait), else it closes with an empty window.

resilience4j's DISABLED, FORCED_OPEN and METRICS_ONLY states, ``maxWaitDurationInHalfOpenState``
and the recording/ignoring of exceptions by type are left out. A fallback is not part of the
policy: the caller decides what to do when :meth:`CircuitBreaker.try_acquire` is False.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BreakerConfig", "CircuitBreaker", "CircuitState", "SlidingWindowType"]


class CircuitState(StrEnum):
    """The breaker's state (resilience4j's ``CircuitBreaker.State``, without DISABLED,
    FORCED_OPEN and METRICS_ONLY)."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class SlidingWindowType(StrEnum):
    """resilience4j's ``slidingWindowType``: the last N calls, or the last N seconds."""

    COUNT_BASED = "COUNT_BASED"
    TIME_BASED = "TIME_BASED"


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class BreakerConfig:
    """A circuit breaker's configuration, with the defaults of the resilience4j
    CircuitBreaker documentation.

    Parameters
    ----------
    sliding_window_type : SlidingWindowType or str
        ``COUNT_BASED`` (default) or ``TIME_BASED``.
    sliding_window_size : int
        Calls (count-based) or seconds (time-based) in the window (>= 1; default 100).
    minimum_number_of_calls : int
        Calls in the window before the rates are judged (>= 1; default 100). A count-based
        window caps it at ``sliding_window_size``, as resilience4j does.
    failure_rate_threshold : float
        Failure rate that opens the breaker, percent, in (0, 100] (default 50).
    slow_call_rate_threshold : float
        Slow-call rate that opens the breaker, percent, in (0, 100] (default 100).
    slow_call_duration_threshold_s : float
        A call longer than this is slow, s (> 0; default 60).
    wait_duration_in_open_state_s : float
        Time in OPEN before a call may move it to HALF_OPEN, s (> 0; default 60).
    permitted_number_of_calls_in_half_open_state : int
        Calls permitted in HALF_OPEN (>= 1; default 10).

    Raises
    ------
    ValueError
        A field out of its range, naming the field and the range.

    Examples
    --------
    >>> BreakerConfig(sliding_window_size=10).effective_minimum_calls
    10
    >>> BreakerConfig(failure_rate_threshold=0)
    Traceback (most recent call last):
    ...
    ValueError: failure_rate_threshold: must be in (0, 100] percent, got 0
    """

    sliding_window_type: SlidingWindowType = SlidingWindowType.COUNT_BASED
    sliding_window_size: int = 100
    minimum_number_of_calls: int = 100
    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_threshold_s: float = 60.0
    wait_duration_in_open_state_s: float = 60.0
    permitted_number_of_calls_in_half_open_state: int = 10

    def __post_init__(self) -> None:
        try:
            kind = SlidingWindowType(self.sliding_window_type)
        except ValueError:
            raise ValueError(f"sliding_window_type: must be COUNT_BASED or TIME_BASED, got "
                             f"{self.sliding_window_type!r}") from None
        object.__setattr__(self, "sliding_window_type", kind)
        for name in ("sliding_window_size", "minimum_number_of_calls",
                     "permitted_number_of_calls_in_half_open_state"):
            value = getattr(self, name)
            if not (_number(value) and isinstance(value, int) and value >= 1):
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            if not (_number(value) and 0 < value <= 100):
                raise ValueError(f"{name}: must be in (0, 100] percent, got {value!r}")
        for name in ("slow_call_duration_threshold_s", "wait_duration_in_open_state_s"):
            value = getattr(self, name)
            if not (_number(value) and value > 0):
                raise ValueError(f"{name}: must be a number > 0, got {value!r}")

    @property
    def effective_minimum_calls(self) -> int:
        """``minimum_number_of_calls``, capped at the window size when count-based."""
        if self.sliding_window_type is SlidingWindowType.COUNT_BASED:
            return min(self.minimum_number_of_calls, self.sliding_window_size)
        return self.minimum_number_of_calls


class _CountWindow:
    """The outcomes of the last ``size`` calls, with running totals."""

    def __init__(self, size: int) -> None:
        self.calls: deque[tuple[bool, bool]] = deque()
        self.size, self.failed, self.slow = size, 0, 0

    def record(self, now_s: float, failed: bool, slow: bool) -> None:
        if len(self.calls) == self.size:
            old_failed, old_slow = self.calls.popleft()
            self.failed, self.slow = self.failed - old_failed, self.slow - old_slow
        self.calls.append((failed, slow))
        self.failed, self.slow = self.failed + failed, self.slow + slow

    def totals(self, now_s: float) -> tuple[int, int, int]:
        return len(self.calls), self.failed, self.slow


class _TimeWindow:
    """The outcomes of the last ``size`` epoch seconds (the current one included), in 1 s
    buckets, as resilience4j's ``SlidingTimeWindowMetrics`` partial aggregations."""

    def __init__(self, size: int) -> None:
        self.buckets: deque[list[int]] = deque()  # [epoch second, calls, failed, slow]
        self.size = size

    def _move(self, now_s: float) -> int:
        second = int(now_s // 1)
        while self.buckets and self.buckets[0][0] <= second - self.size:
            self.buckets.popleft()
        return second

    def record(self, now_s: float, failed: bool, slow: bool) -> None:
        second = self._move(now_s)
        if not self.buckets or self.buckets[-1][0] != second:
            self.buckets.append([second, 0, 0, 0])
        self.buckets[-1][1:] = [b + d for b, d in zip(self.buckets[-1][1:], (1, failed, slow),
                                                    strict=True)]

    def totals(self, now_s: float) -> tuple[int, int, int]:
        self._move(now_s)
        return (sum(b[1] for b in self.buckets), sum(b[2] for b in self.buckets),
                sum(b[3] for b in self.buckets))


class CircuitBreaker:
    """resilience4j's circuit breaker on one dependency (see the module docstring).

    Parameters
    ----------
    config : BreakerConfig, optional
        Thresholds, window and waits; default the resilience4j CircuitBreaker documentation's.

    Attributes
    ----------
    transitions : list of (float, CircuitState, CircuitState)
        Every state change as ``(time_s, from, to)``, in time order.

    Examples
    --------
    >>> cb = CircuitBreaker(BreakerConfig(sliding_window_size=4,
    ...                                   permitted_number_of_calls_in_half_open_state=1))
    >>> for t in range(4):
    ...     cb.on_result(float(t), 0.1, success=t % 2 == 0)
    >>> cb.state.value, cb.failure_rate(), cb.try_acquire(10.0)
    ('OPEN', 50.0, False)
    >>> cb.try_acquire(63.0), cb.state.value
    (True, 'HALF_OPEN')
    >>> cb.on_result(63.5, 0.1, success=True)
    >>> [(t, a.value, b.value) for t, a, b in cb.transitions]
    [(3.0, 'CLOSED', 'OPEN'), (63.0, 'OPEN', 'HALF_OPEN'), (63.5, 'HALF_OPEN', 'CLOSED')]
    """

    def __init__(self, config: BreakerConfig | None = None) -> None:
        self.config = config if config is not None else BreakerConfig()
        self.transitions: list[tuple[float, CircuitState, CircuitState]] = []
        self._state = CircuitState.CLOSED
        self._window: _CountWindow | _TimeWindow = self._closed_window()
        self._minimum = self.config.effective_minimum_calls
        self._opened_s, self._permits_left, self._last_s = 0.0, 0, float("-inf")

    @property
    def state(self) -> CircuitState:
        """The current state; OPEN stays OPEN after the wait until :meth:`try_acquire`."""
        return self._state

    def _closed_window(self) -> _CountWindow | _TimeWindow:
        c = self.config
        if c.sliding_window_type is SlidingWindowType.TIME_BASED:
            return _TimeWindow(c.sliding_window_size)
        return _CountWindow(c.sliding_window_size)

    def _clock(self, now_s: float) -> None:
        if now_s < self._last_s:
            raise ValueError(f"now_s: must be >= the last time seen ({self._last_s}), "
                             f"got {now_s}")
        self._last_s = now_s

    def _move_to(self, now_s: float, to: CircuitState) -> None:
        self.transitions.append((now_s, self._state, to))
        self._state = to
        c = self.config
        if to is CircuitState.OPEN:  # the window that tripped it stays readable
            self._opened_s = now_s
        elif to is CircuitState.HALF_OPEN:
            n = c.permitted_number_of_calls_in_half_open_state
            self._window, self._minimum, self._permits_left = _CountWindow(n), n, n
        else:
            self._window, self._minimum = self._closed_window(), c.effective_minimum_calls

    def try_acquire(self, now_s: float) -> bool:
        """Whether a call may start at ``now_s`` (s); False is resilience4j's
        ``CallNotPermittedException``.

        CLOSED: True. OPEN: False until ``wait_duration_in_open_state_s`` has elapsed since it
        opened; the first attempt from then moves it to HALF_OPEN and is judged there.
        HALF_OPEN: True for the first ``permitted_number_of_calls_in_half_open_state``
        attempts in that state, then False.

        Raises
        ------
        ValueError
            ``now_s`` earlier than a time already seen.
        """
        self._clock(now_s)
        if self._state is CircuitState.OPEN:
            if now_s - self._opened_s < self.config.wait_duration_in_open_state_s:
                return False
            self._move_to(now_s, CircuitState.HALF_OPEN)
        if self._state is CircuitState.HALF_OPEN:
            if self._permits_left == 0:
                return False
            self._permits_left -= 1
        return True

    def on_result(self, now_s: float, duration_s: float, success: bool) -> None:
        """Record a call that ended at ``now_s`` (s) after ``duration_s`` (s).

        A call longer than ``slow_call_duration_threshold_s`` is slow; a failure counts as
        failed whatever its duration (a slow failure counts in both rates, resilience4j's
        ``SLOW_ERROR``). In CLOSED and HALF_OPEN the thresholds are then checked; in OPEN the
        outcome is ignored (resilience4j records it in the window being dropped). As in
        resilience4j, any result recorded in HALF_OPEN counts, even of a call permitted before.

        Raises
        ------
        ValueError
            A negative ``duration_s``, or ``now_s`` earlier than a time already seen.
        """
        if not duration_s >= 0:
            raise ValueError(f"duration_s: must be >= 0, got {duration_s}")
        self._clock(now_s)
        if self._state is CircuitState.OPEN:
            return
        slow = duration_s > self.config.slow_call_duration_threshold_s
        self._window.record(now_s, not success, slow)
        failure, slow_rate = self.failure_rate(now_s), self.slow_call_rate(now_s)
        if failure < 0:
            return
        if (failure >= self.config.failure_rate_threshold
                or slow_rate >= self.config.slow_call_rate_threshold):
            self._move_to(now_s, CircuitState.OPEN)
        elif self._state is CircuitState.HALF_OPEN:
            self._move_to(now_s, CircuitState.CLOSED)

    def _rate(self, now_s: float | None, index: int) -> float:
        totals = self._window.totals(self._last_s if now_s is None else now_s)
        if totals[0] < self._minimum:
            return -1.0
        return totals[index] * 100.0 / totals[0]

    def failure_rate(self, now_s: float | None = None) -> float:
        """Failed calls over the calls in the window, percent; -1 below the minimum number of
        calls (resilience4j's ``getFailureRate``). In OPEN, the window that opened it.

        ``now_s`` (default: the last time seen) slides a time-based window.
        """
        return self._rate(now_s, 1)

    def slow_call_rate(self, now_s: float | None = None) -> float:
        """Slow calls over the calls in the window, percent; -1 below the minimum number of
        calls (resilience4j's ``getSlowCallRate``); as :meth:`failure_rate` otherwise."""
        return self._rate(now_s, 2)
