"""The bus in numbers, for notebook 02: Little's law on a stage, consumers a group can use,
paired what-ifs over seeds.

- :func:`littles_law_check` measures a stage's L (records in it) and W (time in it) with two
  different instruments — the monitor's sampled consumer lag for L, the spans for λ and W —
  so L = λW (J. D. C. Little, "A proof for the queuing formula L = λW", *Operations Research*
  9(3), 1961) is a check of the run, not an identity of one data source.
- :func:`active_consumers`: a Kafka consumer group never uses more consumers than its topic has
  partitions (extra members get no partition and sit idle: Kafka's assignors); an SQS queue's
  competing consumers, or a RabbitMQ queue's, have no such cap.
- :func:`paired_runs` and :func:`paired_difference`: the same seeds through two arms of a
  what-if (common random numbers), and a Student-t confidence interval of the paired
  difference, for the direction checks of a notebook.
- :func:`group_pauses` and :func:`lag_pauses_figure`: a group's rebalance pauses (the
  ``rebalance`` incidents' ``duration_s``) shaded behind its lag, one panel per run;
  :func:`run_with_pauses` runs a scenario and also returns the records its group held on
  paused partitions (``sim.bus.rebalance``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.analysis.dashboard_bus import paused_rebalances
from sim.analysis.stats import mean_ci
from sim.record.results import Results
from sim.scenario import Scenario, with_changes
from sim.topology import PIPELINE, TOPICS, row_of
from tinybots.errors import InputError

__all__ = [
    "LittleCheck",
    "active_consumers",
    "group_pauses",
    "lag_pauses_figure",
    "littles_law_check",
    "littles_law_frames",
    "paired_difference",
    "paired_runs",
    "run_with_pauses",
    "time_average",
]

LAG = "kafka_consumergroup_lag"
_PAUSED = re.compile(r"(\d+) of \d+ partitions paused")


class LittleCheck(NamedTuple):
    """Little's law on one stage over ``[0, window_s]``.

    ``records``: records the stage served; ``lambda_per_s`` = records / window; ``w_s``: mean
    time in the stage (enqueued in its topic → served), from the spans; ``l_law`` = λW;
    ``l_measured``: time-average consumer lag of the stage's group (records produced to its
    topic and not yet committed), from the sampled metrics.
    """

    stage: str
    records: int
    window_s: float
    lambda_per_s: float
    w_s: float
    l_law: float
    l_measured: float

    @property
    def relative_gap(self) -> float:
        """``(l_measured − l_law) / l_law`` (NaN when λW is 0)."""
        return (self.l_measured - self.l_law) / self.l_law if self.l_law > 0 else float("nan")


def time_average(times_s: Iterable[float], values: Iterable[float], window_s: float) -> float:
    """Time-average over ``[0, window_s]`` of a level sampled at ``times_s``.

    Each sample stands for the interval since the previous one (the first for ``[0, t_0]``),
    as a Prometheus gauge scraped at the end of each interval; the interval that ``window_s``
    falls in is cut there and later samples are left out.

    >>> time_average([2.0, 4.0, 5.0], [1.0, 3.0, 5.0], 5.0)
    2.6
    """
    t = np.asarray(list(times_s), dtype=float)
    v = np.asarray(list(values), dtype=float)
    if not window_s > 0:
        raise InputError(f"window_s must be > 0, got {window_s!r}")
    if t.shape != v.shape or t.size == 0:
        raise InputError(f"times_s and values must be non-empty and of one length, got "
                         f"{t.size} and {v.size}")
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    n = int(np.searchsorted(t, window_s, side="left")) + 1  # up to the first at/after the end
    t, v = t[:n], v[:n]
    edges = np.concatenate(([0.0], t))
    edges[-1] = window_s
    widths = np.diff(edges)
    return float((widths * v).sum() / window_s)


def littles_law_frames(spans: pd.DataFrame, metrics: pd.DataFrame, *, service: str,
                       labels: str, window_s: float) -> LittleCheck:
    """:class:`LittleCheck` of the stage ``service`` from a run's ``spans`` and ``metrics``.

    Parameters
    ----------
    spans : pandas.DataFrame
        ``service``, ``queue_wait_s``, ``start_s``, ``end_s`` (``sim.record.results``).
    metrics : pandas.DataFrame
        Long format ``time_s``, ``name``, ``labels``, ``value``; the lag series is ``name ==
        "kafka_consumergroup_lag"`` with ``labels``.
    service : str
        The stage's deployment key as in ``spans["service"]``, e.g. ``"feature_enricher"``.
    labels : str
        The lag series' labels, e.g. ``"topic=transactions,group=feature-enricher"``.
    window_s : float
        The observation window ``[0, window_s]`` (s), e.g. the run's ``sim_time_s``.

    Raises
    ------
    InputError
        No span of ``service``, no lag series ``labels``, or ``window_s`` <= 0.
    """
    hops = spans[spans["service"].astype(str) == service]
    if hops.empty:
        raise InputError(f"service: no span of {service!r} in the run")
    lag = metrics[(metrics["name"] == LAG) & (metrics["labels"] == labels)]
    if lag.empty:
        raise InputError(f"labels: no {LAG} series {labels!r} in the metrics")
    enqueued = hops["start_s"] - hops["queue_wait_s"]
    inside = (hops["end_s"] - enqueued).to_numpy(dtype=float)
    lam = len(hops) / window_s
    w = float(inside.mean())
    l_measured = time_average(lag["time_s"], lag["value"], window_s)
    return LittleCheck(service, len(hops), float(window_s), lam, w, lam * w, l_measured)


def littles_law_check(results: Results, stage: str = PIPELINE[1].deployment) -> LittleCheck:
    """Little's law on a consumer stage of ``results`` (default: the feature-enricher).

    λ = the stage's served records / ``sim_time_s``; W = their mean time from being produced
    to the stage's topic to the end of the poll that served them (spans); L = the
    time-average lag of the stage's group on that topic (metrics). The two agree up to the
    monitor's sampling (every ``monitoring_interval_s``) and the commit after a poll.

    Raises
    ------
    InputError
        ``stage`` is not a consumer stage of the pipeline, or it served nothing.
    """
    consumers = [row.deployment for row in PIPELINE if row.topic_in is not None]
    if stage not in consumers:
        raise InputError(f"stage: must be one of {', '.join(consumers)}, got {stage!r}")
    row = row_of(stage)
    labels = f"topic={row.topic_in},group={row.service}"
    window = float(results.summary_dict()["sim_time_s"])
    return littles_law_frames(results.spans, results.metrics, service=stage, labels=labels,
                              window_s=window)


def active_consumers(scenario: Scenario, deployment: str = PIPELINE[1].deployment) -> int:
    """Consumers of ``deployment`` that can hold work at once on the scenario's bus.

    Kafka: ``min(replicas × concurrency, partitions of its topic)`` (a group never uses more
    consumers than partitions); SQS and RabbitMQ: ``replicas × concurrency`` (competing
    consumers of one queue, no cap).

    >>> from sim.scenario import Scenario
    >>> active_consumers(with_changes(Scenario(), "deployments.feature_enricher.replicas", 9))
    6
    """
    try:
        row = row_of(deployment)
    except KeyError:
        row = None
    if row is None or row.topic_in is None:
        raise InputError(f"deployment: {deployment!r} consumes no topic")
    spec = getattr(scenario.deployments, deployment)
    members = spec.replicas * spec.concurrency
    if scenario.bus.kind != "kafka":
        return members
    key = TOPICS[row.topic_in]
    return min(members, getattr(scenario.topics, key).partitions)


def paired_runs(a: Scenario, b: Scenario, seeds: Iterable[int],
                measure: Callable[[Results], float],
                run: Callable[[Scenario], Results] | None = None) -> pd.DataFrame:
    """Both arms of a what-if on each seed (common random numbers) and ``measure`` of each.

    Returns
    -------
    pandas.DataFrame
        Index ``seed``; columns ``a``, ``b`` (the measure of each arm) and ``difference``
        (b − a).
    """
    if run is None:
        from sim import run as sim_run

        def run(sc: Scenario) -> Results:
            return sim_run(sc, progress=False)

    rows = []
    for s in seeds:
        va = float(measure(run(with_changes(a, "seed", s))))
        vb = float(measure(run(with_changes(b, "seed", s))))
        rows.append({"seed": s, "a": va, "b": vb, "difference": vb - va})
    if not rows:
        raise InputError("seeds: give at least one seed")
    return pd.DataFrame(rows).set_index("seed")


def paired_difference(runs: pd.DataFrame, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``runs["difference"]`` (:func:`paired_runs`) and its Student-t interval.

    Raises
    ------
    InputError
        Fewer than two seeds (see :func:`sim.analysis.stats.mean_ci`).
    """
    return mean_ci(runs["difference"], confidence)


