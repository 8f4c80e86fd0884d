"""Multiwindow, multi-burn-rate SLO alerts (Google SRE workbook, "Alerting on SLOs"), pure.

An SLO with objective ``o`` (e.g. 0.999: 99.9 % of events good) has the error budget
``1 − o``. Over a window of ``w`` seconds ending at ``t`` the *burn rate* is the window's bad
fraction divided by the budget: 1 spends the budget exactly at the allowed pace, 14.4 spends
a 30-day budget's 2 % in one hour. The workbook's recommended paging alert (its sixth
iteration, "Multiwindow, Multi-Burn-Rate Alerts") fires while the burn rate exceeds the
threshold over *both* a long window and a short one (1/12 of it): the long window makes it
significant, the short one makes it reset within minutes after the errors stop, where a
long-window-only alert would keep paging for most of an hour.

Events are ``(time, good)`` pairs (numpy arrays). Window ``w`` at time ``t`` holds the events
with ``t − w < time ≤ t``; with no event in a window its burn rate is NaN and the alert does
not fire there (Prometheus: a ratio of two zero rates is NaN, and ``NaN > x`` is false).
:func:`alert_intervals` evaluates the condition exactly, at every time it can change (an event
entering or leaving a window), or at a given time grid (a rule evaluated every
``evaluation_interval``). No SimPy and no pandas: ``sim.analysis.isolation`` applies it to a
run's records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["AlertInterval", "BurnWindow", "alert_intervals", "burn_rates", "error_budget"]


@dataclass(frozen=True)
class BurnWindow:
    """One paging alert: burn rate above ``burn_rate`` over ``long_s`` and ``short_s`` (s).

    The scenario's ``sim.scenario.resilience.BurnRateWindow`` has the same fields; either can
    be passed to :func:`alert_intervals`.
    """

    long_s: float
    short_s: float
    burn_rate: float


@dataclass(frozen=True)
class AlertInterval:
    """An alert firing over ``[start_s, end_s)``: its windows ``long_s``, ``short_s`` and
    threshold ``burn_rate``, and ``peak_burn_rate``, the largest long-window burn rate while it
    fired."""

    start_s: float
    end_s: float
    long_s: float
    short_s: float
    burn_rate: float
    peak_burn_rate: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def error_budget(objective: float) -> float:
    """The error budget ``1 − objective`` of an objective in (0, 1).

    >>> round(error_budget(0.999), 6)
    0.001

    Raises
    ------
    ValueError
        ``objective`` outside (0, 1).
    """
    if not 0.0 < objective < 1.0:
        raise ValueError(f"objective: must be in (0, 1) (e.g. 0.999), got {objective}")
    return 1.0 - float(objective)


def _events(times: Any, good: Any) -> tuple[np.ndarray, np.ndarray]:
    """Times and bad flags sorted by time, checked."""
    t = np.asarray(times, dtype=float)
    g = np.asarray(good, dtype=bool)
    if t.shape != g.shape or t.ndim != 1:
        raise ValueError(f"good: must have the shape of times {t.shape}, got {g.shape}")
    if not np.isfinite(t).all():
        raise ValueError("times: must be finite (drop events whose time is unknown)")
    order = np.argsort(t, kind="stable")
    return t[order], ~g[order]


def _rates(t: np.ndarray, bad_cum: np.ndarray, at: np.ndarray, window_s: float,
           budget: float) -> np.ndarray:
    """Burn rate of window ``window_s`` ending at each time of ``at`` (sorted events)."""
    hi = np.searchsorted(t, at, side="right")
    lo = np.searchsorted(t, at - window_s, side="right")
    n = hi - lo
    nbad = bad_cum[hi] - bad_cum[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, nbad / np.maximum(n, 1) / budget, np.nan)


def burn_rates(times: Any, good: Any, at: Any, window_s: float, objective: float
               ) -> np.ndarray:
    """The burn rate over ``(t − window_s, t]`` at each time ``t`` of ``at``.

    Parameters
    ----------
    times, good : array_like, shape (n,)
        Event times (s) and whether each event was good.
    at : array_like, shape (m,)
        Evaluation times (s).
    window_s : float
        Window length (s, > 0).
    objective : float
        The SLO's target good fraction, in (0, 1).

    Returns
    -------
    numpy.ndarray, shape (m,)
        Bad fraction / (1 − objective); NaN where the window holds no event.

    >>> burn_rates([0.0, 1.0, 2.0, 3.0], [True, False, True, True], [3.0, 5.5, 8.0], 4.0, 0.5)
    array([0.5, 0. , nan])
    """
    if not window_s > 0:
        raise ValueError(f"window_s: must be > 0, got {window_s}")
    budget = error_budget(objective)
    t, bad = _events(times, good)
    cum = np.concatenate([[0], np.cumsum(bad)])
    return _rates(t, cum, np.asarray(at, dtype=float), float(window_s), budget)


def _check(w: Any) -> None:
    if not (w.short_s > 0 and w.long_s > 0 and w.short_s <= w.long_s):
        raise ValueError(f"alerts.short_s: must be in (0, long_s = {w.long_s}], got {w.short_s}")
    if not w.burn_rate > 0:
        raise ValueError(f"alerts.burn_rate: must be > 0, got {w.burn_rate}")


def _breakpoints(t: np.ndarray, w: Any, start_s: float, end_s: float) -> np.ndarray:
    """Every time either window's content changes, within ``[start_s, end_s)``."""
    pts = np.concatenate([[start_s], t, t + w.long_s, t + w.short_s])
    return np.unique(pts[(pts >= start_s) & (pts < end_s)])


