"""Time-weighted integrals of piecewise-constant levels (busy consumers, queue depth, pods).

A :class:`TimeWeighted` keeps the integral of a piecewise-constant level (busy consumers, queue
depth, ready pods) over simulated time, so that utilisation and mean queue length are exact
time averages, not means of periodic samples.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Clock", "TimeWeighted"]


class Clock(Protocol):
    """Anything with a ``now`` attribute in seconds (a ``simpy.Environment``)."""

    now: float


class TimeWeighted:
    """Integral over time of a piecewise-constant level.

    Parameters
    ----------
    clock : Clock
        Source of the current time in seconds (``env``).
    level : float
        Initial level.

    Examples
    --------
    >>> class C:
    ...     now = 0.0
    >>> c = C(); tw = TimeWeighted(c)
    >>> tw.add(2); c.now = 3.0; tw.add(-1); c.now = 5.0
    >>> tw.integral()
    8.0
    """

    __slots__ = ("_clock", "level", "_area", "_since")

    def __init__(self, clock: Clock, level: float = 0.0) -> None:
        self._clock = clock
        self.level = float(level)
        self._area = 0.0
        self._since = float(clock.now)

    def _flush(self) -> None:
        now = self._clock.now
        self._area += self.level * (now - self._since)
        self._since = now

    def add(self, delta: float) -> None:
        """Change the level by ``delta`` at the current time."""
        now = self._clock.now  # _flush inlined: this runs several times per transaction
        self._area += self.level * (now - self._since)
        self._since = now
        self.level += delta

    def set(self, level: float) -> None:
        """Set the level at the current time."""
        self._flush()
        self.level = float(level)

    def integral(self) -> float:
        """Area under the level from creation to now (level × seconds)."""
        self._flush()
        return self._area
