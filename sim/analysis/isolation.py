"""Fault isolation made visible: each service's SLOs before, during and after each fault,
its burn-rate alerts, and the blast radius of every fault (table and heat map).

Pure functions of a run's :class:`~sim.record.results.Results` whose scenario sets ``slos``
(``sim.scenario.resilience.SloSpec`` per pipeline service). The SLI events and the two SLIs
(``latency``: 99 % within ``p99_s``; ``availability``: not shed, lost or dead-lettered) are
those of :mod:`sim.analysis.sli`; the alerts are the Google SRE workbook's multiwindow,
multi-burn-rate alerts (:mod:`sim.policies.slo`), fed each event at the time its verdict is
known (``decided_s``: a monitoring system learns that a request is late when it times out).

- :func:`phase_table`: per service × fault × phase (before / during / after) the events, p99
  latency and availability, and whether the SLO was met;
- :func:`burn_rate_alerts`: the paging alerts per service and SLI (:func:`alert_incidents`
  gives them as ``slo_burn_alert`` incidents);
- :func:`blast_radius`: per fault × service, whether and for how long its SLO broke;
- :func:`plot_blast_radius`: that table as a heat map (service × fault).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.analysis.sli import (
    LATENCY_OBJECTIVE,
    fault_windows,
    horizon_s,
    service_events,
    sli_events,
    slo_specs,
)
from sim.policies.slo import BurnWindow, alert_intervals
from sim.record.results import Results
from tinybots.errors import InputError

__all__ = ["alert_incidents", "blast_radius", "burn_rate_alerts", "fault_windows",
           "phase_table", "plot_blast_radius", "service_events"]

PHASES = ("before", "during", "after")
_ALERT_COLUMNS = ["service", "sli", "objective", "start_s", "end_s", "duration_s", "long_s",
                  "short_s", "burn_rate", "peak_burn_rate"]
_PHASE_COLUMNS = ["occurrence", "fault", "kind", "target", "service", "phase", "start_s",
                  "end_s", "events", "served", "failed", "late", "latency_p99_s",
                  "availability", "slo_p99_s", "slo_availability", "slo_met"]
_BLAST_COLUMNS = ["occurrence", "fault", "kind", "target", "start_s", "end_s", "service",
                  "slo_broken", "broken_s", "broken_before_s", "alerts", "worst_p99_s", "slo_p99_s"]


def _phases(start: float, end: float, recovery_s: float, end_run: float
            ) -> dict[str, tuple[float, float]]:
    """``before`` and ``after`` last as long as the fault plus ``recovery_s``, clipped to the
    run."""
    span = (end - start) + recovery_s
    return {"before": (max(0.0, start - span), start), "during": (start, end),
            "after": (end, min(end_run, end + span))}


def _stats(ev: pd.DataFrame, p99_s: float | None, objective: float) -> dict[str, Any]:
    n, failed, late = len(ev), int(ev["failed"].sum()), int(ev["late"].sum())
    lat = ev["latency_s"].dropna().to_numpy(float)
    p99 = float(np.quantile(lat, 0.99)) if len(lat) else np.nan
    avail = 1.0 - failed / n if n else np.nan
    judged = int((ev["served"] | ev["late"]).sum())
    met = n == 0 or (avail >= objective and (p99_s is None or late <= (1 - LATENCY_OBJECTIVE)
                                             * judged))
    return {"events": n, "served": int(ev["served"].sum()), "failed": failed, "late": late,
            "latency_p99_s": p99, "availability": avail, "slo_met": bool(met)}


def phase_table(results: Results, faults: pd.DataFrame | None = None, *,
                recovery_s: float = 30.0) -> pd.DataFrame:
    """Per service × fault × phase, the service's p99 latency and availability.

    Phases of a fault acting over ``[start_s, end_s)`` (:func:`fault_windows`): ``before``
    and ``after`` are ``[start_s − L, start_s)`` and ``[end_s, end_s + L)`` with ``L = end_s −
    start_s + recovery_s``, clipped to the run (overlapping faults are not excluded). An event
    falls in a phase by the time it reached the service (``time_s``).

    Parameters
    ----------
    results : Results
    faults : pandas.DataFrame, optional
        The ``faults`` frame (see :func:`fault_windows`).
    recovery_s : float
        Allowance for recovery added to the before / after windows (s, >= 0; default 30).

    Returns
    -------
    pandas.DataFrame
        ``occurrence``, ``fault``, ``kind``, ``target`` (:func:`fault_windows`), ``service``,
        ``phase``, ``start_s``, ``end_s``,
        ``events``, ``served``, ``failed``, ``late`` (counts), ``latency_p99_s`` (of the
        served records and those still waiting, with their wait so far; NaN: none),
        ``availability`` (1 − failed / events), ``slo_p99_s``, ``slo_availability``,
        ``slo_met`` (availability at least the objective and at most 1 % late; True with no
        event). Empty (these columns) when the run had no fault.

    Raises
    ------
    InputError
        ``recovery_s`` < 0, or no SLO in the scenario (one line naming ``slos``).
    """
    if not recovery_s >= 0:
        raise InputError(f"recovery_s: must be >= 0 (s), got {recovery_s}")
    specs, events = slo_specs(results), service_events(results)
    windows, end_run = fault_windows(results, faults), horizon_s(results)
    by_service = {service: events[events["service"] == service].sort_values(
        "time_s", kind="stable") for service in specs}  # sliced by time below (no rescan)
    times = {service: ev["time_s"].to_numpy(float) for service, ev in by_service.items()}
    rows = []
    for f in windows.itertuples():
        for phase, (a, b) in _phases(f.start_s, f.end_s, recovery_s, end_run).items():
            for service, spec in specs.items():
                t = times[service]
                lo, hi = np.searchsorted(t, a, "left"), np.searchsorted(t, b, "left")
                ev = by_service[service].iloc[lo:max(lo, hi)]
                rows.append({"occurrence": f.occurrence, "fault": f.fault, "kind": f.kind,
                             "target": f.target, "service": service, "phase": phase,
                             "start_s": a, "end_s": b,
                             **_stats(ev, spec.p99_s, spec.availability),
                             "slo_p99_s": spec.p99_s, "slo_availability": spec.availability})
    return pd.DataFrame(rows, columns=_PHASE_COLUMNS)


def burn_rate_alerts(results: Results) -> pd.DataFrame:
    """The paging burn-rate alerts of every service and SLI (``slos.<service>.alerts``).

    Returns
    -------
    pandas.DataFrame
        One row per alert interval: ``service``, ``sli`` (``latency`` / ``availability``),
        ``objective``, ``start_s``, ``end_s`` (closed at the end of the run if still firing),
        ``duration_s``, ``long_s``, ``short_s``, ``burn_rate`` (the threshold),
        ``peak_burn_rate``; in time order.

    Raises
    ------
    InputError
        No SLO in the scenario (one line naming ``slos``).
    """
    specs, events, end_run = slo_specs(results), service_events(results), horizon_s(results)
    rows = []
    for service, sli, objective, ev in sli_events(events, specs):
        for a in alert_intervals(ev["decided_s"], ev["good"], objective, specs[service].alerts,
                                 end_s=end_run):
            rows.append({"service": service, "sli": sli, "objective": objective,
                         "start_s": a.start_s, "end_s": a.end_s, "duration_s": a.duration_s,
                         "long_s": a.long_s, "short_s": a.short_s, "burn_rate": a.burn_rate,
                         "peak_burn_rate": a.peak_burn_rate})
    out = pd.DataFrame(rows, columns=_ALERT_COLUMNS)
    return out.sort_values(["start_s", "service"], ignore_index=True)


def alert_incidents(alerts: pd.DataFrame) -> pd.DataFrame:
    """:func:`burn_rate_alerts` as rows of the ``incidents`` frame: ``time_s`` (start),
    ``kind`` ``slo_burn_alert``, ``target`` (the service), ``detail`` (``sli=latency
    burn_rate=14.4 long_s=60 short_s=5 peak=98.2``), ``duration_s``."""
    detail = [f"sli={r.sli} burn_rate={r.burn_rate:g} long_s={r.long_s:g} "
              f"short_s={r.short_s:g} peak={r.peak_burn_rate:.3g}" for r in alerts.itertuples()]
    return pd.DataFrame({"time_s": alerts["start_s"].to_numpy(float), "kind": "slo_burn_alert",
                         "target": alerts["service"].to_numpy(object), "detail": detail,
                         "duration_s": alerts["duration_s"].to_numpy(float)},
                        columns=["time_s", "kind", "target", "detail", "duration_s"])


def _broken(results: Results, window_s: float | None) -> dict[str, list[tuple[float, float]]]:
    """Per service, the intervals in which a rolling SLI breached or a burn alert fired."""
    specs, events, end_run = slo_specs(results), service_events(results), horizon_s(results)
    out: dict[str, list[tuple[float, float]]] = {s: [] for s in specs}
    for service, _, objective, ev in sli_events(events, specs):
        spec = specs[service]
        w = window_s or (spec.alerts[0].short_s if spec.alerts else 5.0)
        rules = [BurnWindow(w, w, 1.0), *spec.alerts]
        out[service] += [(a.start_s, a.end_s) for a in alert_intervals(
            ev["decided_s"], ev["good"], objective, rules, end_s=end_run)]
    return out


def _measure(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Length of the union of ``intervals`` within ``[lo, hi)``.

    >>> _measure([(0.0, 5.0), (3.0, 8.0), (20.0, 30.0)], 2.0, 25.0)
    11.0
    """
    total, reach = 0.0, lo
    for a, b in sorted(intervals):
        a, b = max(a, reach), min(b, hi)
        if b > a:
            total += b - a
            reach = b
    return total


