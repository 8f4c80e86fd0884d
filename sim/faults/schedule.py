"""The fault schedule of a run: every fault occurrence with its window, pure (no SimPy).

:func:`occurrences` turns ``scenario.faults`` into :class:`Occurrence` rows: a scheduled fault
once at its ``at_s``; a random one (``rate_per_h``) at the times of a Poisson process of that
rate over ``[0, horizon_s)``, drawn from its own child of the run's ``faults`` stream (one
child per fault, in order, so adding a fault changes no other fault's draws and no transaction).
The SimPy drivers (``sim.faults``) and the services read windows from it through
:class:`FaultWindows`; the ``faults`` frame of the results is :func:`faults_frame`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FaultWindows", "Occurrence", "faults_frame", "occurrences", "poison_rows",
           "target_of"]


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of fault ``index`` of ``scenario.faults``: it acts over
    ``[start_s, end_s)`` (``end_s`` is inf for a poison window without ``duration_s``; equal to
    ``start_s`` for a single pod crash)."""

    index: int
    fault: Any
    start_s: float
    end_s: float

    @property
    def kind(self) -> str:
        return str(self.fault.kind)

    def active(self, t: float) -> bool:
        """Whether the fault acts at time ``t`` (s)."""
        return self.start_s <= t < self.end_s


def target_of(fault: Any) -> str:
    """What a fault acts on, as one string: a deployment key, ``topic[:partition]`` (topics
    joined by ``,``; ``all topics`` for every topic), ``feature_store``, ``model_training``
    (a training outage), ``fraud_detector`` (a bad model), or ``source->target``."""
    kind = fault.kind
    if kind in ("pod_crash", "deployment_outage", "poison"):
        return str(fault.deployment)
    if kind == "broker_outage":
        return ",".join(fault.topics) or "all topics"
    if kind == "partition_unavailable":
        return f"{fault.topic}:{fault.partition}"
    if kind in ("slow_dependency", "failing_dependency"):
        return str(fault.dependency)
    if kind == "training_outage":
        return "model_training"
    if kind == "bad_model":
        return "fraud_detector"
    return f"{fault.source}->{fault.target}"


def _duration(fault: Any) -> float:
    return math.inf if fault.duration_s is None else float(fault.duration_s)


def occurrences(
    faults: Sequence[Any], rng: np.random.Generator, horizon_s: float
) -> list[Occurrence]:
    """Every occurrence of ``faults`` that starts before ``horizon_s``, in time order.

    Parameters
    ----------
    faults : sequence of sim.scenario.faults.Fault
    rng : numpy.random.Generator
        The run's ``faults`` stream; fault ``i`` draws from ``rng.spawn(len(faults))[i]``.
    horizon_s : float
        Random faults occur in ``[0, horizon_s)`` (s); scheduled ones are kept as given.

    Returns
    -------
    list of Occurrence
        Sorted by ``start_s`` then ``index``.
    """
    if horizon_s < 0 or math.isnan(horizon_s):
        raise ValueError(f"horizon_s: must be >= 0, got {horizon_s}")
    children = rng.spawn(len(faults)) if faults else []
    out: list[Occurrence] = []
    for i, (fault, child) in enumerate(zip(faults, children, strict=True)):
        d = _duration(fault)
        if fault.at_s is not None:
            out.append(Occurrence(i, fault, float(fault.at_s), float(fault.at_s) + d))
            continue
        mean_gap_s = 3600.0 / float(fault.rate_per_h)
        t = float(child.exponential(mean_gap_s))
        while t < horizon_s:
            out.append(Occurrence(i, fault, t, t + d))
            t += float(child.exponential(mean_gap_s))
    out.sort(key=lambda o: (o.start_s, o.index))
    return out


def poison_rows(
    arrival_s: np.ndarray, occ: Sequence[Occurrence], rng: np.random.Generator
) -> dict[str, dict[int, str]]:
    """The poison records: per consumer deployment, row -> reason (``"poison: bad_schema"``).

    A transaction arriving inside a poison window is poison with the fault's ``rate``, drawn
    per row from ``rng``: ``sim.system`` passes ``rngs["faults"].spawn(1)[0]`` after
    :func:`occurrences` has spawned the faults' own children, so the poison set does not
    depend on the other faults' draws.
    """
    out: dict[str, dict[int, str]] = {}
    windows = [o for o in occ if o.kind == "poison"]
    if not windows:
        return out
    u = rng.random(len(arrival_s))
    for o in windows:
        lo = int(np.searchsorted(arrival_s, o.start_s, side="left"))
        hi = int(np.searchsorted(arrival_s, o.end_s, side="left"))
        rows = lo + np.flatnonzero(u[lo:hi] < o.fault.rate)
        bucket = out.setdefault(str(o.fault.deployment), {})
        for r in rows.tolist():
            bucket.setdefault(r, f"poison: {o.fault.reason}")
    return out


class FaultWindows:
    """Time queries over the occurrences (what services ask while they run)."""

    def __init__(self, occ: Sequence[Occurrence]) -> None:
        self.occ = list(occ)
        self._slow = [o for o in self.occ if o.kind == "slow_dependency"]
        self._failing = [o for o in self.occ if o.kind == "failing_dependency"]
        self._delay = [o for o in self.occ if o.kind == "network_delay"]

    def slow_factor(self, dependency: str, t: float) -> float:
        """Product of the active ``slow_dependency`` factors on ``dependency`` at ``t`` (1 if
        none)."""
        f = 1.0
        for o in self._slow:
            if o.fault.dependency == dependency and o.active(t):
                f *= float(o.fault.factor)
        return f

    def error_rate(self, dependency: str, t: float) -> float:
        """Probability that a call to ``dependency`` at ``t`` fails: 1 − Π(1 − error_rate) over
        the active ``failing_dependency`` faults (0 if none)."""
        ok = 1.0
        for o in self._failing:
            if o.fault.dependency == dependency and o.active(t):
                ok *= 1.0 - float(o.fault.error_rate)
        return 1.0 - ok

    def network_delay_s(self, source: str, target: str, t: float) -> float:
        """Sum of the active ``network_delay`` faults from ``source`` to ``target`` at ``t``."""
        return sum(float(o.fault.delay_s) for o in self._delay
                   if o.fault.source == source and o.fault.target == target and o.active(t))

    def has(self, kind: str) -> bool:
        """Whether any occurrence is of ``kind``."""
        return any(o.kind == kind for o in self.occ)


def faults_frame(occ: Sequence[Occurrence]) -> pd.DataFrame:
    """The ``faults`` frame: ``fault`` (index in ``scenario.faults``), ``kind``, ``target``
    (:func:`target_of`), ``start_s``, ``end_s`` (inf: to the end of the run), one row per
    occurrence in time order."""
    return pd.DataFrame({
        "fault": pd.Series([o.index for o in occ], dtype="int64"),
        "kind": pd.Series([o.kind for o in occ], dtype="object"),
        "target": pd.Series([target_of(o.fault) for o in occ], dtype="object"),
        "start_s": pd.Series([o.start_s for o in occ], dtype="float64"),
        "end_s": pd.Series([o.end_s for o in occ], dtype="float64"),
    })
