"""Bursts on top of a workload: the arrival rate times a multiplier over windows of processing time.

A :class:`sim.scenario.BurstSpec` is a step (the multiplier over its whole window) or a spike
(a linear ramp from 1 to the multiplier at the window's middle and back to 1 at its end);
overlapping bursts multiply and a multiplier below 1 is a dip. :func:`rate_multiplier` is that
multiplier m(t). ``sim.workload`` applies it to a Poisson workload by thinning its rate
(``poisson_arrivals``) and to a replay with :func:`augment_replay`: where m(t) > 1, extra
arrivals copied from the window's transactions; where m(t) < 1, replayed transactions dropped.
A burst is shaped as load generators shape one, by the arrival rate (k6's
``ramping-arrival-rate`` executor, Locust's ``LoadTestShape``): more arrivals, not faster time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sim.scenario import BurstSpec, WorkloadSpec, burst_errors
from tinybots.errors import InputError

if TYPE_CHECKING:
    from sim.workload import TxTable

__all__ = ["rate_multiplier", "peak_multiplier", "check_bursts", "augment_replay"]


def _factor(burst: BurstSpec, t: np.ndarray) -> np.ndarray:
    """The multiplier of one burst at times ``t`` (continuous for a spike)."""
    end = burst.start_s + burst.duration_s
    if burst.kind == "step":
        inside = (t >= burst.start_s) & (t < end)
        return np.where(inside, burst.multiplier, 1.0)
    half = burst.duration_s / 2.0
    ramp = np.clip(1.0 - np.abs(t - (burst.start_s + half)) / half, 0.0, 1.0)
    return 1.0 + (burst.multiplier - 1.0) * ramp


def rate_multiplier(bursts: Sequence[BurstSpec], t: np.ndarray | float) -> np.ndarray:
    """The product of the bursts' multipliers at processing times ``t`` (s).

    Parameters
    ----------
    bursts : sequence of BurstSpec
        The bursts (``workload.bursts``); empty gives 1 everywhere.
    t : array_like of float
        Processing times (s), any shape.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``t``: a step's ``multiplier`` over [start_s, start_s +
        duration_s), a spike's linear ramp 1 → ``multiplier`` (at the middle) → 1, 1 elsewhere;
        overlapping bursts multiply.

    Examples
    --------
    >>> from sim.scenario import BurstSpec
    >>> b = [BurstSpec(kind="spike", start_s=10, duration_s=20, multiplier=3)]
    >>> rate_multiplier(b, [5.0, 15.0, 20.0, 25.0, 30.0]).tolist()
    [1.0, 2.0, 3.0, 2.0, 1.0]
    """
    t = np.asarray(t, dtype=np.float64)
    m = np.ones_like(t)
    for burst in bursts:
        m = m * _factor(burst, t)
    return m


def peak_multiplier(bursts: Sequence[BurstSpec]) -> float:
    """An upper bound (≥ 1) of :func:`rate_multiplier` over all times, for thinning.

    Between consecutive breakpoints (every start, spike middle and end) each factor is constant
    or linear, so its largest value there is at an end of the interval; the bound is the
    largest, over the intervals, of the product of those per-factor maxima. It is exact for
    steps and for non-overlapping spikes.

    Examples
    --------
    >>> from sim.scenario import BurstSpec
    >>> peak_multiplier([BurstSpec(start_s=0, duration_s=10, multiplier=3),
    ...                  BurstSpec(start_s=5, duration_s=10, multiplier=2),
    ...                  BurstSpec(start_s=50, duration_s=10, multiplier=4)])
    6.0
    """
    if not bursts:
        return 1.0
    points = {b.start_s for b in bursts} | {b.start_s + b.duration_s for b in bursts}
    points |= {b.start_s + b.duration_s / 2.0 for b in bursts if b.kind == "spike"}
    edges = np.array(sorted(points))
    left, right = edges[:-1], edges[1:]
    peak = np.ones_like(left)
    for burst in bursts:
        if burst.kind == "step":
            inside = (left >= burst.start_s) & (right <= burst.start_s + burst.duration_s)
            peak = peak * np.where(inside, burst.multiplier, 1.0)
        else:
            peak = peak * np.maximum(_factor(burst, left), _factor(burst, right))
    return float(max(1.0, peak.max(initial=1.0)))


def check_bursts(spec: WorkloadSpec) -> None:
    """Refuse a burst that starts after the live window's end (``sim.scenario.burst_errors``;
    the scenario refuses it too, this guards a ``WorkloadSpec`` built on its own).

    Raises
    ------
    InputError
        ``workload.bursts[i].start_s`` ≥ ``live_duration_s / speedup``, in one line naming the
        field and the window's length.
    """
    problem = burst_errors(spec)
    if problem is not None:
        raise InputError(problem)


def _windows(bursts: Sequence[BurstSpec], horizon_s: float) -> list[tuple[float, float]]:
    """The union of the bursts' windows, clipped to [0, horizon_s), as disjoint spans in order."""
    spans: list[tuple[float, float]] = []
    for lo, hi in sorted((b.start_s, b.start_s + b.duration_s) for b in bursts):
        hi = min(hi, horizon_s)
        if lo >= hi:
            continue
        if spans and lo < spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def augment_replay(
    table: TxTable,
    bursts: Sequence[BurstSpec],
    horizon_s: float,
    speedup: float,
    rng_arrivals: np.random.Generator,
    rng_content: np.random.Generator,
) -> TxTable:
    """A replay's table with its bursts applied (a new table; ``table`` is not changed).

    Per span of overlapping burst windows [l, r) (clipped to the live window), with r̄ = the
    replay's arrivals in the span / (r − l): extra arrivals form a Poisson process of rate
    (m(t) − 1) × r̄ where m(t) > 1, drawn by thinning (Lewis & Shedler 1979) with
    ``rng_arrivals``; their content (``tx_id``, customer, terminal, amount, fraud) is drawn
    with replacement from the span's replayed rows with ``rng_content``, their event time is
    ``live_start_s + arrival_s × speedup``. Where m(t) < 1 each replayed row is kept with
    probability m(t) (``rng_arrivals``). The result is sorted by arrival (stable: a replayed
    row before an extra one at the same time). A repeated ``tx_id`` is allowed: the pipeline
    tracks rows, not transaction ids.

    Parameters
    ----------
    table : TxTable
        The replay, sorted by arrival.
    bursts : sequence of BurstSpec
        ``workload.bursts``.
    horizon_s : float
        The live window's length in processing seconds.
    speedup : float
        Event seconds per processing second.
    rng_arrivals, rng_content : numpy.random.Generator
        The run's arrival and content streams.

    Returns
    -------
    TxTable
    """
    arrival = table.arrival_s
    m = rate_multiplier(bursts, arrival)
    dip = np.flatnonzero(m < 1.0)
    keep = np.ones(len(arrival), dtype=bool)
    keep[dip] = rng_arrivals.uniform(size=len(dip)) < m[dip]
    times, picks = [], []
    for lo, hi in _windows(bursts, horizon_s):
        rows = np.flatnonzero((arrival >= lo) & (arrival < hi))
        inside = [b for b in bursts if b.start_s < hi and b.start_s + b.duration_s > lo]
        peak = peak_multiplier(inside)
        if len(rows) == 0 or peak <= 1.0:
            continue
        n = rng_arrivals.poisson((peak - 1.0) * len(rows))  # rate (peak − 1) r̄ over hi − lo
        t = np.sort(rng_arrivals.uniform(lo, hi, size=n))
        t = t[rng_arrivals.uniform(size=n) < (rate_multiplier(inside, t) - 1.0) / (peak - 1.0)]
        times.append(t)
        picks.append(rows[rng_content.integers(0, len(rows), size=len(t))])
    src = np.concatenate([np.flatnonzero(keep), *picks]).astype(np.int64)
    new_arrival = np.concatenate([arrival[keep], *times])
    order = np.argsort(new_arrival, kind="stable")
    src, new_arrival = src[order], new_arrival[order]
    n_kept = int(keep.sum())
    is_extra = order >= n_kept
    event = table.event_time_s[src].copy()
    event[is_extra] = table.live_start_s + new_arrival[is_extra] * speedup
    return dataclasses.replace(
        table,
        tx_id=table.tx_id[src],
        customer_id=table.customer_id[src],
        terminal_id=table.terminal_id[src],
        amount=table.amount[src],
        event_time_s=event,
        fraud=table.fraud[src],
        arrival_s=new_arrival,
    )
