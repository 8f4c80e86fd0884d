"""A one-page dashboard of a run: throughput, latency percentiles, consumer lag per topic,
pods ready, utilisation and alerts over processing time.

Drawn with pyplot; this module never selects a matplotlib backend (the ``tinybots`` command
sets ``MPLBACKEND=Agg`` unless the user chose one), so it works inline in notebooks too."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.results import Results

__all__ = ["plot_dashboard"]


def _series(metrics: pd.DataFrame, name: str) -> dict[str, pd.DataFrame]:
    sel = metrics[metrics["name"] == name]
    return {lab: g for lab, g in sel.groupby("labels", sort=True)}


def _panel(ax, metrics: pd.DataFrame, name: str, title: str, ylabel: str, strip: str = "") -> None:
    for lab, g in _series(metrics, name).items():
        ax.plot(g["time_s"], g["value"], label=lab.replace(strip, "") or name, lw=1.2)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="upper left")


def _quantile_label(lab: str) -> str:
    """``"quantile=0.95"`` -> ``"p95"``; any other label unchanged."""
    q = lab.removeprefix("quantile=")
    try:
        return f"p{float(q) * 100:g}"
    except ValueError:
        return lab


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
            label=f"{lab.replace('deployment=', '')}: {count}",
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


def plot_dashboard(results: Results, path: str | Path | None = None) -> Figure:
    """Draw the dashboard of ``results``; saved as PNG at ``path`` when given.

    Panels (x = processing time, s): arrivals and completions per second; end-to-end latency
    p50/p95/p99 (s) of the transactions completed in each interval; consumer-group lag per
    topic (records); ready pods per deployment (step lines, integer ticks); utilisation per
    deployment; cumulative alerts. For a replay workload the title also gives the event-time
    window replayed and the speedup.
    """
    m = results.metrics
    fig, axes = plt.subplots(3, 2, figsize=(13, 10), sharex=True)
    ax = axes[0, 0]
    _panel(ax, m, "tinybots_arrivals_per_s", "", "per s")
    _panel(ax, m, "tinybots_completed_per_s", "Throughput (arrivals, completions)", "per s")
    for line, lab in zip(ax.lines, ("arrivals", "completed"), strict=False):
        line.set_label(lab)
    ax.legend(fontsize=7, loc="upper left")
    _panel(
        axes[0, 1],
        m,
        "tinybots_e2e_latency_seconds",
        "End-to-end latency percentiles",
        "s",
        strip="quantile=",
    )
    _panel(
        axes[1, 0],
        m,
        "kafka_consumergroup_lag",
        "Consumer lag per topic / group",
        "records",
        strip="topic=",
    )
    for line in axes[0, 1].lines:
        line.set_label(_quantile_label(line.get_label()))
    if axes[0, 1].lines:
        axes[0, 1].legend(fontsize=7, loc="upper left")
    _pods_panel(axes[1, 1], m)
    _panel(
        axes[2, 0],
        m,
        "tinybots_utilisation",
        "Utilisation (time-weighted busy fraction)",
        "fraction",
        strip="deployment=",
    )
    _panel(axes[2, 1], m, "tinybots_alerts_total", "Alerts (cumulative)", "transactions")
    for a in axes[-1]:
        a.set_xlabel("processing time (s)")
    s = results.summary_dict()
    fig.suptitle(
        f"{results.scenario.name}: {s['completed']}/{s['generated']} completed, "
        f"p95 latency {s['latency_p95_s']:.2f} s, AP {s['average_precision']:.3f}, "
        f"CP@100 {s['card_precision_at_100']:.3f}{_window_note(results)}",
        fontsize=11,
    )
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return fig
