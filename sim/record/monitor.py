"""The metrics of a run, sampled every interval as Prometheus would scrape them.

Each sample appends rows ``(time_s, name, labels, value)``; ``labels`` is ``k=v`` pairs joined
by commas. Metric names:

- ``kafka_consumergroup_lag{topic,group}``: end offset − committed, summed over partitions;
- ``tinybots_ingress_queue_depth``: requests waiting at the ingestor (instantaneous);
- ``tinybots_ingress_queue_depth_mean``: time-weighted mean over the last interval;
- ``kube_deployment_status_replicas_ready{deployment}``: ready pods;
- ``kube_deployment_spec_replicas{deployment}``: the replicas wanted (set by its autoscaler);
- ``kube_pod_status_phase{deployment,phase="Pending"}``: its pods waiting for a node;
- ``cluster_autoscaler_nodes_count{pool,state}`` (ready / starting nodes) and
  ``kube_pod_status_phase{pool,phase="Pending"}``, when the cluster has node pools
  (``sim.pods.cluster``);
- ``tinybots_utilisation{deployment}``: time-weighted busy fraction of ready consumers/servers
  over the last interval (0..1);
- ``tinybots_e2e_latency_seconds{quantile}``: arrival→completion latency percentiles (0.5, 0.95,
  0.99) of transactions completed in the last interval (NaN when none);
- ``tinybots_completed_per_s``, ``tinybots_arrivals_per_s``: rates over the last interval;
- ``tinybots_alerts_total``, ``tinybots_shed_total``, ``tinybots_lost_total``: cumulative counts
  of transactions;
- ``tinybots_labels_lost_total``: cumulative count of labels lost in at-most-once crashes of the
  label feed (labels, not transactions);
- ``tinybots_dead_lettered_total``: cumulative count of dead-lettered transactions;
- ``tinybots_dependency_calls_total{service,dependency,outcome}``: cumulative attempts of a
  modelled dependency call (the enricher's feature-store call) by outcome (ok, error,
  timeout, breaker_open, bulkhead_full; ``sim.services.resilient_call``);
- ``tinybots_breaker_state{service,dependency}``: its circuit breaker's state as
  resilience4j's ``State.getOrder()`` (0 CLOSED, 1 OPEN, 2 HALF_OPEN; NaN without a breaker);
- ``tinybots_monitoring_scores_total``, ``tinybots_fraud_score_mean``: scores consumed by the
  monitoring-service (``sim.services.monitoring``) so far, and the mean of those consumed in
  the last interval (NaN when none).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy

from sim.bus import ConsumerGroup
from sim.pods import Deployment, Ingress
from sim.pods.cluster import Cluster
from sim.pods.ingress_schedule import ScheduledIngress
from sim.record.ledger import Ledger, Outcome
from sim.topology import MONITORING

__all__ = ["Monitor", "percentiles_linear"]


def percentiles_linear(ordered: list[float], percents: tuple[float, ...]) -> list[float]:
    """``numpy.percentile(x, percents)`` (method "linear") of finite data already sorted.

    The same float operations as NumPy's implementation, in plain Python (its per-call overhead
    dominates for the few dozen values of one monitoring interval): virtual index
    ``(n - 1) × q / 100``, then ``a + (b - a) × g`` for ``g < 0.5`` else ``b - (b - a) × (1 - g)``.

    >>> percentiles_linear([1.0, 2.0, 3.0, 4.0], (50, 75))
    [2.5, 3.25]
    """
    n = len(ordered)
    if n == 0:
        raise ValueError("percentiles_linear: need at least one value")
    out = []
    for p in percents:
        virtual = (n - 1) * (p / 100)
        if virtual >= n - 1:
            out.append(ordered[-1])
            continue
        prev = int(virtual // 1)
        g = virtual - prev
        a, b = ordered[prev], ordered[prev + 1]
        d = b - a
        out.append(b - d * (1 - g) if g >= 0.5 else a + d * g)
    return out


class Monitor:
    """Samples the system's metrics (see module docstring).

    Parameters
    ----------
    env : simpy.Environment
    ledger : Ledger
    groups : list of ConsumerGroup
    deployments : dict of name → Deployment, Ingress or ScheduledIngress
    ingress : Ingress or ScheduledIngress
    cluster : sim.pods.cluster.Cluster, optional
        Its node and Pending-pod counts are sampled when it has node pools.
    callers : sequence of sim.services.resilient_call.ResilientCaller, optional
        The modelled dependency calls (their outcome counts and breaker state are sampled).
    """

    def __init__(
        self,
        env: simpy.Environment,
        ledger: Ledger,
        groups: list[ConsumerGroup],
        deployments: dict[str, Deployment | Ingress | ScheduledIngress],
        ingress: Ingress | ScheduledIngress,
        cluster: Cluster | None = None,
        callers: Sequence[Any] = (),
    ) -> None:
        self.env = env
        self.callers = list(callers)
        self.ledger = ledger
        self.groups = groups
        self.deployments = deployments
        self.ingress = ingress
        self.cluster = cluster if cluster is not None and not cluster.unlimited else None
        self.rows: list[tuple[float, str, str, float]] = []
        self._last_t = env.now
        self._last_busy = {k: 0.0 for k in deployments}
        self._last_ready = {k: 0.0 for k in deployments}
        self._last_depth = 0.0
        self._done_chunks = 0
        self._last_arrived = 0
        self._last_scores = (0, 0.0)
        # label strings, built once
        self._lag_labels = [f"topic={g.topic.name},group={g.name}" for g in groups]
        self._dep_labels = {name: f"deployment={name}" for name in deployments}
        self._pending_labels = {name: f"deployment={name},phase=Pending" for name in deployments}

    def run(self, interval_s: float) -> Generator[simpy.Event, Any, Any]:
        """The sampling process."""
        while True:
            yield self.env.timeout(interval_s)
            self.sample()

    def sample(self) -> None:
        """Append one sample of every metric at the current time."""
        now = self.env.now
        dt = now - self._last_t
        if dt <= 0:
            return
        self.ingress.catch_up()
        add = self.rows.append
        for g, lab in zip(self.groups, self._lag_labels, strict=True):
            add((now, "kafka_consumergroup_lag", lab, float(g.lag())))
        add((now, "tinybots_ingress_queue_depth", "", float(self.ingress.depth.level)))
        depth = self.ingress.depth.integral()
        add((now, "tinybots_ingress_queue_depth_mean", "", (depth - self._last_depth) / dt))
        self._last_depth = depth
        for name, dep in self.deployments.items():
            lab = self._dep_labels[name]
            add((now, "kube_deployment_status_replicas_ready", lab, float(dep.pods_ready())))
            add((now, "kube_deployment_spec_replicas", lab, float(len(dep.pods))))
            add((now, "kube_pod_status_phase", self._pending_labels[name],
                 float(dep.pods_pending())))
            busy, ready = dep.busy.integral(), dep.ready_consumers.integral()
            d_ready = ready - self._last_ready[name]
            util = (busy - self._last_busy[name]) / d_ready if d_ready > 0 else float("nan")
            add((now, "tinybots_utilisation", lab, util))
            self._last_busy[name], self._last_ready[name] = busy, ready
        if self.cluster is not None:
            for name, labels, value in self.cluster.sample():
                add((now, name, labels, value))
        self._latency(now, dt, add)
        led = self.ledger
        add((now, "tinybots_arrivals_per_s", "", (led.arrived - self._last_arrived) / dt))
        self._last_arrived = led.arrived
        add((now, "tinybots_alerts_total", "", float(led.n_alerted)))
        add((now, "tinybots_shed_total", "", float(led.counts[Outcome.SHED])))
        add((now, "tinybots_lost_total", "", float(led.counts[Outcome.LOST])))
        add((now, "tinybots_dead_lettered_total", "", float(led.counts[Outcome.DEAD_LETTERED])))
        add((now, "tinybots_labels_lost_total", "", float(led.labels_lost)))
        for c in self.callers:
            lab = f"service={c.service},dependency={c.dependency}"
            for outcome, count in c.counts.items():
                add((now, "tinybots_dependency_calls_total", f"{lab},outcome={outcome}",
                     float(count)))
            add((now, "tinybots_breaker_state", lab, c.breaker_state()))
        watcher = self.deployments.get(MONITORING.deployment)
        if watcher is not None:
            h = watcher.handler  # the monitoring-service (sim.services.monitoring)
            add((now, "tinybots_monitoring_scores_total", "", float(h.seen)))
            n, total = h.seen - self._last_scores[0], h.score_sum - self._last_scores[1]
            add((now, "tinybots_fraud_score_mean", "", total / n if n else float("nan")))
            self._last_scores = (h.seen, h.score_sum)
        self._last_t = now

    def _latency(self, now: float, dt: float, add: Any) -> None:
        led = self.ledger
        chunks = led.completed_order[self._done_chunks :]
        self._done_chunks = len(led.completed_order)
        rows = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
        add((now, "tinybots_completed_per_s", "", len(rows) / dt))
        if len(rows):
            done = led.end[led.last_stage, rows]
            lat = done - led.arrival_s[rows]
            qs = percentiles_linear(np.sort(lat).tolist(), (50, 95, 99))
        else:
            qs = [float("nan")] * 3
        for q, v in zip(("0.5", "0.95", "0.99"), qs, strict=False):
            add((now, "tinybots_e2e_latency_seconds", f"quantile={q}", float(v)))
