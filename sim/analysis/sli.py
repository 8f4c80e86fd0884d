"""Per-service SLI events and fault windows of a run: what ``sim.analysis.isolation`` judges.

A service's SLI events are the records reaching its input: the ingestor's at their
``arrival_s``, every other stage's at the previous stage's ``<prev>_end_s`` (the
``transactions`` frame, ``sim.record.results``). Against the service's ``slos.<deployment>``
(``sim.scenario.resilience.SloSpec``) each event is judged by two SLIs, as the SRE workbook
keeps latency and availability SLOs apart ("Implementing SLOs", chapter 2):

- ``latency`` (objective 0.99, only with ``p99_s``): good when the service served the record
  within ``p99_s`` of reaching its input; a record still waiting there at the end of the run
  is bad once it has waited longer than ``p99_s`` (not judged before);
- ``availability`` (objective ``availability``): bad when the record was shed, lost or
  dead-lettered at the service (``outcome_stage``), good when it served it.

Fault windows come from the run's ``faults`` frame (``sim.faults.schedule.faults_frame``) or,
without one, from its ``pod_crash`` incidents; a pod fault lasts until a pod of its deployment
is ready again (:func:`fault_windows`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.record.results import Results
from sim.topology import PIPELINE
from tinybots.errors import InputError

__all__ = ["LATENCY_OBJECTIVE", "fault_windows", "horizon_s", "service_events", "sli_events",
           "slo_specs"]

LATENCY_OBJECTIVE = 0.99
"""The latency SLI's objective: ``p99_s`` is met when 99 % of the records are within it."""
_FAILED = ("shed", "lost", "dead_lettered")
_POD_KINDS = ("pod_crash", "deployment_outage")


def slo_specs(results: Results) -> dict[str, Any]:
    """The ``SloSpec`` of each pipeline service that has one, in pipeline order.

    Raises
    ------
    InputError
        No service has an SLO (``scenario.slos`` all None), one line naming ``slos``.
    """
    slos = results.scenario.slos
    specs = {r.deployment: getattr(slos, r.deployment) for r in PIPELINE
             if getattr(slos, r.deployment, None) is not None}
    if not specs:
        names = ", ".join(r.deployment for r in PIPELINE)
        raise InputError(f"slos: the scenario sets no SLO, so there is nothing to judge; set "
                         f"slos.<service> (p99_s, availability) for one of {names}")
    return specs


def horizon_s(results: Results) -> float:
    """The end of the run (summary ``sim_time_s``; else the last stage end), s."""
    s = results.summary_dict().get("sim_time_s", float("nan")) if len(results.summary) else np.nan
    if np.isfinite(s):
        return float(s)
    ends = results.transactions.filter(like="_end_s").to_numpy(float)
    return float(np.nanmax(ends)) if np.isfinite(ends).any() else 0.0


def service_events(results: Results) -> pd.DataFrame:
    """One row per record reaching a service that has an SLO, and its verdicts.

    Returns
    -------
    pandas.DataFrame
        ``service`` (deployment key, pipeline order), ``row``, ``time_s`` (reached its input),
        ``end_s`` (it served it; NaN: not), ``latency_s`` (``end_s − time_s``; for a record
        still waiting at the end of the run, its wait so far, a lower bound), ``served``,
        ``failed`` (shed / lost / dead-lettered here), ``waiting`` (neither, at the end),
        ``late`` (latency above ``p99_s``; False without ``p99_s``), ``good`` (served, within
        ``p99_s`` and not failed), ``decided_s`` (when the verdict is known: served in time
        at ``end_s``; late at ``time_s + p99_s``; failed at its stage's end or start when
        known, else ``time_s``). A record still waiting within ``p99_s`` (or without
        ``p99_s``) at the end is not judged and not listed.

    Raises
    ------
    InputError
        No SLO in the scenario (:func:`slo_specs`).
    """
    specs, tx, end_run = slo_specs(results), results.transactions, horizon_s(results)
    frames, prev = [], None
    for row in PIPELINE:
        col = row.columns
        if row.deployment in specs:
            p99 = specs[row.deployment].p99_s
            t_in = tx["arrival_s" if prev is None else f"{prev}_end_s"].to_numpy(float)
            end = tx[f"{col}_end_s"].to_numpy(float)
            failed = (tx["outcome"].isin(_FAILED) & (tx["outcome_stage"] == row.deployment)
                      ).to_numpy(bool)
            served = np.isfinite(end) & ~failed
            waiting = np.isfinite(t_in) & ~served & ~failed
            latency = np.where(served, end - t_in, np.where(waiting, end_run - t_in, np.nan))
            limit = np.inf if p99 is None else float(p99)
            late = (served | waiting) & (latency > limit)
            keep = np.isfinite(t_in) & (served | failed | late)
            known = np.where(np.isfinite(end), end,
                             tx[f"{col}_start_s"].to_numpy(float))
            decided = np.where(served & ~late, end, np.where(
                late, t_in + limit, np.where(np.isfinite(known), known, t_in)))
            frames.append(pd.DataFrame({
                "service": row.deployment, "row": tx["row"].to_numpy()[keep],
                "time_s": t_in[keep], "end_s": np.where(served, end, np.nan)[keep],
                "latency_s": latency[keep], "served": served[keep], "failed": failed[keep],
                "waiting": waiting[keep], "late": late[keep],
                "good": (served & ~late & ~failed)[keep], "decided_s": decided[keep]}))
        prev = col
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["service", "time_s"], key=_pipeline_key, kind="stable",
                           ignore_index=True)


