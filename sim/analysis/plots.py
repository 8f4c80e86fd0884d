"""Teaching views of a run: stage capacities and ρ, one transaction's trace, what-if comparisons.

Helpers for the quickstart notebook (``notebooks/00_quickstart.ipynb``) built on
:class:`sim.record.results.Results`:

- :func:`stage_capacity` and :func:`utilisation_table`: the offered load ρ = λ / (c μ) of each
  stage from the scenario's service-time model and the measured arrival rate, beside the
  measured busy fraction;
- :func:`example_traces`, :func:`trace_spans`, :func:`trace_figure`: follow one transaction
  through the services (queue wait vs service per hop) as a timeline;
- :func:`same_transaction_stream`, :func:`compare`, :func:`compare_figure`: what-if runs side by
  side (common random numbers: the same transaction stream);
- :func:`check_choice` (from :mod:`tinybots.teaching`, re-exported): a ✓/✗ check of a
  multiple-choice prediction against a measured value.

Figures are drawn with pyplot and returned (the caller shows or closes them); this module never
selects a matplotlib backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.analysis.bus import active_consumers
from sim.analysis.dashboard import settle_last_interval
from sim.record.results import Results
from sim.scenario import Scenario
from sim.topology import PIPELINE, STAGES, TOPICS
from tinybots.teaching import check_choice  # re-exported for the notebooks

__all__ = [
    "COMPARED",
    "WAITED_IN",
    "check_choice",
    "compare",
    "compare_figure",
    "example_traces",
    "same_transaction_stream",
    "stage_capacity",
    "trace_figure",
    "trace_spans",
    "utilisation_table",
]

STAGE_NAMES = tuple(STAGES.values())
CONSUMED = {row.deployment: TOPICS[row.topic_in] for row in PIPELINE if row.topic_in is not None}
"""Scenario topic each consumer deployment reads (``scenario.topics.<name>``)."""
WAITED_IN = {
    row.deployment: f"topic {row.topic_in}" if row.topic_in else "ingress queue" for row in PIPELINE
}
"""Where a record waits before each stage serves it."""
COMPARED = (
    "generated",
    "completed",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "max_lag",
    "throughput_per_s",
    "average_precision",
    "alerts",
)
"""Summary keys shown by :func:`compare` by default."""


def _stages(scenario: Scenario) -> list[str]:
    last = STAGE_NAMES.index(scenario.last_stage)
    return list(STAGE_NAMES[: last + 1])


def stage_capacity(scenario: Scenario) -> pd.DataFrame:
    """Service capacity of each stage of ``scenario`` at full batches.

    A stage has ``c`` servers: ``replicas × concurrency`` (for a consumer deployment on Kafka at
    most the partitions of the topic it reads, since a consumer group uses at most one consumer
    per partition; SQS and RabbitMQ have no such cap: ``sim.analysis.bus.active_consumers``).
    A server serves a batch of ``b`` records (``max_poll_records``; 1 at the ingestor) in
    ``fixed_s + per_record_s × b`` seconds on average (the random factor has mean 1), so the
    stage's capacity is ``c μ = c b / (fixed_s + per_record_s b)`` records per second.
    Smaller batches (a lightly loaded stage) give a lower capacity: the fixed cost per poll is
    shared by fewer records.

    Returns
    -------
    pandas.DataFrame
        Index ``stage`` (the scenario's stages in pipeline order); columns ``servers`` (c),
        ``batch_records`` (b), ``batch_service_s`` (mean service time of a full batch, s) and
        ``capacity_per_s`` (c μ, records per s).

    Examples
    --------
    >>> cap = stage_capacity(Scenario())
    >>> float(cap.loc["transaction_ingestor", "capacity_per_s"])  # 2 pods x 1 record / 0.01 s
    200.0
    """
    rows = []
    for stage in _stages(scenario):
        spec = getattr(scenario.deployments, stage)
        servers = spec.replicas * spec.concurrency
        batch = 1
        if stage in CONSUMED:
            servers = active_consumers(scenario, stage)  # Kafka: at most one per partition
            batch = spec.max_poll_records
        batch_s = spec.service.fixed_s + spec.service.per_record_s * batch
        cap = servers * batch / batch_s if batch_s > 0 else math.inf
        rows.append((stage, servers, batch, batch_s, cap))
    cols = ["stage", "servers", "batch_records", "batch_service_s", "capacity_per_s"]
    return pd.DataFrame(rows, columns=cols).set_index("stage")


def _arrival_rates(results: Results, window_s: float) -> tuple[float, float]:
    """Mean and peak (busiest ``window_s`` bin) arrival rate, per s."""
    arr = results.transactions["arrival_s"].to_numpy()
    if len(arr) == 0:
        return 0.0, 0.0
    end = float(arr.max())
    mean = len(arr) / end if end > 0 else math.nan
    edges = np.arange(0.0, end + window_s, window_s)
    counts, _ = np.histogram(arr, bins=edges)
    return mean, float(counts.max()) / window_s


def _busy_fraction(metrics: pd.DataFrame, stage: str) -> float:
    """Time-weighted mean of ``tinybots_utilisation{deployment=stage}`` over the run."""
    sel = metrics[
        (metrics["name"] == "tinybots_utilisation") & (metrics["labels"] == f"deployment={stage}")
    ].sort_values("time_s")
    if sel.empty:
        return math.nan
    dt = np.diff(sel["time_s"].to_numpy(), prepend=0.0)  # a sample covers its past interval
    v = sel["value"].to_numpy()
    ok = np.isfinite(v)  # NaN while no server of the stage is ready
    return float(np.sum(v[ok] * dt[ok]) / np.sum(dt[ok])) if ok.any() else math.nan


def utilisation_table(results: Results, window_s: float = 60.0) -> pd.DataFrame:
    """Offered load ρ = λ / (c μ) per stage, from the measured arrival rate, and measured busy.

    λ is measured on ``results.transactions.arrival_s``: the mean rate (arrivals / time of the
    last arrival) and the peak rate (most arrivals in one ``window_s`` bin / ``window_s``). Every
    transaction passes every stage, so each stage is offered the same λ (Jackson tandem view).
    ρ >= 1 means the stage cannot keep up: its queue (the consumer lag) grows while it lasts.

    Parameters
    ----------
    results : Results
        A finished run.
    window_s : float
        Bin width for the peak rate, s (> 0).

    Returns
    -------
    pandas.DataFrame
        :func:`stage_capacity` columns plus ``lambda_mean_per_s``, ``lambda_peak_per_s``,
        ``rho_mean``, ``rho_peak`` and ``busy_measured`` (time-weighted busy fraction of the
        stage's ready servers over the run, from the ``tinybots_utilisation`` metric).
    """
    if not window_s > 0:
        raise ValueError(f"window_s must be > 0, got {window_s!r}")
    table = stage_capacity(results.scenario)
    mean, peak = _arrival_rates(results, window_s)
    table["lambda_mean_per_s"] = mean
    table["lambda_peak_per_s"] = peak
    table["rho_mean"] = mean / table["capacity_per_s"]
    table["rho_peak"] = peak / table["capacity_per_s"]
    table["busy_measured"] = [_busy_fraction(results.metrics, s) for s in table.index]
    return table


def example_traces(results: Results) -> dict[str, int]:
    """Two transactions worth following: the longest total wait, and an alerted fraud.

    Returns
    -------
    dict
        ``"longest_wait"``: trace id (= ``transactions.row``) of the completed transaction with
        the largest total queue wait; ``"alerted_fraud"``: the alerted fraud (``label == 1``)
        with the highest score. A key is absent when no transaction qualifies.
    """
    out: dict[str, int] = {}
    sp = results.spans
    if len(sp):
        waits = sp.groupby("trace_id", sort=False)["queue_wait_s"].sum()
        out["longest_wait"] = int(waits.idxmax())
    tx = results.transactions
    hits = tx[tx["alerted"] & (tx["label"] == 1)]
    if len(hits):
        out["alerted_fraud"] = int(hits.loc[hits["score"].idxmax(), "row"])
    return out


def trace_spans(results: Results, trace_id: int) -> pd.DataFrame:
    """The spans of one transaction, in pipeline order, with where it waited and its batch.

    Returns
    -------
    pandas.DataFrame
        The ``results.spans`` rows of ``trace_id`` (see :mod:`sim.record.results`) plus
        ``waited_in`` (queue or topic before the hop), ``enqueued_s`` (= ``start_s −
        queue_wait_s``, s) and ``batch_records`` (records served in the same poll: same
        service, pod and start time).

    Raises
    ------
    KeyError
        If ``trace_id`` has no spans.
    """
    sp = results.spans
    mine = sp[sp["trace_id"] == trace_id].copy()
    if mine.empty:
        raise KeyError(f"trace_id {trace_id!r}: no spans (trace ids are transactions.row)")
    mine["waited_in"] = mine["service"].astype(str).map(WAITED_IN)
    mine["enqueued_s"] = mine["start_s"] - mine["queue_wait_s"]
    mine["batch_records"] = [
        int(((sp["service"] == s) & (sp["pod"] == p) & (sp["start_s"] == t)).sum())
        for s, p, t in zip(mine["service"], mine["pod"], mine["start_s"], strict=True)
    ]
    return mine.reset_index(drop=True)


def _draw_trace(ax: plt.Axes, hops: pd.DataFrame, title: str) -> None:
    names = list(hops["service"].astype(str))
    y = np.arange(len(names))[::-1]  # first hop on top
    ax.barh(y, hops["queue_wait_s"], left=hops["enqueued_s"], height=0.5, color="#f4b183",
            hatch="//", edgecolor="#c55a11", label="waiting (queue / topic)")
    ax.barh(y, hops["service_s"], left=hops["start_s"], height=0.5, color="#2e75b6",
            label="being served (one poll)")
    for yi, (_, h) in zip(y, hops.iterrows(), strict=True):
        records = f"{h.batch_records} record{'' if h.batch_records == 1 else 's'}"
        ax.annotate(f"wait {h.queue_wait_s:.2f} s in {h.waited_in}\nserve {h.service_s:.2f} s "
                    f"({records}, {h.pod})", (h.end_s, yi),
                    xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    ends = hops["end_s"].to_numpy()
    for i in range(len(names) - 1):  # the event handed to the next service at the end of a hop
        ax.annotate("", (ends[i], y[i + 1] + 0.25), (ends[i], y[i] - 0.25),
                    arrowprops={"arrowstyle": "->", "color": "gray"})
    ax.set_yticks(y, names)
    span = hops["end_s"].max() - hops["enqueued_s"].min()
    ax.set_xlim(hops["enqueued_s"].min() - 0.02 * span, hops["end_s"].max() + 0.75 * span)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("processing time (s since the start of the run)")
    ax.grid(axis="x", alpha=0.3)


def trace_figure(
    results: Results, trace_ids: Sequence[int], titles: Sequence[str] | None = None
) -> Figure:
    """Timelines of transactions through the services: queue wait and service per hop.

    One panel per trace (top to bottom in ``trace_ids`` order); in each, one row per service
    (pipeline order, first on top), a hatched bar for the time the record waited before the
    service took it and a solid bar for the poll that served it, annotated with the durations,
    the batch size and the pod; gray arrows show the event handed to the next service.

    Parameters
    ----------
    results : Results
    trace_ids : sequence of int
        Trace ids (= ``transactions.row``), at least one.
    titles : sequence of str, optional
        One title per panel (default: "trace <id>, latency <s>").

    Raises
    ------
    KeyError
        If a trace id has no spans.
    ValueError
        If ``trace_ids`` is empty or ``titles`` has another length.
    """
    if len(trace_ids) == 0:
        raise ValueError("trace_ids: give at least one trace id")
    if titles is not None and len(titles) != len(trace_ids):
        raise ValueError(f"titles: expected {len(trace_ids)} titles, got {len(titles)}")
    fig, axes = plt.subplots(len(trace_ids), 1, figsize=(11, 2.6 * len(trace_ids)), squeeze=False)
    for i, (ax, tid) in enumerate(zip(axes[:, 0], trace_ids, strict=True)):
        hops = trace_spans(results, tid)
        total = hops["end_s"].max() - hops["enqueued_s"].min()
        title = titles[i] if titles is not None else f"trace {tid}"
        _draw_trace(ax, hops, f"{title}: {total:.2f} s from arrival to the last hop")
        if i == 0:
            ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def same_transaction_stream(a: Results, b: Results) -> bool:
    """True when two runs saw the same transactions at the same arrival times.

    Compares ``tx_id``, ``customer_id``, ``terminal_id``, ``amount``, ``event_time``, ``label``
    and ``arrival_s`` row by row (common random numbers: docs/architecture.md, "Randomness").
    """
    cols = ["tx_id", "customer_id", "terminal_id", "amount", "event_time", "label", "arrival_s"]
    ta, tb = a.transactions[cols], b.transactions[cols]
    return len(ta) == len(tb) and bool(ta.reset_index(drop=True).equals(tb.reset_index(drop=True)))


def compare(runs: Mapping[str, Results], keys: Sequence[str] = COMPARED) -> pd.DataFrame:
    """Summary KPIs of several runs side by side.

    Returns
    -------
    pandas.DataFrame
        Index = ``keys`` (:data:`sim.record.results.SUMMARY_KEYS`), one column per run label; with
        exactly two runs, a ``change`` column (second − first).

    Raises
    ------
    KeyError
        If a key is not a summary key.
    """
    table = pd.DataFrame(
        {label: [r.summary_dict()[k] for k in keys] for label, r in runs.items()},
        index=pd.Index(list(keys), name="metric"),
    )
    if len(runs) == 2:
        table["change"] = table.iloc[:, 1] - table.iloc[:, 0]
    return table


def _series(metrics: pd.DataFrame, name: str, labels: str) -> pd.DataFrame:
    return metrics[(metrics["name"] == name) & (metrics["labels"] == labels)]


def compare_figure(
    runs: Mapping[str, Results], topic: str = "transactions", group: str = PIPELINE[1].service
) -> Figure:
    """Consumer lag of one topic/group and the p95 end-to-end latency over time, per run.

    Left: ``kafka_consumergroup_lag{topic, group}`` (records) against processing time (s);
    right: ``tinybots_e2e_latency_seconds{quantile=0.95}`` of the transactions completed in
    each monitoring interval (s; the run's last, partial interval as in
    :func:`sim.analysis.dashboard.settle_last_interval`). One line per run label.
    """
    fig, (ax_lag, ax_lat) = plt.subplots(1, 2, figsize=(12, 3.8))
    for label, r in runs.items():
        m = settle_last_interval(r.metrics, r.scenario.monitoring_interval_s)
        lag = _series(m, "kafka_consumergroup_lag", f"topic={topic},group={group}")
        lat = _series(m, "tinybots_e2e_latency_seconds", "quantile=0.95")
        ax_lag.plot(lag["time_s"], lag["value"], label=label, lw=1.3)
        ax_lat.plot(lat["time_s"], lat["value"], label=label, lw=1.3)
    ax_lag.set(xlabel="processing time (s)", ylabel="lag (records)",
               title=f"Consumer lag: topic {topic}, group {group}")
    ax_lat.set(xlabel="processing time (s)", ylabel="p95 latency (s)",
               title="End-to-end p95 latency per monitoring interval")
    for ax in (ax_lag, ax_lat):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
