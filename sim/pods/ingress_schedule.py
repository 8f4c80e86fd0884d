"""The transaction-ingestor as a precomputed FCFS schedule: no SimPy event per request.

When nothing downstream can hold the ingestor back (its output topic is unbounded, or it is the
pipeline's last stage), every request's fate depends only on the arrival times and the
ingestor's own service-time stream. The whole schedule (start, end and server of each accepted
request, and which requests are shed) is then computed before the run by the Kiefer–Wolfowitz
recurrence for the FCFS c-server queue: keep the c servers' next free times in a heap; a request
arriving at ``a`` starts at ``max(a, earliest free time)`` on that server, or is shed when every
server is busy and ``queue_limit`` requests already wait (J. Kiefer and J. Wolfowitz, "On the
theory of queues with many servers", Trans. AMS 78, 1955; S. Asmussen, *Applied Probability and
Queues*, 2nd ed., 2003, §XII.2).

It is the same queue as the event-driven :class:`sim.pods.Ingress` (FCFS, the longest-idle
server takes an arriving request, one service draw per accepted request in arrival order), so on
the same stream both give identical schedules (a test checks it). During the run the schedule is
*played*: valid requests are produced to ``transactions`` by a :class:`sim.bus.ScheduledFeed`
(each record appears on its key's partition at its service end, in end order, as Kafka assigns
offsets), and :meth:`ScheduledIngress.catch_up` gives the ledger what is due by ``env.now``
(arrivals, sheds at arrival, dead letters and, when the ingestor is the last stage, completions
at service end). The bus calls it before any read of the topic and asks
:meth:`ScheduledIngress.next_due` when a consumer waits, so that one timer wakes the consumer
exactly when its records appear. The schedule is computed when the ingress starts (its cost is
part of the run, not of building the system); ingest start / end / server are then written to
the ledger at once, and :meth:`ScheduledIngress.finalize` clears those of requests still in the
ingress when the run stops.

Time-weighted queue depth and busy servers are exact integrals of the schedule (prefix sums),
not samples.

Mid-run reads: ``depth``, ``busy``, ``ready_consumers`` and ``pods_ready()`` are current
whenever read; the ledger's ``arrived`` and the outcomes decided at the ingress (shed,
dead-lettered, completed at the last stage) are current only after :meth:`ScheduledIngress.catch_up`
(any read of ``transactions`` through the bus calls it; so does the monitor); the ledger's
``start_ingest`` / ``end_ingest`` / ``ingest_server`` hold the whole schedule from the start,
the future included, until :meth:`ScheduledIngress.finalize` clears what is after the stop.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import simpy

from sim.bus import ScheduledFeed, Topic
from sim.pods.fcfs import FcfsSchedule, fcfs_schedule
from sim.pods.replicas import Pod, Replicas
from sim.pods.service_time import ServiceTime
from sim.record.ledger import Outcome
from sim.record.timeweighted import TimeWeighted
from sim.scenario import IngestorSpec
from sim.topology import Stage

if TYPE_CHECKING:
    from sim.record.ledger import Ledger
    from sim.workload import TxTable

__all__ = ["FcfsSchedule", "ScheduledIngress", "fcfs_schedule"]


class _Level:
    """Time-weighted level read from a schedule (the :class:`TimeWeighted` interface): +1 at
    each ``ups`` time, -1 at each ``downs`` time (each down after its up)."""

    def __init__(self, env: simpy.Environment, ups: np.ndarray, downs: np.ndarray) -> None:
        self._env = env
        self._ups, self._downs = np.sort(ups), np.sort(downs)
        self._cum_ups = np.concatenate([[0.0], np.cumsum(self._ups)])
        self._cum_downs = np.concatenate([[0.0], np.cumsum(self._downs)])

    def _counts(self) -> tuple[float, int, int]:
        now = self._env.now
        ku = int(np.searchsorted(self._ups, now, side="right"))
        kd = int(np.searchsorted(self._downs, now, side="right"))
        return now, ku, kd

    @property
    def level(self) -> float:
        """The level now."""
        _, ku, kd = self._counts()
        return float(ku - kd)

    def integral(self) -> float:
        """Area under the level from 0 to now (level × seconds): the sum over up/down pairs of
        ``min(down, now) - up`` for ups <= now."""
        now, ku, kd = self._counts()
        return float((self._cum_downs[kd] + now * (ku - kd)) - self._cum_ups[ku])


class Ingestor(Protocol):
    """What the precomputed ingress needs of the ingestor service
    (``sim.services.ingestor.IngestorService``)."""

    table: TxTable
    ledger: Ledger
    topic_out: Topic | None
    errors: np.ndarray
    any_error: bool
    keys: np.ndarray


class ScheduledIngress(Replicas):
    """The transaction-ingestor, played from a precomputed :func:`fcfs_schedule`.

    Parameters
    ----------
    env : simpy.Environment
    spec : IngestorSpec
    rng : numpy.random.Generator
        The ingestor's service-time stream (drawn when built, in arrival order).
    ingestor : sim.services.IngestorService
        The request handler: its table (arrival times, keys), ledger, schema errors and output
        topic (None when the ingestor is the last stage; the topic must be unbounded).

    Attributes
    ----------
    schedule : FcfsSchedule
    depth, held, busy, ready_consumers
        Time-weighted queue depth, requests held by their callers (``overflow: block``), busy
        servers and ready servers (``level``, ``integral()``).
    """

    name = "transaction_ingestor"

    def __init__(
        self, env: simpy.Environment, spec: IngestorSpec, rng: np.random.Generator,
        ingestor: Ingestor,
    ) -> None:
        self.env = env
        self.spec = spec
        self.ledger = ingestor.ledger
        self.n_servers = spec.replicas * spec.concurrency
        self.pods = [Pod(f"{self.name}-{i}") for i in range(spec.replicas)]
        self._rng = rng
        self._ingestor = ingestor
        self.schedule: FcfsSchedule | None = None
        none = np.empty(0)
        self.depth = _Level(env, none, none)
        self.held = _Level(env, none, none)
        self.busy = _Level(env, none, none)
        self.ready_consumers = TimeWeighted(env)
        self.feed: ScheduledFeed | None = None
        self._arrivals: list[float] = []
        self._out_s: list[float] = []
        self._n_arrived = self._n_out = 0
        self._synced_s = -math.inf
        self.last_event_s = 0.0
        if ingestor.topic_out is not None:
            ingestor.topic_out.schedule(self)  # the topic's producer known in advance

    def _plan(self) -> None:
        """Compute the schedule and what it implies (at start: the simulation's own work)."""
        env, spec, led, ingestor = self.env, self.spec, self.ledger, self._ingestor
        arrival_s = np.asarray(ingestor.table.arrival_s, dtype=np.float64)
        self.schedule = sched = fcfs_schedule(
            arrival_s,
            self.n_servers,
            ServiceTime(spec.service, self._rng),
            ready_s=spec.startup_s,
            queue_limit=spec.queue_limit,
            overflow=spec.overflow,
        )
        acc = np.flatnonzero(sched.accepted)
        self.depth = _Level(env, sched.queued_s[acc], sched.start_s[acc])
        self.held = _Level(env, arrival_s[acc], sched.queued_s[acc])
        self.busy = _Level(env, sched.start_s[acc], sched.end_s[acc])
        led.start_ingest[acc] = sched.start_s[acc]
        led.end_ingest[acc] = sched.end_s[acc]
        names = [
            f"{self.pods[i // spec.concurrency].name}/s{i % spec.concurrency}"
            for i in range(self.n_servers)
        ]
        ids = np.array([led.pod_id(name) for name in names], dtype=np.int32)
        led.ingest_server[acc] = ids[sched.server[acc]]
        # outcomes decided at the ingress, in time order: shed at arrival; dead-lettered (or
        # completed, when the ingestor is the last stage) at service end
        errors = ingestor.errors
        bad = acc[errors[acc] != None] if ingestor.any_error else acc[:0]  # noqa: E711
        good = np.setdiff1d(acc, bad, assume_unique=True)
        shed = np.flatnonzero(~sched.accepted)
        topic = ingestor.topic_out
        done = good if topic is None else good[:0]
        times = np.concatenate([arrival_s[shed], sched.end_s[bad], sched.end_s[done]])
        order = np.argsort(times, kind="stable")
        self._out_s = times[order].tolist()
        self._out_rows = np.concatenate([shed, bad, done])[order]
        codes = np.repeat(
            [int(Outcome.SHED), int(Outcome.DEAD_LETTERED), int(Outcome.COMPLETED)],
            [len(shed), len(bad), len(done)],
        )
        self._out_code = codes[order]
        self._reasons = errors
        if topic is not None:
            self.feed = ScheduledFeed(
                topic, sched.end_s[good], good, topic.partition_of(ingestor.keys[good]),
                register=False,
            )
        self._arrivals = arrival_s.tolist()
        self.last_event_s = max(
            self._arrivals[-1] if self._arrivals else 0.0,
            self._out_s[-1] if self._out_s else 0.0,
            self.feed.last_s if self.feed is not None else 0.0,
        )

    def start(self) -> None:
        """Compute the schedule; servers become ready after ``startup_s``; a timer plays the
        schedule's last event."""
        if self.schedule is not None:
            raise RuntimeError("ScheduledIngress already started")
        self._plan()
        self._synced_s = -math.inf
        env = self.env
        if self.spec.startup_s > 0:
            env.timeout(self.spec.startup_s).callbacks.append(lambda _ev: self._ready())
        else:
            self._ready()
        if self._arrivals:
            last = self.last_event_s
            env.timeout(max(0.0, last - env.now)).callbacks.append(lambda _ev: self.catch_up(last))

    def _ready(self) -> None:
        for pod in self.pods:
            pod.ready = True
        self.ready_consumers.add(self.n_servers)

    def catch_up(self, until_s: float | None = None) -> None:
        """Play everything due by ``max(env.now, until_s)``: arrivals (``Ledger.arrived``),
        outcomes decided at the ingress, and the records produced to ``transactions``."""
        now = self.env.now
        if until_s is not None and until_s > now:
            now = until_s
        if now <= self._synced_s:
            return
        self._synced_s = now
        led = self.ledger
        led.arrived = bisect_right(self._arrivals, now, self._n_arrived)
        self._n_arrived = led.arrived
        n = self._n_out
        k = bisect_right(self._out_s, now, n)
        if k > n:
            self._n_out = k
            self._finish(self._out_rows[n:k], self._out_code[n:k])
        if self.feed is not None:
            self.feed.catch_up(now)

    def _finish(self, rows: np.ndarray, codes: np.ndarray) -> None:
        led, stage = self.ledger, Stage.INGESTOR
        for code in np.unique(codes).tolist():
            these = rows[codes == code]
            if code == Outcome.DEAD_LETTERED:
                for row in these.tolist():
                    led.finish(np.array([row]), Outcome.DEAD_LETTERED, stage, self._reasons[row])
            elif code == Outcome.SHED:
                reason = f"ingress queue full (queue_limit={self.spec.queue_limit})"
                led.finish(these, Outcome.SHED, stage, reason)
            else:
                led.finish(these, Outcome.COMPLETED, stage, None)

    def next_due(self, partitions: Sequence[int], count: int) -> float:
        """When ``count`` more records will have appeared on ``partitions`` (inf: never)."""
        return self.feed.next_due(partitions, count) if self.feed is not None else math.inf

    def finalize(self) -> None:
        """When the run stops: requests not yet served by now have no ingest times."""
        self.catch_up()
        led, now = self.ledger, self.env.now
        late = np.flatnonzero(led.end_ingest > now)
        led.start_ingest[late] = np.nan
        led.end_ingest[late] = np.nan
        led.ingest_server[late] = -1
