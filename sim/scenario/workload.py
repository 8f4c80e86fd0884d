"""The workload of a scenario: the bank, where transactions come from, when they arrive, and
the bursts on top of the arrival profile (``sim.workload`` and ``sim.bursts`` build them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sim.scenario.base import Frozen as _Frozen
from sim.scenario.learning import Drift

__all__ = ["BankSpec", "BurstSpec", "WorkloadSpec", "burst_errors"]


class BankSpec(_Frozen):
    """The generated bank (handbook simulator); ``nb_days`` None = just enough days."""

    n_customers: int = Field(5000, ge=1, le=1_000_000)
    n_terminals: int = Field(10000, ge=1, le=10_000_000)
    radius: float = Field(5.0, gt=0.0, le=150.0)
    nb_days: int | None = Field(None, ge=1, le=3650)


class BurstSpec(_Frozen):
    """A burst on top of the workload's profile: the arrival rate times a multiplier over
    [``start_s``, ``start_s + duration_s``) of processing time.

    ``kind: step`` multiplies the rate by ``multiplier`` over the whole window; ``kind: spike``
    ramps the multiplier linearly from 1 to ``multiplier`` at the window's middle and back to 1
    at its end. Overlapping bursts multiply. A multiplier below 1 is a dip.
    """

    kind: Literal["step", "spike"] = "step"
    start_s: float = Field(ge=0.0, le=1e9)
    duration_s: float = Field(gt=0.0, le=1e9)
    multiplier: float = Field(gt=0.0, le=100.0)


def burst_errors(w: Any) -> str | None:
    """The first burst of workload ``w`` that starts after its live window, or None
    (``start_s`` is processing time, not event time: a common mistake)."""
    horizon_s = w.live_duration_s / w.speedup
    for i, burst in enumerate(w.bursts):
        if burst.start_s >= horizon_s:
            return (
                f"workload.bursts[{i}].start_s: must be < the live window's length in "
                f"processing seconds (live_duration_s / speedup = {horizon_s:g}), got "
                f"{burst.start_s:g} (start_s is processing time, not event time)"
            )
    return None


class WorkloadSpec(_Frozen):
    """Where transactions come from and when they arrive.

    ``kind="replay"``: the transactions of the live window [start, start + ``live_duration_s``)
    of event time, where start = first day of the table + ``live_start_day`` days +
    ``live_start_hour`` hours, arrive at ``(tx_time − start) / speedup`` seconds of processing
    time. The table is ``transactions_path`` when given, else a generated bank.

    ``kind="poisson"``: arrivals at ``rate_per_s × (1 + diurnal_amplitude × cos(2π (t −
    peak_time_s) / period_s))`` over ``live_duration_s / speedup`` seconds of processing time;
    content is drawn with replacement from the live window of the bank (``content="bank"``) or
    synthesised without a bank (``content="synthetic"``, queueing studies of the ingestor only).
    Event time of a Poisson arrival = start + arrival_s × speedup.

    ``drift`` (``sim.scenario.learning.Drift``) changes the generated bank from an onset day
    of the live window (off by default: the handbook's simulator unchanged).

    ``bursts`` (:class:`BurstSpec`) multiply the arrival rate over windows of processing time:
    a Poisson rate is multiplied before thinning; a replay gains extra arrivals (a Poisson
    process at (multiplier − 1) × the replay's mean rate in the window, their content drawn with
    replacement from the window's transactions, their event time = start + arrival_s ×
    speedup) or, for a multiplier below 1, loses each transaction of the window with
    probability 1 − multiplier.
    """

    kind: Literal["replay", "poisson"] = "replay"
    transactions_path: str | None = None
    bank: BankSpec = BankSpec()
    live_start_day: int = Field(51, ge=0, le=3650)
    live_start_hour: float = Field(0.0, ge=0.0, lt=24.0)
    live_duration_s: float = Field(86400.0, gt=0.0, le=3.2e7)
    speedup: float = Field(1.0, gt=0.0, le=1e7)
    content: Literal["bank", "synthetic"] = "bank"
    rate_per_s: float = Field(10.0, gt=0.0, le=1e6)
    diurnal_amplitude: float = Field(0.0, ge=0.0, lt=1.0)
    peak_time_s: float = Field(0.0, ge=0.0)
    period_s: float = Field(86400.0, gt=0.0)
    bursts: tuple[BurstSpec, ...] = ()
    drift: tuple[Drift, ...] = ()