def group_pauses(incidents: pd.DataFrame, group: str) -> pd.DataFrame:
    """The rebalance pauses of consumer group ``group``: ``start_s``, ``end_s``, ``pause_s``,
    ``partitions`` (paused, from ``"<k> of <n> partitions paused"`` in the detail; NaN when
    the detail does not say) and ``partition_s`` (= ``partitions × pause_s``).

    One row per ``rebalance`` incident of the group with a known pause > 0
    (:func:`sim.analysis.dashboard_bus.paused_rebalances`);
    pauses that overlap (two joins at once) are counted per incident, so ``partition_s`` can
    exceed the group's own count (:func:`run_with_pauses`).
    Kafka's eager protocol pauses every partition of the group; the cooperative one (KIP-429)
    only the partitions that change owner.

    >>> inc = pd.DataFrame({"time_s": [0.0, 9.0, 20.0], "kind": ["rebalance", "pod_crash",
    ...     "rebalance"], "target": ["g", "g", "g"], "duration_s": [2.0, float("nan"), 0.0],
    ...     "detail": ["generation 1, 3 of 6 partitions paused 2 s", "", ""]})
    >>> group_pauses(inc, "g").to_numpy().tolist()
    [[0.0, 2.0, 2.0, 3.0, 6.0]]
    """
    reb = paused_rebalances(incidents)
    reb = reb[reb["target"] == group]
    pause = reb["pause_s"].to_numpy(dtype=float)
    detail = reb["detail"].astype(str)
    paused = detail.str.extract(_PAUSED, expand=False).astype(float).to_numpy()
    start = reb["time_s"].to_numpy(dtype=float)
    return pd.DataFrame({"start_s": start, "end_s": start + pause, "pause_s": pause,
                         "partitions": paused, "partition_s": paused * pause})


