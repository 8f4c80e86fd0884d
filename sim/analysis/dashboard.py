"""A one-page dashboard of a run: throughput, latency percentiles, consumer lag per topic,
pods ready, utilisation and alerts over processing time.

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
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

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
_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


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


def _pods_panel(ax, metrics: pd.DataFrame) -> None:
    """Ready pods per deployment as step lines with their own line style and marker (four markers
    each, staggered along x); widths shrink in drawing order, so lines on the same pod count show
    as nested stripes. Integer y ticks; the legend gives each deployment's pod count (its range
    when it changed during the run)."""
    styles = ("-", "--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)))
    markers = ("o", "s", "^", "D", "v")
    series = _series(metrics, "kube_deployment_status_replicas_ready")
    for i, (lab, g) in enumerate(series.items()):
        lo, hi = int(g["value"].min()), int(g["value"].max())
        count = f"{hi} pod{'s' * (hi != 1)}" if lo == hi else f"{lo}-{hi} pods"
        ax.step(
            g["time_s"],
            g["value"],
            where="post",
            ls=styles[i % len(styles)],
            lw=1.2 + 1.2 * (len(series) - 1 - i),
            marker=markers[i % len(markers)],
            ms=7,
            markevery=[int(len(g) * (k + (i + 0.5) / len(series)) / 4) for k in range(4)],
            label=f"{readable_label(lab)}: {count}",
        )
    ax.set_title("Pods ready", fontsize=10)
    ax.set_ylabel("pods")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    top = max((g["value"].max() for g in series.values()), default=1)
    ax.set_ylim(-0.2, top + 0.6)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="lower left")


def _window_note(results: Results) -> str:
    """The event-time window a replay run covers and its speedup; ``""`` for other workloads."""
    w = results.scenario.workload
    start = getattr(w, "live_start_hour", None)
    duration = getattr(w, "live_duration_s", None)
    speedup = getattr(w, "speedup", None)
    if getattr(w, "kind", "replay") != "replay" or None in (start, duration, speedup):
        return ""
    day = getattr(w, "live_start_day", None)
    hh, mm = divmod(round(start * 60), 60)
    when = f"day {day} {hh:02d}:{mm:02d}" if day is not None else f"{hh:02d}:{mm:02d}"
    return (
        f"\nreplays {duration / 3600:g} h of event time from {when}, "
        f"{speedup:g}x faster than real time"
    )


def _event_clock(results: Results) -> tuple[float, float] | None:
    """``(start, speedup)``: event time of day (s after midnight) = start + speedup × processing s.

    From the workload's ``live_start_hour`` and ``speedup`` (replay and Poisson workloads alike:
    the live window starts on a midnight plus ``live_start_hour``); ``None`` without them.
    """
    w = results.scenario.workload
    hour, speedup = getattr(w, "live_start_hour", None), getattr(w, "speedup", None)
    if hour is None or not speedup or not math.isfinite(speedup):
        return None
    return float(hour) * 3600.0, float(speedup)


def _clock_text(event_s: float, seconds: bool) -> str:
    day, rest = divmod(round(event_s), 86400)
    hh, rest = divmod(rest, 3600)
    mm, ss = divmod(rest, 60)
    text = f"{hh:02d}:{mm:02d}" + (f":{ss:02d}" if seconds else "")
    return text if day == 0 else f"{text} {'+' if day > 0 else ''}{day}d"


def _event_time_axis(ax: Axes, clock: tuple[float, float], end_s: float) -> Axes:
    """A secondary x axis on top of ``ax`` labelled with the event time of day (HH:MM)."""
    start, speedup = clock
    sec = ax.secondary_xaxis(
        "top", functions=(lambda t: start + speedup * t, lambda e: (e - start) / speedup)
    )
    span = max(end_s, 1e-9) * speedup
    step = next((st for st in _STEPS_S if span / st <= 7), 86400 * math.ceil(span / 86400 / 7))
    sec.xaxis.set_major_locator(MultipleLocator(step))
    sec.xaxis.set_major_formatter(FuncFormatter(lambda e, _pos: _clock_text(e, step < 60)))
    sec.set_xlabel(f"event time of day ({speedup:g} s of event time per s)", fontsize=8)
    sec.tick_params(labelsize=8)
    return sec


def _title(results: Results) -> str:
    """The scenario's name and the run's defined key figures (NaN ones are left out)."""
    s = results.summary_dict()

    def defined(key: str) -> float | None:
        v = s.get(key)
        return float(v) if isinstance(v, int | float) and math.isfinite(v) else None

    parts = [f"{s.get('completed', '?')}/{s.get('generated', '?')} completed"]
    if (n := defined("not_arrived")) is not None and n > 0:
        parts.append(f"{n:.0f} never arrived (run cut short)")
    for key, text in (("latency_p95_s", "p95 latency {:.2f} s"), ("average_precision",
                      "AP {:.3f}"), ("card_precision_at_100", "CP@100 {:.3f}")):
        if (v := defined(key)) is not None:
            parts.append(text.format(v))
    return f"{results.scenario.name}: {', '.join(parts)}{_window_note(results)}"


def plot_dashboard(results: Results, path: str | Path | None = None) -> Figure:
    """Draw the dashboard of ``results``; saved as PNG at ``path`` when given.

    Panels (bottom x axis: processing time, s; top axis: the event time of day it stands for,
    live start + speedup × processing time, HH:MM): arrivals and completions per second;
    end-to-end latency p50/p95/p99 (s) of the transactions completed in each interval;
    consumer lag per topic → group (records); ready pods per deployment (step lines, integer
    ticks); utilisation per deployment; cumulative alerts. The run's last, partial monitoring
    interval is folded into the one before (:func:`settle_last_interval`). A panel with nothing
    to show says why; legends name topics, groups and deployments. The title gives the defined
    key figures (undefined ones, e.g. AP without a model, are left out) and, for a replay
    workload, the event-time window replayed and the speedup.
    """
    m = settle_last_interval(results.metrics, results.scenario.monitoring_interval_s)
    last_stage = getattr(results.scenario, "last_stage", "alert_service")
    fig, axes = plt.subplots(3, 2, figsize=(13, 10), sharex=True)
    ax = axes[0, 0]
    _panel(ax, m, "tinybots_arrivals_per_s", "", "per s", "", "arrivals")
    _panel(ax, m, "tinybots_completed_per_s", "Throughput (arrivals, completions)", "per s",
           "no transaction arrived", "completed")
    _panel(axes[0, 1], m, "tinybots_e2e_latency_seconds", "End-to-end latency percentiles", "s",
           "no transaction completed")
    _panel(axes[1, 0], m, "kafka_consumergroup_lag", "Consumer lag (topic → consumer group)",
           "records", f"no consumer groups in this run\n(the pipeline ends at {last_stage})")
    _pods_panel(axes[1, 1], m)
    _panel(axes[2, 0], m, "tinybots_utilisation", "Utilisation (time-weighted busy fraction)",
           "fraction", "no server was ready")
    if last_stage == "alert_service":
        _panel(axes[2, 1], m, "tinybots_alerts_total", "Alerts (cumulative)", "transactions",
               "no alerts recorded", "alerts raised")
    else:
        axes[2, 1].set_title("Alerts (cumulative)", fontsize=10)
        _note(axes[2, 1], f"no alert-service in this run\n(the pipeline ends at {last_stage})")
    for a in axes[-1]:
        a.set_xlabel("processing time (s)")
    clock = _event_clock(results)
    if clock is not None and len(m):
        for a in axes[0]:
            _event_time_axis(a, clock, float(m["time_s"].max()))
    fig.suptitle(_title(results), fontsize=11)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return fig
