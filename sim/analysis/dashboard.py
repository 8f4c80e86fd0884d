"""A one-page dashboard of a run: throughput, latency percentiles, consumer lag per topic,
replicas (wanted, ready, Pending; scaling decisions: ``dashboard_cluster``), utilisation and
alerts over processing time; rebalance pauses shaded and, when anything was dropped, records
shed / lost / dead-lettered by reason (``dashboard_bus``).

Drawn with pyplot; this module never selects a matplotlib backend (the ``tinybots`` command
sets ``MPLBACKEND=Agg`` unless the user chose one), so it works inline in notebooks too."""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.analysis import dashboard_bus as bus
from sim.analysis.dashboard_bus import DROP_COLOURS
from sim.analysis.dashboard_cluster import draw_replicas
from sim.analysis.scaling_panels import shade_bursts
from sim.analysis.timeaxis import finish_run_figure, window_note
from sim.record.results import Results
from sim.topology import STAGES

__all__ = ["plot_dashboard", "readable_label", "settle_last_interval"]

AVERAGED = (
    "tinybots_arrivals_per_s",
    "tinybots_completed_per_s",
    "tinybots_utilisation",
    "tinybots_ingress_queue_depth_mean",
)
"""Metrics that are averages over their monitoring interval (rates, busy fractions)."""
PERCENTILES = ("tinybots_e2e_latency_seconds",)
"""Metrics that are percentiles of the transactions completed in their interval."""
_ORDER = {name: i for i, name in enumerate(STAGES.values())}


def settle_last_interval(metrics: pd.DataFrame, interval_s: float) -> pd.DataFrame:
    """``metrics`` with the run's last, partial monitoring interval folded into the one before.

    The monitor samples every ``interval_s`` and once more when the run ends, so the last
    sample usually covers a shorter interval (0.09 s of a 2-s interval, say): a rate over it
    is one or two completions divided by almost nothing (a spike), and a busy fraction is that
    of one poll. For the :data:`AVERAGED` metrics the last two samples of each series are
    replaced by one at the end time, their duration-weighted mean (the exact rate over the
    combined interval; for a busy fraction exact while the ready servers did not change). The
    :data:`PERCENTILES` of a partial interval shorter than half the interval are dropped (too
    few completions; they cannot be merged). Other metrics (lag, pods, totals) are levels at
    the sampling time and are kept. Nothing changes when the last interval is a full one.

    Parameters
    ----------
    metrics : pandas.DataFrame
        The long metrics frame (``time_s``, ``name``, ``labels``, ``value``; see
        :mod:`sim.record.monitor`).
    interval_s : float
        The scenario's ``monitoring_interval_s``, s.

    Returns
    -------
    pandas.DataFrame
        A new frame; the input is not changed.
    """
    times = np.unique(metrics["time_s"].to_numpy())
    if len(times) < 2 or times[-1] - times[-2] >= interval_s * (1 - 1e-9):
        return metrics
    t_last, t_prev = times[-1], times[-2]
    t_before = times[-3] if len(times) > 2 else 0.0
    w_last, w_prev = t_last - t_prev, t_prev - t_before
    at = metrics["time_s"]
    averaged = metrics["name"].isin(AVERAGED)
    last = metrics[averaged & (at == t_last)].set_index(["name", "labels"])["value"]
    prev = metrics[averaged & (at == t_prev)].set_index(["name", "labels"])["value"]
    both = pd.concat({"last": last, "prev": prev}, axis=1).dropna(how="all")
    weights = np.where(both.isna(), 0.0, [w_last, w_prev])
    merged = np.nansum(both.to_numpy() * weights, axis=1) / weights.sum(axis=1)
    drop = (averaged & at.isin([t_last, t_prev])) | (
        metrics["name"].isin(PERCENTILES) & (at == t_last) & (w_last < interval_s / 2)
    )
    rows = pd.DataFrame({"time_s": t_last, "name": both.index.get_level_values("name"),
                         "labels": both.index.get_level_values("labels"), "value": merged})
    kept = metrics[~drop]
    return pd.concat([kept, rows.astype(kept.dtypes.to_dict())], ignore_index=True).sort_values(
        "time_s", kind="stable", ignore_index=True)


def _label_parts(lab: str) -> dict[str, str]:
    return {k: v for k, v in re.findall(r'(\w+)\s*=\s*"?([^,"]*)"?', lab)}