def _pipeline_key(col: pd.Series) -> pd.Series:
    if col.name != "service":
        return col
    order = {r.deployment: i for i, r in enumerate(PIPELINE)}
    return col.map(order)


def sli_events(events: pd.DataFrame, specs: dict[str, Any]) -> list[tuple[str, str, float,
                                                                             pd.DataFrame]]:
    """Per service and SLI: ``(service, sli, objective, rows)`` where ``rows`` are the events
    the SLI judges with their ``good`` flag for it (``latency``: served or late records,
    good = not late; ``availability``: served or failed records, good = not failed)."""
    out = []
    for service, spec in specs.items():
        ev = events[events["service"] == service]
        if spec.p99_s is not None:
            lat = ev[(ev["served"] | ev["late"]) & ~ev["failed"]]
            out.append((service, "latency", LATENCY_OBJECTIVE,
                        lat.assign(good=~lat["late"])))
        av = ev[ev["served"] | ev["failed"]]
        out.append((service, "availability", float(spec.availability),
                    av.assign(good=~av["failed"])))
    return out


def fault_windows(results: Results, faults: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each fault occurrence with the window in which it acts on the run.

    Parameters
    ----------
    results : Results
    faults : pandas.DataFrame, optional
        The ``faults`` frame (``fault``, ``kind``, ``target``, ``start_s``, ``end_s``). None:
        ``results.faults`` or ``results.frames["faults"]`` when the results carry one, else
        one ``pod_crash`` row per ``pod_crash`` incident (``target``: its deployment).

    Returns
    -------
    pandas.DataFrame
        ``occurrence`` (0, 1, ...: a random fault may occur more than once) and the faults'
        columns, with ``end_s`` made effective: clipped to the end of the run; for
        a ``pod_crash`` or ``deployment_outage``, extended to the first ``pod_ready`` of its
        deployment at or after both ``end_s`` and its last crash in the window (a crashed pod
        serves nothing until ready; the end of the run if it never is).
    """
    f = _given_faults(results) if faults is None else faults
    if f is None:
        inc = results.incidents[results.incidents["kind"] == "pod_crash"]
        f = pd.DataFrame({"fault": np.arange(len(inc), dtype=np.int64), "kind": "pod_crash",
                          "target": inc["target"].astype(str).str.rsplit("-", n=1).str[0]
                          .to_numpy(object),
                          "start_s": inc["time_s"].to_numpy(float),
                          "end_s": inc["time_s"].to_numpy(float)})
    f = f[["fault", "kind", "target", "start_s", "end_s"]].reset_index(drop=True)
    end_run = horizon_s(results)
    ends = [_effective_end(results.incidents, r, end_run) for r in f.itertuples()]
    f = f.assign(end_s=np.minimum(np.asarray(ends, dtype=float), end_run))
    f.insert(0, "occurrence", np.arange(len(f), dtype=np.int64))
    return f


def _given_faults(results: Results) -> pd.DataFrame | None:
    own = getattr(results, "faults", None)
    if isinstance(own, pd.DataFrame):
        return own
    frames = getattr(results, "frames", None)
    return frames.get("faults") if isinstance(frames, dict) else None


def _effective_end(incidents: pd.DataFrame, fault: Any, end_run: float) -> float:
    if fault.kind not in _POD_KINDS:
        return float(fault.end_s)
    pods = incidents["target"].astype(str).str.startswith(f"{fault.target}-")
    t = incidents["time_s"]
    crashes = t[pods & (incidents["kind"] == "pod_crash") & t.between(fault.start_s,
                                                                      fault.end_s)]
    anchor = max(float(fault.end_s), float(crashes.max()) if len(crashes) else -np.inf)
    ready = t[pods & (incidents["kind"] == "pod_ready") & (t >= anchor)]
    return float(ready.min()) if len(ready) else end_run
