"""Panels of the scaling figure (:func:`sim.analysis.dashboard_cluster.plot_scaling`): an
autoscaler's metric against its target at each sync, the consumer groups' lag, the workload's
bursts shaded on the time axis; and what the cluster's panels share: one colour per deployment
and the ▲ / ▼ markers of the scaling decisions.

The decisions are the frame of :func:`sim.analysis.dashboard_cluster.scaling_decisions`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.record.results import Results
from sim.topology import SERVICES

__all__ = ["autoscaler_kind", "colour", "decision_markers", "draw_lag", "draw_trigger", "rank",
           "shade_bursts", "short_name"]

_ORDER = [row.deployment for row in SERVICES]
_LAG = re.compile(r"topic=([^,]+),group=([^,]+)")


def rank(dep: str) -> tuple[int, str]:
    """Sort key of a deployment key: its place in the topology (pipeline order), then name."""
    return (_ORDER.index(dep) if dep in _ORDER else len(_ORDER), dep)


def colour(dep: str) -> str:
    """One colour per deployment, the same in every figure (its place in the topology)."""
    return f"C{rank(dep)[0] % 10}"


def short_name(dep: str) -> str:
    """The deployment's service name, as in the legends.

    >>> short_name("feature_enricher")
    'feature-enricher'
    """
    return dep.replace("_", "-")


def autoscaler_kind(results: Results, dep: str) -> str | None:
    """``"hpa"`` or ``"keda"``: the kind of the scenario's autoscaler of ``dep``; None when it
    has none (or the scenario names no such deployment)."""
    spec = getattr(getattr(results.scenario, "deployments", None), dep, None)
    a = getattr(spec, "autoscaling", None)
    return None if a is None else str(a.kind)


def decision_markers(ax: Axes, decisions: pd.DataFrame, column: str) -> list[Line2D]:
    """Draw ▲ (scale-up) / ▼ (scale-down) at (``time_s``, ``column``) of each row of
    ``decisions`` (rows of :func:`~sim.analysis.dashboard_cluster.scaling_decisions`; pass the
    changed ones) in its deployment's colour, one line per deployment and direction (``gid``
    ``"scale-up:<deployment>"``).

    Returns
    -------
    list of Line2D
        Legend keys, one per direction drawn, labelled with its count.
    """
    keys = []
    for direction, marker, what in ((1, "^", "scale-up"), (-1, "v", "scale-down")):
        sel = decisions[decisions["direction"] == direction]
        for dep, g in sel.groupby("deployment", sort=False):
            ax.plot(g["time_s"], g[column], ls="none", marker=marker, ms=8, color=colour(dep),
                    mec="k", mew=0.7, zorder=5, gid=f"{what}:{dep}")
        if len(sel):
            keys.append(Line2D([], [], ls="none", marker=marker, color="0.6", mec="k",
                               label=f"{what} ({len(sel)})"))
    return keys


def draw_trigger(ax: Axes, results: Results, decisions: pd.DataFrame, trigger: str) -> None:
    """The metric of the autoscalers of kind ``trigger`` at each of their decisions, against
    what the replicas can carry.

    ``trigger`` ``"cpu"``: the HPA's mean CPU utilisation of the ready pods against its target,
    shaded by the controller's tolerance (no change while ``|ratio - 1| <= tolerance``).
    ``"lag"``: the lag KEDA read against ``lagThreshold`` × current replicas (KEDA's Kafka
    scaler wants ``ceil(lag / lagThreshold)`` replicas: the lag above the dashed line asks for
    more). Changed decisions are ▲ / ▼ at their metric value.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    results : Results
        For the tolerance of each deployment's ``autoscaling.behavior``.
    decisions : pandas.DataFrame
        :func:`~sim.analysis.dashboard_cluster.scaling_decisions` of the run.
    trigger : {"cpu", "lag"}
    """
    sel = decisions[decisions["trigger"] == trigger]
    for dep, g in sel.groupby("deployment", sort=False):
        c, name = colour(dep), short_name(dep)
        if trigger == "cpu":
            spec = getattr(results.scenario.deployments, dep, None)
            tol = spec.autoscaling.behavior.tolerance if autoscaler_kind(results, dep) else 0.1
            ax.plot(g["time_s"], g["cpu"], color=c, marker=".", lw=1.2, label=f"{name}: CPU")
            ax.step(g["time_s"], g["target"], where="post", color=c, ls="--", lw=1.0,
                    label=f"target {g['target'].iloc[-1]:g} (±{tol:g})")
            ax.fill_between(g["time_s"], g["target"] * (1 - tol), g["target"] * (1 + tol),
                            step="post", color=c, alpha=0.12, lw=0)
        else:
            ax.plot(g["time_s"], g["lag"], color=c, marker=".", lw=1.2, label=f"{name}: lag read")
            ax.step(g["time_s"], g["threshold"] * g["current"], where="post", color=c, ls="--",
                    lw=1.0, label="lag_threshold × replicas")
    decision_markers(ax, sel[sel["changed"]], trigger)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.35 * (hi - lo))  # room for the legend and the markers at the top
    what = ("HPA: CPU utilisation of the ready pods vs target" if trigger == "cpu"
            else "KEDA: consumer lag read vs lag_threshold × replicas")
    ax.set_title(f"{what} (at each sync)", fontsize=10)
    ax.set_ylabel("utilisation" if trigger == "cpu" else "records")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncol=2)


def draw_lag(ax: Axes, results: Results) -> None:
    """The consumer groups' lag (``kafka_consumergroup_lag``: end offset - committed, records)
    over processing time, each group in the colour of its deployment; a note when the run has
    no consumer group."""
    m = results.metrics
    lag = m[m["name"] == "kafka_consumergroup_lag"]
    for lab, g in lag.groupby("labels", sort=False):
        topic, group = _LAG.search(str(lab)).groups() if _LAG.search(str(lab)) else ("", lab)
        ax.plot(g["time_s"], g["value"], lw=1.2, color=colour(str(group).replace("-", "_")),
                label=f"{topic} → {group}")
    ax.set_title("Consumer lag (topic → consumer group)", fontsize=10)
    ax.set_ylabel("records")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no consumer groups in this run", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="0.35")


def shade_bursts(axes: Sequence[Axes], results: Results) -> None:
    """Shade each burst of ``workload.bursts`` (``[start_s, start_s + duration_s)``, the
    arrival rate × ``multiplier``: ``sim.bursts``) grey behind every axes of ``axes``, with a
    key added to the legend of the first."""
    bursts = getattr(results.scenario.workload, "bursts", ())
    for b in bursts:
        for ax in axes:
            ax.axvspan(b.start_s, b.start_s + b.duration_s, color="0.5", alpha=0.12, lw=0,
                       zorder=0)
    legend = axes[0].get_legend()
    if bursts and legend is not None:
        keys = [Patch(color="0.5", alpha=0.25, label=f"{b.kind} burst ×{b.multiplier:g} "
                      f"({b.start_s:g}-{b.start_s + b.duration_s:g} s)") for b in bursts]
        axes[0].legend(handles=[*legend.legend_handles, *keys], fontsize=7, loc="upper left",
                       ncol=2)