def alert_intervals(
    times: Any,
    good: Any,
    objective: float,
    windows: Sequence[Any],
    *,
    grid: Any = None,
    end_s: float | None = None,
) -> list[AlertInterval]:
    """When each multiwindow burn-rate alert fires.

    Alert ``w`` fires at ``t`` while ``burn(long_s) > burn_rate`` and ``burn(short_s) >
    burn_rate`` (both windows ending at ``t``), and resets as soon as either is not (the short
    one, typically, soon after the errors stop).

    Parameters
    ----------
    times, good : array_like, shape (n,)
        Event times (s, finite) and whether each was good.
    objective : float
        The SLO's target good fraction, in (0, 1).
    windows : sequence of BurnWindow (or the scenario's BurnRateWindow)
        The alerts, each with ``long_s`` >= ``short_s`` > 0 and ``burn_rate`` > 0.
    grid : array_like, optional
        Evaluation times (s, sorted); the state found at a grid time holds until the next.
        None (default): exact, event-driven (every time a window's content changes).
    end_s : float, optional
        Intervals still firing then are closed there (default: the last event time plus the
        longest window, when every window is empty again; or the last grid time).

    Returns
    -------
    list of AlertInterval
        In the order of ``windows``, then by start.

    Raises
    ------
    ValueError
        A bad objective, window, or arrays of different shapes (one line naming the field).

    Examples
    --------
    A constant 2 % error rate on a 99.9 % SLO burns the budget 20 times too fast: the 14.4×
    alert fires, a 30× one does not.

    >>> times = np.arange(0, 300, 0.01)
    >>> good = (times < 100) | (times >= 200) | (np.arange(len(times)) % 50 != 0)
    >>> [round(a.peak_burn_rate) for a in alert_intervals(
    ...     times, good, 0.999, [BurnWindow(60, 5, 14.4), BurnWindow(60, 5, 30)])]
    [20]
    """
    budget = error_budget(objective)
    t, bad = _events(times, good)
    cum = np.concatenate([[0], np.cumsum(bad)])
    out: list[AlertInterval] = []
    if len(t) == 0:
        return out
    for w in windows:
        _check(w)
        if grid is None:
            stop = float(t[-1] + w.long_s) if end_s is None else float(end_s)
            at = _breakpoints(t, w, float(t[0]), stop)
        else:
            at = np.asarray(grid, dtype=float)
            stop = float(at[-1]) if end_s is None else float(end_s)
            at = at[at < stop]
        if len(at) == 0:
            continue
        long_b = _rates(t, cum, at, float(w.long_s), budget)
        short_b = _rates(t, cum, at, float(w.short_s), budget)
        with np.errstate(invalid="ignore"):
            firing = (long_b > w.burn_rate) & (short_b > w.burn_rate)
        out.extend(_runs(at, firing, long_b, stop, w))
    return out


def _runs(at: np.ndarray, firing: np.ndarray, long_b: np.ndarray, stop: float, w: Any
          ) -> list[AlertInterval]:
    """The maximal runs of ``firing`` over the evaluation times, as intervals."""
    edges = np.diff(np.concatenate([[0], firing.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out = []
    for a, b in zip(starts, ends, strict=True):
        end = float(at[b]) if b < len(at) else stop
        out.append(AlertInterval(float(at[a]), end, float(w.long_s), float(w.short_s),
                                 float(w.burn_rate), float(np.nanmax(long_b[a:b]))))
    return out