def blast_radius(results: Results, faults: pd.DataFrame | None = None, *,
                 recovery_s: float = 30.0, window_s: float | None = None) -> pd.DataFrame:
    """Per fault × service: did the service break its SLO, and for how many seconds.

    A service is *broken* at time ``t`` when one of its SLIs breached its objective over the
    rolling window ``(t − window_s, t]`` (a burn rate above 1: that window alone spent more
    than its share of the error budget) or one of its burn-rate alerts was firing; events
    count at their ``decided_s``. ``broken_s`` is the broken time within the fault's window
    and its ``after`` phase (:func:`phase_table`), ``broken_before_s`` within its ``before``
    phase (the baseline).

    Parameters
    ----------
    results : Results
    faults : pandas.DataFrame, optional
        The ``faults`` frame (see :func:`fault_windows`).
    recovery_s : float
        As in :func:`phase_table` (s).
    window_s : float, optional
        The rolling window (s); None: each SLO's first alert's ``short_s`` (5 s with
        ``SRE_WINDOWS``), so that the broken time follows the fault within seconds.

    Returns
    -------
    pandas.DataFrame
        ``occurrence``, ``fault``, ``kind``, ``target``, ``start_s``, ``end_s`` (the fault's
        window, :func:`fault_windows`), ``service``, ``slo_broken`` (``broken_s > 0``),
        ``broken_s``, ``broken_before_s`` (s), ``alerts`` (burn-rate alerts that fired in the
        fault's window or after phase), ``worst_p99_s`` (the larger p99 latency of the during
        and after phases), ``slo_p99_s``. Empty (these columns) without faults.

    Raises
    ------
    InputError
        No SLO in the scenario, a bad ``recovery_s`` (one line naming the field).
    """
    phases = phase_table(results, faults, recovery_s=recovery_s)
    if phases.empty:
        return pd.DataFrame(columns=_BLAST_COLUMNS).astype({"slo_broken": bool})
    broken, alerts = _broken(results, window_s), burn_rate_alerts(results)
    rows = []
    for (occ, service), g in phases.groupby(["occurrence", "service"], sort=False):
        p = g.set_index("phase")
        lo, hi = p.loc["during", "start_s"], p.loc["after", "end_s"]
        secs = _measure(broken[service], lo, hi)
        mine = alerts[(alerts["service"] == service) & (alerts["start_s"] < hi)
                      & (alerts["end_s"] > lo)]
        first = p.iloc[0]
        rows.append({"occurrence": occ, "fault": first["fault"], "kind": first["kind"],
                     "target": first["target"], "start_s": p.loc["during", "start_s"],
                     "end_s": p.loc["during", "end_s"],
                     "service": service, "slo_broken": secs > 0, "broken_s": secs,
                     "broken_before_s": _measure(broken[service], *p.loc["before",
                                                                        ["start_s", "end_s"]]),
                     "alerts": len(mine),
                     "worst_p99_s": p.loc[["during", "after"], "latency_p99_s"].max(),
                     "slo_p99_s": first["slo_p99_s"]})
    return pd.DataFrame(rows, columns=_BLAST_COLUMNS)