def lag_pauses_figure(runs: Mapping[str, Results], stage: str = PIPELINE[1].deployment
                      ) -> Figure:
    """One panel per run: the lag of ``stage``'s group on its topic (records) against
    processing time (s), its rebalance pauses shaded (the darker, the larger the share of the
    topic's partitions a pause stopped) and crashes of its pods marked (dashed)."""
    row = row_of(stage)
    labels = f"topic={row.topic_in},group={row.service}"
    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 3.4), sharey=True,
                             squeeze=False)
    for ax, (label, r) in zip(axes[0], runs.items(), strict=True):
        m = r.metrics[(r.metrics["name"] == LAG) & (r.metrics["labels"] == labels)]
        ax.plot(m["time_s"], m["value"], lw=1.3, color="tab:blue", label="lag")
        pauses = group_pauses(r.incidents, row.service)
        n = getattr(r.scenario.topics, TOPICS[str(row.topic_in)]).partitions
        share = (pauses["partitions"] / n).fillna(1.0).clip(0.0, 1.0)
        for start, end, part in zip(pauses["start_s"], pauses["end_s"], share, strict=True):
            ax.axvspan(start, end, color="tab:orange", alpha=0.08 + 0.4 * part, lw=0)
        crashes = r.incidents[(r.incidents["kind"] == "pod_crash")
                              & r.incidents["target"].astype(str).str.startswith(stage)]
        for i, t in enumerate(crashes["time_s"]):
            ax.axvline(t, color="tab:red", ls="--", lw=1, label="pod crash" if i == 0 else None)
        mean_share = f", {share.mean():.0%} of the partitions on average" if len(share) else ""
        ax.set(title=f"{label}: {len(pauses)} pauses{mean_share}",
               xlabel="processing time (s)")
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    axes[0][0].set_ylabel(f"lag of {row.service} (records)")
    fig.tight_layout()
    return fig


class PausedRun(NamedTuple):
    """A run and what the rebalance pauses of one consumer group held back in it."""

    results: Results
    paused_records: int
    paused_partition_s: float


def run_with_pauses(scenario: Scenario, deployment: str = PIPELINE[1].deployment) -> PausedRun:
    """Build and run ``scenario``; with the results, the records the consumer group of
    ``deployment`` held on paused partitions (waiting there, or arriving, during a rebalance
    pause) and the partition-seconds of pause (``sim.bus.group.ConsumerGroup``'s counters).

    Raises
    ------
    InputError
        ``deployment`` has no consumer group in the run (e.g. ``last_stage`` before it).
    """
    from sim.system import build, run

    system = build(scenario)
    if deployment not in system.groups:
        raise InputError(f"deployment: {deployment!r} has no consumer group in this run; "
                         f"groups: {', '.join(system.groups)}")
    results = run(system, progress=False)
    group = system.groups[deployment]
    return PausedRun(results, int(group.paused_records), float(group.paused_partition_s))