def readable_label(lab: str) -> str:
    """A legend entry for a Prometheus-style label string.

    >>> readable_label("topic=transactions,group=feature-enricher")
    'transactions → feature-enricher'
    >>> readable_label('deployment="fraud_detector"')
    'fraud-detector'
    >>> readable_label("quantile=0.95")
    'p95'
    """
    parts = _label_parts(lab)
    if "topic" in parts and "group" in parts:
        return f"{parts['topic']} → {parts['group']}"
    if "deployment" in parts:
        return parts["deployment"].replace("_", "-")
    if "quantile" in parts:
        try:
            return f"p{float(parts['quantile']) * 100:g}"
        except ValueError:
            pass
    return ", ".join(f"{k} {v}" for k, v in parts.items()) or lab


def _pipeline_key(lab: str) -> tuple[int, str]:
    parts = _label_parts(lab)
    dep = parts.get("deployment") or parts.get("group", "").replace("-", "_")
    return _ORDER.get(dep, len(_ORDER)), lab


def _series(metrics: pd.DataFrame, name: str) -> dict[str, pd.DataFrame]:
    sel = metrics[metrics["name"] == name]
    groups = dict(tuple(sel.groupby("labels", sort=False)))
    return {lab: groups[lab] for lab in sorted(groups, key=_pipeline_key)}