def plot_blast_radius(results_or_table: Results | pd.DataFrame,
                      path: str | Path | None = None) -> Figure:
    """The blast radius as a heat map: a row per service, a column per fault, colour = the
    seconds its SLO was broken (:func:`blast_radius`), each cell annotated (``ok`` when not
    broken, else the seconds and the alerts paged; the seconds already broken in the
    ``before`` phase in brackets, when any: overlapping faults share the damage). Above
    :data:`MAX_COLUMNS` occurrences (a random fault of a high ``rate_per_h``) a column per
    fault, its occurrences summed, so that the figure stays readable. Saved as PNG at
    ``path`` when given (then closed)."""
    table = (blast_radius(results_or_table) if isinstance(results_or_table, Results)
             else results_or_table)
    if table["occurrence"].nunique() > MAX_COLUMNS:
        table = _per_fault(table)
    services = list(dict.fromkeys(table["service"]))
    faults = list(dict.fromkeys(table["occurrence"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 3.0 + 1.6 * len(faults)),
                                    1.6 + 0.55 * max(1, len(services))))
    ax.set_title("Blast radius: seconds each service's SLO was broken, per fault", fontsize=10)
    if table.empty:
        ax.text(0.5, 0.5, "no fault in this run", transform=ax.transAxes, ha="center",
                va="center", fontsize=9, color="0.35")
        ax.set_xticks([])
        ax.set_yticks([])
        return _finish(fig, path)
    grid = table.pivot(index="service", columns="occurrence", values="broken_s")
    grid = grid.loc[services, faults].to_numpy(float)
    top = max(1.0, float(np.nanmax(grid)))
    im = ax.imshow(grid, cmap="Reds", vmin=0.0, vmax=top, aspect="auto")
    cells = table.set_index(["service", "occurrence"])
    for i, s in enumerate(services):
        for j, f in enumerate(faults):
            c = cells.loc[(s, f)]
            text = (f"{c['broken_s']:.0f} s\n{int(c['alerts'])} alert"
                    f"{'s' * int(c['alerts'] != 1)}" if c["slo_broken"] else "ok")
            if c["broken_before_s"] > 0:  # already broken before: not this fault's alone
                text += f"\n({c['broken_before_s']:.0f} s before)"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if grid[i, j] > 0.6 * top else "black")
    first = table.drop_duplicates("occurrence").set_index("occurrence")
    ax.set_xticks(range(len(faults)), [_fault_label(first.loc[f]) for f in faults], fontsize=8)
    ax.set_yticks(range(len(services)), [s.replace("_", "-") for s in services], fontsize=8)
    fig.colorbar(im, ax=ax, label="SLO broken (s)")
    return _finish(fig, path)


