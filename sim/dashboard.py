"""A one-page dashboard of a run: throughput, latency percentiles, consumer lag per topic,
pods ready, utilisation and alerts over processing time.

Drawn with pyplot; this module never selects a matplotlib backend (the ``tinybots`` command
sets ``MPLBACKEND=Agg`` unless the user chose one), so it works inline in notebooks too."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

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


def plot_dashboard(results: Results, path: str | Path | None = None) -> Figure:
    """Draw the dashboard of ``results``; saved as PNG at ``path`` when given.

    Panels (x = processing time, s): arrivals and completions per second; end-to-end latency
    p50/p95/p99 (s) of the transactions completed in each interval; consumer-group lag per
    topic (records); ready pods per deployment; utilisation per deployment; cumulative alerts.
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
    _panel(
        axes[1, 1],
        m,
        "kube_deployment_status_replicas_ready",
        "Pods ready",
        "pods",
        strip="deployment=",
    )
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
        f"CP@100 {s['card_precision_at_100']:.3f}",
        fontsize=11,
    )
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return fig