def _note(ax: Axes, text: str) -> None:
    """Write ``text`` in the middle of an empty panel."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9,
            color="0.35", wrap=True)
    ax.set_yticks([])


def _panel(ax: Axes, metrics: pd.DataFrame, name: str, title: str, ylabel: str,
           empty: str, unlabelled: str = "") -> None:
    """One line per label set of metric ``name`` (legend: :func:`readable_label`, or
    ``unlabelled`` for the series without labels); ``empty`` is written when nothing is drawn."""
    for lab, g in _series(metrics, name).items():
        if g["value"].notna().any():
            label = readable_label(lab) if lab else unlabelled or name
            ax.plot(g["time_s"], g["value"], label=label, lw=1.2)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="upper left")
    elif empty:
        _note(ax, empty)


def _pods_panel(ax: Axes, results: Results) -> None:
    """Replicas per deployment: wanted and ready, Pending pods and the scaling decisions
    (:func:`sim.analysis.dashboard_cluster.draw_replicas`)."""
    draw_replicas(ax, results)


def _drops_text(transactions: pd.DataFrame) -> str:
    """``"27 shed, 3 lost"`` from the transactions' outcomes, or ``"nothing shed or lost"``,
    followed by ``"; N still in flight"`` when the run ended with records in the pipeline.

    >>> _drops_text(pd.DataFrame({"outcome": ["completed", "shed", "lost", "shed"]}))
    '2 shed, 1 lost'
    """
    counts = transactions["outcome"].astype(str).value_counts()
    parts = [f"{counts[o]} {o.replace('_', '-')}" for o in DROP_COLOURS if counts.get(o, 0)]
    text = ", ".join(parts) or "nothing shed or lost"
    if counts.get("in_flight", 0):  # a run cut short: say what is still in the pipeline
        text += f"; {counts['in_flight']} still in flight"
    return text


def _title(results: Results) -> str:
    """The scenario's name and the run's defined key figures (NaN ones are left out)."""
    s = results.summary_dict()

    def defined(key: str) -> float | None:
        v = s.get(key)
        return float(v) if isinstance(v, int | float) and math.isfinite(v) else None

    parts = [f"{s.get('completed', '?')}/{s.get('generated', '?')} completed",
             _drops_text(results.transactions)]
    if (n := defined("not_arrived")) is not None and n > 0:
        parts.append(f"{n:.0f} never arrived (run cut short)")
    for key, text in (("latency_p95_s", "p95 latency {:.2f} s"), ("average_precision",
                      "AP {:.3f}"), ("card_precision_at_100", "CP@100 {:.3f}")):
        if (v := defined(key)) is not None:
            parts.append(text.format(v))
    return f"{results.scenario.name}: {', '.join(parts)}{window_note(results)}"


def _grid(drops: bool) -> tuple[Figure, np.ndarray, list[Axes]]:
    """The 3 x 2 panels sharing one time axis (in ``fig.axes`` first, row by row); with
    ``drops`` a fourth row: the drops panel (left, same time axis) and the reasons table."""
    fig = plt.figure(figsize=(13, 12.6 if drops else 10))
    grid = fig.add_gridspec(4 if drops else 3, 2, height_ratios=[1, 1, 1, 0.9][: 3 + drops])
    axes = np.empty((3, 2), dtype=object)
    for r in range(3):
        for c in range(2):
            axes[r, c] = fig.add_subplot(grid[r, c], sharex=axes[0, 0] if r or c else None)
    extra = [fig.add_subplot(grid[3, 0], sharex=axes[0, 0]), fig.add_subplot(grid[3, 1])] \
        if drops else []
    bottom = [axes[2, 1], extra[0]] if drops else list(axes[2])
    for a in [*axes.flat, *extra[:1]]:
        a.tick_params(labelbottom=a in bottom)
        if a in bottom:
            a.set_xlabel("processing time (s)")
    return fig, axes, extra


def _shade_rebalances(results: Results, lag: Axes, latency: Axes) -> None:
    """Rebalance pauses shaded on the lag panel (every group, in the colour of its lag line;
    one legend entry says so; pod crashes as dashed lines) and on the latency panel (the
    transaction path's groups, a legend per group)."""
    pauses = bus.rebalance_pauses(results.incidents)
    colours = bus.pause_colours(lag, pauses)
    lines = list(lag.lines)  # the lag lines, before the crash markers (also lines)
    keys = [bus.pause_key()] if bus.shade_pauses(lag, pauses, colours) else []
    crash = bus.mark_crashes(lag, results.incidents)
    keys += [crash] if crash is not None else []
    if keys and lines:
        lag.legend(handles=[*lines, *keys], fontsize=7, loc="upper left")
    bus.pause_legend(latency, bus.shade_pauses(latency, pauses, colours, bus.TRANSACTION_GROUPS))


def plot_dashboard(results: Results, path: str | Path | None = None) -> Figure:
    """Draw the dashboard of ``results``; saved as PNG at ``path`` when given.

    Panels (bottom x axis: processing time, s; top axis: the event time of day it stands for,
    live start + speedup × processing time, HH:MM): arrivals and completions per second;
    end-to-end latency p50/p95/p99 (s) of the transactions completed in each interval;
    consumer lag per topic → group (records); replicas wanted and ready per deployment
    with Pending pods and the autoscalers' ▲ / ▼ decisions
    (:func:`sim.analysis.dashboard_cluster.draw_replicas`); utilisation per deployment;
    cumulative alerts. Rebalance pauses are shaded on the
    lag and latency panels, ``[time_s, time_s + duration_s]`` of each ``rebalance`` incident,
    in the colour of the group's lag line, with a legend per group
    (:mod:`sim.analysis.dashboard_bus`). When anything was shed, lost or dead-lettered a fourth
    row shows the cumulative counts per reason over time and a table of the transactions per
    outcome, reason and stage; otherwise the title says "nothing shed or lost". The run's
    last, partial monitoring interval is folded into the one before
    (:func:`settle_last_interval`). A panel with nothing to show says why; legends name
    topics, groups and deployments. The title gives the defined key figures (undefined ones,
    e.g. AP without a model, are left out) and, for a replay workload, the event-time window
    replayed and the speedup.
    """
    m = settle_last_interval(results.metrics, results.scenario.monitoring_interval_s)
    last_stage = getattr(results.scenario, "last_stage", "alert_service")
    drops = bus.has_drops(results.transactions, results.metrics, results.incidents)
    fig, axes, extra = _grid(drops)
    ax = axes[0, 0]
    _panel(ax, m, "tinybots_arrivals_per_s", "", "per s", "", "arrivals")
    _panel(ax, m, "tinybots_completed_per_s", "Throughput (arrivals, completions)", "per s",
           "no transaction arrived", "completed")
    _panel(axes[0, 1], m, "tinybots_e2e_latency_seconds", "End-to-end latency percentiles", "s",
           "no transaction completed")
    _panel(axes[1, 0], m, "kafka_consumergroup_lag", "Consumer lag (topic → consumer group)",
           "records", f"no consumer groups in this run\n(the pipeline ends at {last_stage})")
    _shade_rebalances(results, axes[1, 0], axes[0, 1])
    _pods_panel(axes[1, 1], results)
    _panel(axes[2, 0], m, "tinybots_utilisation", "Utilisation (time-weighted busy fraction)",
           "fraction", "no server was ready")
    if last_stage == "alert_service":
        _panel(axes[2, 1], m, "tinybots_alerts_total", "Alerts (cumulative)", "transactions",
               "no alerts recorded", "alerts raised")
    else:
        axes[2, 1].set_title("Alerts (cumulative)", fontsize=10)
        _note(axes[2, 1], f"no alert-service in this run\n(the pipeline ends at {last_stage})")
    shade_bursts([axes[1, 0], axes[0, 0], axes[0, 1], axes[1, 1], axes[2, 0]], results)
    end_s = float(m["time_s"].max()) if len(m) else 0.0
    if drops:
        bus.draw_drops(extra[0], results.transactions, results.metrics, results.incidents,
                       end_s)
        bus.draw_reasons_table(extra[1], results.transactions)
    return finish_run_figure(fig, results, list(axes[0]), _title(results), path)