MAX_COLUMNS = 24
"""Above this many occurrences, :func:`plot_blast_radius` draws a column per fault of
``scenario.faults`` (its occurrences summed), not one per occurrence."""


def _per_fault(table: pd.DataFrame) -> pd.DataFrame:
    """The blast-radius table with the occurrences of each fault summed (``broken_s``,
    ``broken_before_s``, ``alerts``; ``start_s`` the first; ``occurrences`` their count), one
    row per fault × service, ``occurrence`` set to the fault's index."""
    g = table.groupby(["fault", "service"], sort=False)
    out = g.agg(kind=("kind", "first"), target=("target", "first"),
                start_s=("start_s", "min"), broken_s=("broken_s", "sum"),
                broken_before_s=("broken_before_s", "sum"), alerts=("alerts", "sum"),
                occurrences=("occurrence", "nunique")).reset_index()
    out["occurrence"] = out["fault"]
    out["slo_broken"] = out["broken_s"] > 0
    return out


def _fault_label(row: pd.Series) -> str:
    """``"#0 pod_crash @20 s\\nfeature-enricher"`` (its index in ``scenario.faults``;
    ``"×12 from 20 s"`` for a fault whose occurrences are summed)."""
    n = int(row.get("occurrences", 1))
    when = f"@{row['start_s']:.0f} s" if n == 1 else f"×{n} from {row['start_s']:.0f} s"
    return f"#{row['fault']} {row['kind']} {when}\n{str(row['target']).replace('_', '-')}"


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
