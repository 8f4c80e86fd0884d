"""Recovery time after a fault: how long a service takes to return to its pre-fault level.

A metastable failure (Bronson et al., "Metastable Failures in Distributed Systems", HotOS
2021; Huang et al., "Metastable Failures in the Wild", OSDI 2022) is one that outlives its
trigger: the trigger (here a slow feature store, a ``slow_dependency`` fault) ends, but a
sustaining effect (retries of timed-out calls whose abandoned work still occupies the
server) keeps the system overloaded. Its signature is an infinite recovery time, where a
system that merely suffered the trigger recovers in a finite time after it.

:func:`recovery_time_s` measures that time on a run's ``metrics`` frame
(``sim.record.monitor``) for one of two signals of the feature-enricher (:data:`METRICS`):

- ``"lag"``: its consumer lag, ``kafka_consumergroup_lag{topic=transactions,
  group=feature-enricher}`` (records), recovered while at most ``baseline + tolerance``;
- ``"success_rate"``: the fraction of its feature-store call attempts that succeeded over the
  last ``window_s`` (5 s) at each sample, from the increments of
  ``tinybots_dependency_calls_total{service=feature_enricher,dependency=feature_store,
  outcome}`` (a sample without any attempt in its window has no value and is skipped),
  recovered while at least ``baseline - tolerance``. The window keeps one stray timeout
  among the two or three calls of one interval from reading as an outage.

Pure functions of frames: no SimPy, nothing run.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["METRICS", "metric_series", "recovery_time_from_series", "recovery_time_s"]

Metric = Literal["lag", "success_rate"]
METRICS: tuple[str, ...] = ("lag", "success_rate")
"""The signals :func:`recovery_time_s` can judge."""

_LAG = ("kafka_consumergroup_lag", "topic=transactions,group=feature-enricher")
_CALLS = ("tinybots_dependency_calls_total", "service=feature_enricher,dependency=feature_store,")
_DEFAULT_TOLERANCE = {"lag": None, "success_rate": 0.1}


def metric_series(metrics: pd.DataFrame, metric: Metric, window_s: float = 5.0) -> pd.Series:
    """The enricher's ``metric`` over time from a ``metrics`` frame (see the module docstring).

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``time_s``, ``name``, ``labels``, ``value`` (``Results.metrics``).
    metric : {"lag", "success_rate"}
    window_s : float
        The success rate's window, s (> 0; a sample's own interval when below it).

    Returns
    -------
    pandas.Series
        Values indexed by sample time ``time_s`` (s), increasing; empty when the run has no
        such metric (no feature-store call modelled, for ``success_rate``).

    Raises
    ------
    ValueError
        ``metric`` not one of :data:`METRICS`, or ``window_s`` not > 0.
    """
    if not window_s > 0:
        raise ValueError(f"window_s: must be > 0 s, got {window_s!r}")
    if metric == "lag":
        rows = metrics[(metrics["name"] == _LAG[0]) & (metrics["labels"] == _LAG[1])]
        return pd.Series(rows["value"].to_numpy(float), index=rows["time_s"].to_numpy(float),
                         name="lag").sort_index()
    if metric == "success_rate":
        rows = metrics[(metrics["name"] == _CALLS[0])
                       & metrics["labels"].str.startswith(_CALLS[1])]
        if rows.empty:
            return pd.Series([], dtype=float, name="success_rate")
        wide = rows.pivot_table(index="time_s", columns="labels", values="value",
                                aggfunc="last").sort_index()
        steps = wide.diff()
        steps.iloc[0] = wide.iloc[0]  # counters start at 0
        times = steps.index.to_numpy(float)
        cum = np.vstack([np.zeros(2), np.cumsum(np.column_stack(
            [steps[_CALLS[1] + "outcome=ok"].to_numpy(float), steps.sum(axis=1).to_numpy(float)]),
            axis=0)])
        first = np.searchsorted(times, times - window_s, side="right")  # window (t - w, t]
        ok, total = (cum[1:] - cum[first]).T
        keep = total > 0
        rate = pd.Series(ok[keep] / total[keep], index=times[keep])
        return pd.Series(rate.to_numpy(float), index=rate.index.to_numpy(float),
                         name="success_rate")
    raise ValueError(f"metric: must be one of {METRICS}, got {metric!r}")


def recovery_time_from_series(
    series: pd.Series, fault_end_s: float, baseline: float, tolerance: float,
    higher_is_worse: bool = True,
) -> float:
    """Time from ``fault_end_s`` until ``series`` is back within ``tolerance`` of ``baseline``
    and stays there to its last sample, s.

    A sample is *within* when ``value <= baseline + tolerance`` (``higher_is_worse``, e.g. a
    lag) or ``value >= baseline - tolerance`` (else, e.g. a success rate). The recovery time is
    ``t* - fault_end_s`` with ``t*`` the first sample time ``>= fault_end_s`` from which every
    later sample is within (0 <= result; a series that never left comes back at its first
    sample after the fault end, so the result is below one monitoring interval).

    Returns
    -------
    float
        The recovery time (s); ``inf`` when the last sample is not within (it never recovers
        within the run); NaN when no sample lies at or after ``fault_end_s``.

    Raises
    ------
    ValueError
        ``tolerance`` negative or ``baseline`` / ``fault_end_s`` not finite.

    Examples
    --------
    >>> s = pd.Series([5.0, 90.0, 60.0, 8.0, 30.0, 4.0, 6.0], index=range(0, 70, 10))
    >>> recovery_time_from_series(s, 15.0, baseline=5.0, tolerance=5.0)
    35.0
    >>> recovery_time_from_series(s.iloc[:5], 15.0, baseline=5.0, tolerance=5.0)
    inf
    """
    if not (math.isfinite(baseline) and math.isfinite(fault_end_s)):
        raise ValueError(f"baseline, fault_end_s: must be finite, got {baseline!r}, "
                         f"{fault_end_s!r}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance: must be >= 0, got {tolerance!r}")
    after = series[series.index >= fault_end_s]
    if after.empty:
        return float("nan")
    values = after.to_numpy(float)
    within = values <= baseline + tolerance if higher_is_worse else values >= baseline - tolerance
    if not within[-1]:
        return float("inf")
    bad = np.flatnonzero(~within)
    first = 0 if bad.size == 0 else int(bad[-1]) + 1
    return float(after.index[first]) - float(fault_end_s)


def recovery_time_s(
    results: Any, fault_end_s: float, metric: Metric = "lag", baseline: float | None = None,
    tolerance: float | None = None, baseline_from_s: float = 0.0,
    baseline_until_s: float | None = None, window_s: float = 5.0,
) -> float:
    """Recovery time of the feature-enricher after a fault ending at ``fault_end_s``, s.

    **Definition.** The time from the end of the trigger (``fault_end_s``) until the
    enricher's ``metric`` (its sampled consumer lag, or its feature-store call success rate;
    see the module docstring) is back within ``tolerance`` of its pre-fault level
    ``baseline`` and stays within until the end of the run
    (:func:`recovery_time_from_series`). ``inf``: it never recovers within the run (a
    metastable failure, when the run lasts long enough after the trigger); NaN: no sample
    after ``fault_end_s``.

    Parameters
    ----------
    results : sim.record.results.Results
        A run; its ``metrics`` and, for the default baseline, its ``faults`` frame.
    fault_end_s : float
        End of the trigger, s (the ``faults`` frame's ``end_s``).
    metric : {"lag", "success_rate"}
    baseline : float, optional
        The pre-fault level; default the median of the metric's samples in
        ``[baseline_from_s, baseline_until_s)`` (the median ignores a start-up blip).
    tolerance : float, optional
        Allowed distance from the baseline, in the metric's unit; default ``max(baseline,
        10)`` records for ``lag`` (back to at most twice its usual lag) and 0.1 for
        ``success_rate``.
    baseline_from_s, baseline_until_s : float
        The fault-free window of the default baseline; ``baseline_until_s`` defaults to the
        first fault's ``start_s``.
    window_s : float
        The success rate's window (:func:`metric_series`), s.

    Raises
    ------
    ValueError
        An unknown ``metric``; no fault and no ``baseline_until_s``; no sample in the
        baseline window; a negative ``tolerance``.
    """
    series = metric_series(results.metrics, metric, window_s)
    if baseline is None:
        if baseline_until_s is None:
            if results.faults.empty:
                raise ValueError("baseline_until_s: the run has no fault; give the end of the "
                                 "fault-free window (or a baseline)")
            baseline_until_s = float(results.faults["start_s"].min())
        window = series[(series.index >= baseline_from_s) & (series.index < baseline_until_s)]
        if window.empty:
            raise ValueError(f"baseline_until_s: no {metric} sample in [{baseline_from_s:g}, "
                             f"{baseline_until_s:g}) s to take the baseline from")
        baseline = float(window.median())
    if tolerance is None:
        default = _DEFAULT_TOLERANCE[metric]
        tolerance = max(baseline, 10.0) if default is None else default
    return recovery_time_from_series(series, fault_end_s, baseline, tolerance,
                                     higher_is_worse=metric == "lag")
