"""The cluster on the dashboards: replicas over time, Pending pods, node pools and the
autoscalers' decisions on the time axis.

Read from a run's frames (``sim.record.results``): the metrics
``kube_deployment_spec_replicas`` (wanted), ``kube_deployment_status_replicas_ready``,
``kube_pod_status_phase{phase="Pending"}`` per deployment and per pool,
``cluster_autoscaler_nodes_count{pool,state}``, and the ``scaling_decision`` incidents of
``sim.pods.autoscaler`` (read once, by :func:`scaling_decisions`). :func:`draw_replicas` is the
main dashboard's pods panel; :func:`plot_scaling` is the focused figure of notebook 03.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sim.analysis.scaling_panels import (
    autoscaler_kind,
    colour,
    decision_markers,
    draw_lag,
    draw_trigger,
    rank,
    shade_bursts,
    short_name,
)
from sim.analysis.timeaxis import event_clock, finish_run_figure
from sim.record.results import Results

__all__ = ["draw_nodes", "draw_replicas", "plot_scaling", "scaling_decisions"]

_COUNTS = ("current", "desired", "stabilized", "applied")
_FIELDS = ("cpu", "target", "ratio", "ready", "unready", "lag", "threshold", "partitions_cap")
_PAIR = re.compile(r"(\w+)=(\S+)")
_POOL_COLOURS = ("tab:cyan", "tab:olive", "tab:pink", "tab:gray")


def scaling_decisions(incidents: pd.DataFrame) -> pd.DataFrame:
    """The ``scaling_decision`` incidents as a frame, one row per autoscaler sync.

    Columns: ``time_s``; ``deployment`` (the scenario key); ``trigger`` (``"cpu"``: the HPA's
    CPU utilisation, ``"lag"``: KEDA's consumer lag); ``current``, ``desired`` (the raw
    recommendation), ``stabilized`` (after the stabilization window), ``applied`` (after the
    rate limits and min/max: the replicas set), as integers; ``direction`` (+1 scale-up, -1
    scale-down, 0 none) and ``changed`` (``applied != current``, as the summary's
    ``scaling_changes`` counts); the metric fields, floats, NaN when the trigger has none:
    ``cpu`` (mean utilisation of the ready pods), ``target``, ``ratio``, ``ready``,
    ``unready`` (HPA), ``lag``, ``threshold`` (``lagThreshold``), ``partitions_cap`` (NaN when
    none applies; KEDA).

    >>> inc = pd.DataFrame({"time_s": [15.0, 30.0], "kind": ["scaling_decision"] * 2,
    ...     "target": ["feature_enricher"] * 2, "duration_s": [float("nan")] * 2,
    ...     "detail": ["cpu=0.93 target=0.8 ratio=1.16 ready=2 unready=0 current=2 desired=3 "
    ...                "stabilized=3 applied=3", "lag=713 threshold=20 partitions_cap=none "
    ...                "current=3 desired=36 stabilized=36 applied=3"]})
    >>> scaling_decisions(inc)[["trigger", "current", "applied", "changed", "cpu", "lag"]]
      trigger  current  applied  changed   cpu    lag
    0     cpu        2        3     True  0.93    NaN
    1     lag        3        3    False   NaN  713.0
    """
    rows = incidents[incidents["kind"] == "scaling_decision"]
    parsed = [dict(_PAIR.findall(str(d))) for d in rows["detail"]]
    out = pd.DataFrame({"time_s": rows["time_s"].to_numpy(dtype=float),
                        "deployment": rows["target"].astype(str).to_numpy()})
    out["trigger"] = ["cpu" if "cpu" in p else "lag" for p in parsed]
    for key in _COUNTS:
        out[key] = np.array([int(p.get(key, 0)) for p in parsed], dtype=np.int64)
    out["direction"] = np.sign(out["applied"] - out["current"]).astype(np.int64)
    out["changed"] = out["direction"] != 0
    for key in _FIELDS:
        out[key] = pd.to_numeric(pd.Series([p.get(key) for p in parsed], dtype=object),
                                 errors="coerce").astype(float)
    return out


def _per_deployment(metrics: pd.DataFrame, name: str, pending: bool = False) -> dict:
    """Series of metric ``name`` by deployment key (only the ``phase=Pending`` ones when
    ``pending``), in pipeline order."""
    sel = metrics[(metrics["name"] == name) & metrics["labels"].str.startswith("deployment=")]
    sel = sel[sel["labels"].str.contains("phase=Pending") == pending]
    keys = sel["labels"].str.extract(r"deployment=\"?([^,\"]+)")[0]
    groups = {str(k): g for k, g in sel.groupby(keys, sort=False)}
    return {k: groups[k] for k in sorted(groups, key=rank)}


def _moves(wanted: pd.DataFrame, ready: pd.DataFrame | None, pending: pd.DataFrame | None
           ) -> bool:
    """Whether the wanted replicas changed, pods were Pending, or the ready pods fell below
    the wanted ones after first reaching them (a crash; the start-up ramp is not a move)."""
    w = wanted["value"].to_numpy()
    if (len(w) and w.min() != w.max()) or (pending is not None and pending["value"].max() > 0):
        return True
    if ready is None or len(ready) != len(w):
        return False
    short = ready["value"].to_numpy() < w
    reached = np.flatnonzero(~short)
    return bool(len(reached) and short[reached[0]:].any())


def _fixed_text(fixed: dict[str, pd.DataFrame], ready: dict[str, pd.DataFrame],
                width: int) -> str:
    """``"fixed replicas, all ready by 5 s: transaction-ingestor 3, ..."``, wrapped at
    ``width`` characters."""
    counts = ", ".join(f"{short_name(d)}\u00a0{int(g['value'].iloc[-1])}"  # kept together
                       for d, g in fixed.items())
    up = [g["time_s"][g["value"].to_numpy() >= fixed[d]["value"].to_numpy()].min()
          for d, g in ready.items() if d in fixed and len(g) == len(fixed[d])]
    when = f", all ready by {max(up):g} s" if up and all(np.isfinite(up)) else ""
    return textwrap.fill(f"fixed replicas{when}: {counts}", width, break_on_hyphens=False)


def draw_replicas(ax: Axes, results: Results, deployments: list[str] | None = None
                  ) -> list[str]:
    """Replicas per deployment over processing time on ``ax``.

    For each deployment drawn (colour by its place in the pipeline): the wanted replicas
    (``kube_deployment_spec_replicas``, the Deployment's ``spec.replicas`` its autoscaler
    sets) as a thick step line, the ready ones (``kube_deployment_status_replicas_ready``) as
    a thin step line of the same colour on top (visible where pods are starting or down);
    its Pending pods (no node had room: ``kube_pod_status_phase{phase="Pending"}``) as a
    hatched area; the autoscaler's decisions that changed the replicas as ▲ (scale-up) and
    ▼ (scale-down) at their time and new count (:func:`scaling_decisions`). By default only
    the deployments that autoscale, whose wanted replicas changed, that had Pending pods or
    lost ready pods are drawn; the others are listed in one line ("fixed replicas").

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    results : Results
        Results saved before the wanted replicas were recorded draw the ready ones only.
    deployments : list of str, optional
        Scenario keys to draw (all of them as lines); None: those that move, as above.

    Returns
    -------
    list of str
        The deployments drawn as lines, in pipeline order.
    """
    m = results.metrics
    ready = _per_deployment(m, "kube_deployment_status_replicas_ready")
    wanted = _per_deployment(m, "kube_deployment_spec_replicas") or ready
    pending = _per_deployment(m, "kube_pod_status_phase", pending=True)
    if deployments is None:
        deployments = [d for d, g in wanted.items()
                       if autoscaler_kind(results, d) or _moves(g, ready.get(d), pending.get(d))]
    drawn = sorted((d for d in deployments if d in wanted), key=rank)
    decisions = scaling_decisions(results.incidents)
    decisions = decisions[decisions["changed"] & decisions["deployment"].isin(drawn)]
    top = 1.0
    for dep in drawn:
        c, w = colour(dep), wanted[dep]
        lo, hi = int(w["value"].min()), int(w["value"].max())
        kind = autoscaler_kind(results, dep)
        label = (f"{short_name(dep)}: {lo} pod{'s' * (lo != 1)}" if lo == hi
                 else f"{short_name(dep)}: {lo}-{hi} pods") + (f" ({kind.upper()})" if kind else "")
        ax.step(w["time_s"], w["value"], where="post", color=c, lw=3.0, alpha=0.55,
                label=label, gid=f"wanted:{dep}")
        if dep in ready and ready[dep] is not w:
            r = ready[dep]
            ax.step(r["time_s"], r["value"], where="post", color=c, lw=1.1, gid=f"ready:{dep}")
        p = pending.get(dep)
        if p is not None and p["value"].max() > 0:
            ax.fill_between(p["time_s"], 0, p["value"], step="post", color=c, alpha=0.25,
                            hatch="//", lw=0, gid=f"pending:{dep}")
        top = max(top, hi)
    keys = decision_markers(ax, decisions, "applied")
    if any(str(a.get_gid()).startswith("pending:") for a in ax.collections):
        keys.append(Patch(facecolor="0.8", hatch="//", label="Pending pods (no node had room)"))
    fixed = {d: g for d, g in wanted.items() if d not in drawn}
    ax.set_title("Replicas (thick: wanted, thin: ready)", fontsize=10)
    ax.set_ylabel("pods")
    ax.grid(alpha=0.3)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not drawn:
        ax.text(0.5, 0.5, _fixed_text(fixed, ready, 50) if fixed
                else "no deployment metrics in this run", transform=ax.transAxes, ha="center",
                va="center", fontsize=9, color="0.35")
        ax.set_yticks([])
        return drawn
    ax.set_ylim(-0.3, top * 1.45 + 0.8)
    ax.legend(handles=[*ax.get_legend_handles_labels()[0], *keys], fontsize=7,
              loc="upper left", ncol=2)
    if fixed:
        ax.text(0.99, 0.03, _fixed_text(fixed, ready, 70), transform=ax.transAxes, ha="right",
                va="bottom", fontsize=7, color="0.35", bbox={"fc": "white", "ec": "none",
                                                                   "alpha": 0.7, "pad": 1})
    return drawn


def draw_nodes(ax: Axes, results: Results) -> bool:
    """Nodes per node pool and their Pending pods over processing time on ``ax``.

    Per pool: the ready nodes (``cluster_autoscaler_nodes_count{state="ready"}``) as a step
    line, the nodes booting on top of them shaded (``state="starting"``: the Cluster
    Autoscaler's ``notStarted``), the pool's Pending pods (``kube_pod_status_phase``) as a
    dashed line, and each ``node_added`` / ``node_removed`` incident as a ``+`` / ``x`` at its
    time and the pool's node count there.

    Returns
    -------
    bool
        False (and nothing drawn) when the run has no node pools (an unlimited cluster).
    """
    m = results.metrics
    nodes = m[m["name"] == "cluster_autoscaler_nodes_count"]
    if nodes.empty:
        return False
    parts = nodes["labels"].str.extract(r"pool=([^,]+),state=(\w+)")
    pend = m[(m["name"] == "kube_pod_status_phase") & m["labels"].str.startswith("pool=")]
    inc, top = results.incidents, 1.0
    for i, pool in enumerate(dict.fromkeys(parts[0])):
        c = _POOL_COLOURS[i % len(_POOL_COLOURS)]
        ready = nodes[(parts[0] == pool) & (parts[1] == "ready")]
        start = nodes[(parts[0] == pool) & (parts[1] == "starting")]
        t, up = ready["time_s"].to_numpy(), ready["value"].to_numpy()
        total = up + (start["value"].to_numpy() if len(start) == len(up) else 0.0)
        top = max(top, float(total.max(initial=0.0)))
        ax.step(t, up, where="post", color=c, lw=2.0, label=f"{pool}: nodes ready")
        ax.fill_between(t, up, total, step="post", color=c, alpha=0.3, lw=0,
                        label=f"{pool}: nodes starting")
        p = pend[pend["labels"] == f"pool={pool},phase=Pending"]
        if len(p) and p["value"].max() > 0:
            top = max(top, float(p["value"].max()))
            ax.step(p["time_s"], p["value"], where="post", color=c, ls="--", lw=1.2,
                    label=f"{pool}: pods Pending")
        for kind, marker in (("node_added", "P"), ("node_removed", "X")):
            ev = inc[(inc["kind"] == kind) & inc["target"].astype(str).str.startswith(
                f"{pool}-node-")]
            if len(ev) and len(t):
                at = np.clip(np.searchsorted(t, ev["time_s"].to_numpy()), 0, len(t) - 1)
                ax.plot(ev["time_s"], total[at], ls="none", marker=marker, ms=8, color=c,
                        mec="k", mew=0.7, zorder=5, label=f"{pool}: {kind.replace('_', ' ')}",
                        gid=f"{kind}:{pool}")
    ax.set_title("Node pools (shaded: nodes starting; dashed: Pending pods)", fontsize=10)
    ax.set_ylabel("nodes / pods")
    ax.set_ylim(-0.2, top * 1.4 + 0.6)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    return True


def plot_scaling(results: Results, path: str | Path | None = None) -> Figure:
    """The run's scaling on one time axis (processing time, s; the event time of day on top).

    Rows: the replicas (:func:`draw_replicas`); one row per kind of autoscaler metric in the
    run (:func:`scaling_decisions`: CPU utilisation against the HPA's target, or the lag KEDA
    read against ``lag_threshold`` × replicas), with the decisions that changed the replicas
    as ▲ / ▼; the node pools (:func:`draw_nodes`, when the cluster has pools); the consumer
    groups' lag (``kafka_consumergroup_lag``). Each changed decision is also a faint vertical
    line on the rows below the replicas. The title gives the scenario's name, the p99 latency
    and the summary's ``scaling_changes``, ``pod_seconds`` (and ``nodes_added``,
    ``max_pods_pending`` with pools). Saved as PNG at ``path`` when given (then closed).
    """
    decisions = scaling_decisions(results.incidents)
    triggers = list(dict.fromkeys(decisions["trigger"])) or ["none"]
    pools = (results.metrics["name"] == "cluster_autoscaler_nodes_count").any()
    n = 2 + len(triggers) + int(pools)
    fig, axes = plt.subplots(n, 1, sharex=True, figsize=(11, 2.7 * n + 0.6),
                             height_ratios=[1.4] + [1] * (n - 1))
    draw_replicas(axes[0], results)
    for ax, trigger in zip(axes[1:], triggers, strict=False):
        if trigger == "none":
            ax.set_title("Autoscaler metric", fontsize=10)
            ax.text(0.5, 0.5, "no autoscaler decision in this run", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9, color="0.35")
            ax.set_yticks([])
        else:
            draw_trigger(ax, results, decisions, trigger)
    if pools:
        draw_nodes(axes[1 + len(triggers)], results)
    draw_lag(axes[-1], results)
    for _, d in decisions[decisions["changed"]].iterrows():
        for ax in axes[1:]:
            ax.axvline(d["time_s"], color=colour(d["deployment"]), lw=0.8, alpha=0.25)
    shade_bursts(axes, results)
    axes[-1].set_xlabel("processing time (s)")
    if event_clock(results) is not None and len(results.metrics):
        axes[0].set_title(axes[0].get_title(), fontsize=10, y=1.0, pad=30)
    return finish_run_figure(fig, results, [axes[0]], _scaling_title(results), path)


def _scaling_title(results: Results) -> str:
    s = results.summary_dict()
    p99 = s.get("latency_p99_s", float("nan"))
    parts = [f"p99 latency {p99:.2f} s" if np.isfinite(p99) else "no transaction completed",
             _count(s.get("scaling_changes", 0), "scaling change"),
             f"{s.get('pod_seconds', float('nan')):,.0f} pod-seconds"]
    if s.get("nodes_added", 0) or s.get("max_pods_pending", 0):
        parts += [_count(s["nodes_added"], "node") + " added",
                  f"at most {_count(s['max_pods_pending'], 'pod')} Pending"]
    return f"{results.scenario.name}: {', '.join(parts)}"


def _count(n: float, what: str) -> str:
    """``"1 node"``, ``"3 nodes"``.

    >>> _count(1, "node"), _count(3, "scaling change")
    ('1 node', '3 scaling changes')
    """
    return f"{n:g} {what}{'s' * (n != 1)}"
