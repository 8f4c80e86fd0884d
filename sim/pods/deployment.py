"""Deployments and pods: consumer deployments on the bus and the request/response ingress.

A consumer :class:`Deployment` runs ``replicas`` pods; a pod becomes ready ``startup_s`` after it
starts (image pull + model load) and then runs ``concurrency`` consumer processes, each a member
of the deployment's consumer group. One poll of up to ``max_poll_records`` costs
``fixed_s + per_record_s × n`` seconds times a random factor of mean 1 drawn from the
deployment's own seeded stream (:class:`ServiceTime`). The stage's real work is done by a
:class:`Handler` (the bots). A batch is committed after processing (at-least-once), or, when the
handler's records still wait in its producer's buffer (``Fetched.commit_after``), once they
have left it, in poll order (Kafka Streams commits only after the producer flushed). A crash
(:meth:`Deployment.crash`) interrupts the pod's consumers without leaving the group (the group
notices after its session timeout): under at-least-once the uncommitted batches (in hand or
waiting for their produce) are delivered again to the partitions' next owner, under
at-most-once the batch in hand is reported lost (``Handler.drop`` and a ``records_lost``
incident); the pod restarts after ``restart_s`` plus its start-up time. Records whose
processing failed are retried in place and dead-lettered (``sim.pods.retries``), or the batch
is not committed and the consumer seeks back to it (``Fetched.seek_back``: polled again).

The :class:`Ingress` (transaction-ingestor behind a Kubernetes Service) is a shared FIFO of
requests served one at a time by ``replicas × concurrency`` servers: the M/M/c stage validated
against Erlang C. A request arriving to a full queue (``queue_limit``) is shed.

Utilisation is the time-weighted busy fraction of ready consumers (or servers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np
import simpy

from sim.bus import Consumer, Fetched, Member
from sim.pods.replicas import Pod, PodLifecycle
from sim.pods.service_time import ServiceTime
from sim.process import ProcessGenerator
from sim.record.timeweighted import TimeWeighted
from sim.scenario import DeploymentSpec

if TYPE_CHECKING:
    from sim.pods.cluster import Cluster
    from sim.pods.retries import ProcessingRetries

__all__ = ["Deployment", "Handler", "Pod"]

_SEEK_BACK_PAUSE_S = 0.1
"""Kafka's ``retry.backoff.ms`` default (100 ms): the pause after a seek-back that cost no time."""


class Handler(Protocol):
    """The real work of a stage, split around the service-time delay.

    ``begin(records, pod)`` runs when the poll starts with the polled records (a list of
    row indices): de-duplicates by transaction id, does the stage's computation and returns
    the rows to pass on (a list). ``finish(rows, start_s, pod, fetched)`` runs after
    the delay: records times and produces downstream; it returns None when done, or a SimPy
    sub-process to ``yield from`` when the produce may block (bounded topic).
    ``drop(records, reason)`` accounts for records lost in a crash (at-most-once).
    ``release()`` frees what only the running system needs (called once, after the run).
    ``crashed(pod, lost, records)`` tells it that a consumer of ``pod`` crashed holding
    ``records`` (polled, not committed; they may be delivered again) and that the pod's producer
    buffer dies with it (its records lost when ``lost``, the deployment being at-most-once);
    called once per consumer of the pod. ``rewound(records, redelivered)`` tells it that the
    batch ``records`` was not committed after it set ``Fetched.seek_back`` (polled again when
    ``redelivered``; lost otherwise, at-most-once).
    """

    def begin(self, records: list[int], pod: str) -> list[int]: ...

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None: ...

    def drop(self, records: list[int], reason: str) -> None: ...

    def release(self) -> None: ...

    def crashed(self, pod: str, lost: bool, records: list[int]) -> None: ...

    def rewound(self, records: list[int], redelivered: bool) -> None: ...


class Deployment(PodLifecycle):
    """A consumer deployment: pods whose consumers poll ``group`` and run ``handler``.

    Parameters
    ----------
    env : simpy.Environment
    name : str
        Deployment name (``feature_enricher``...).
    spec : DeploymentSpec
    group : sim.bus.Consumer
        The consumer group, used only through the :class:`sim.bus.Consumer` protocol
        (a :class:`sim.bus.ConsumerGroup` in the simulation).
    handler : Handler
    rng : numpy.random.Generator
        The deployment's own service-time stream.
    on_incident : callable(kind, target, detail), optional
        Called on pod ready / crash / restart / scaling.
    cluster : sim.pods.cluster.Cluster, optional
        Where its pods are scheduled (None or an unlimited cluster: every pod fits at once).
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        spec: DeploymentSpec,
        group: Consumer,
        handler: Handler,
        rng: np.random.Generator,
        on_incident: Callable[[str, str, str], None] | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.env = env
        self.name = name
        self.spec = spec
        self.group = group
        self.handler = handler
        self.service = ServiceTime(spec.service, rng)
        self.on_incident = on_incident or (lambda kind, pod, detail: None)
        self._init_pods(cluster)
        a = spec.autoscaling
        self._per_pod = a is not None and a.kind == "hpa"  # per-pod CPU for the HPA
        self.busy = TimeWeighted(env)
        self.ready_consumers = TimeWeighted(env)
        self.polls = 0
        self.failed_commits = 0  # commits the group refused (the member had been evicted)
        self._linger = spec.fetch_min_records > 1 and spec.fetch_max_wait_s > 0
        self.retries: ProcessingRetries | None = None  # set by sim.system when records can fail

    def start(self) -> None:
        """Schedule every pod (each becomes ready ``startup_s`` after it is on a node)."""
        for pod in self.pods:
            self._place(pod)

    def _run(self, pod: Pod) -> None:
        pod.boot = self.env.process(self._boot(pod, 0.0))

    def _boot(self, pod: Pod, delay_s: float) -> ProcessGenerator:
        if not (yield from self._wait_startup(pod, delay_s)):
            self._gone(pod)  # removed while starting
            return
        pod.crashed = False
        pod.ready = True
        pod.ready_since_s = self.env.now
        self.on_incident("pod_ready", pod.name, f"after {delay_s + self.spec.startup_s:.3f} s")
        self._announce_ready(pod)
        for c in range(self.spec.concurrency):
            member = Member(f"{pod.name}/c{c}")
            pod.members.append(member)
            self.group.join(member)
            self.ready_consumers.add(1)
            pod.procs.append(self.env.process(self._consume(pod, member)))

    def _crash(self, pod: Pod, restart_s: float) -> None:
        """Interrupt the crashed pod's consumers (they give back or drop what they hold)."""
        for proc in pod.procs:
            if proc.is_alive:
                proc.interrupt("crash")
        for member in pod.members:
            self.group.crash(member)  # no LeaveGroup: noticed after the session timeout
            self.ready_consumers.add(-1)
        pod.members, pod.procs = [], []
        pod.busy_members.clear()
        pod.boot = self.env.process(self._boot(pod, restart_s))

    def _stop(self, pod: Pod) -> None:
        """Scale-down: idle consumers stop now, busy ones after their batch, and each leaves
        the group (``LeaveGroup``: a rebalance at once); those still running after
        ``termination_grace_period_s`` are killed (SIGKILL: no ``LeaveGroup``, the group
        notices after its session timeout, as for a crash)."""
        pod.ready = False

        def stop_idle(_ev: object) -> None:  # deferred: a consumer just spawned has started
            for member, proc in zip(pod.members, pod.procs, strict=True):
                if member.name not in pod.busy_members and proc.is_alive:
                    proc.interrupt("terminate")

        def kill(_ev: object) -> None:
            for proc in pod.procs:
                if proc.is_alive:
                    proc.interrupt("kill")

        self.env.timeout(0).callbacks.append(stop_idle)
        self.env.timeout(self.spec.termination_grace_period_s).callbacks.append(kill)

    def _left(self, pod: Pod, member: Member, killed: bool) -> None:
        """A consumer of terminating ``pod`` has stopped: it leaves the group (or, killed,
        vanishes from it without a word)."""
        if killed:
            self.group.crash(member)
        else:
            self.group.leave(member)
        self.ready_consumers.add(-1)
        i = pod.members.index(member)  # members and their processes stay paired
        del pod.members[i], pod.procs[i]
        if not pod.members:
            self._gone(pod)

    def _consume(self, pod: Pod, member: Member) -> ProcessGenerator:
        """One consumer: wait out rebalances, linger (``ready``), poll, serve, commit; on a
        crash give the batches not yet committed back (``rewind``) or report them lost."""
        env, bus, handler, spec = self.env, self.group, self.handler, self.spec
        linger, min_records, max_wait = self._linger, spec.fetch_min_records, spec.fetch_max_wait_s
        fetched: Fetched | None = None
        busy = False
        waiting: list[Fetched] = []  # served, their commit waiting for a commit_after (in order)
        crashed = [False]

        def commit_ready(_ev: object = None) -> None:
            """Commit the waiting batches whose produce has left the buffer, in poll order."""
            while waiting and not crashed[0]:
                after = waiting[0].commit_after
                if after is not None and not after.processed:
                    return
                self._commit(waiting.pop(0))

        per_pod = self._per_pod
        extra = getattr(handler, "extra_service_s", None)
        try:
            while True:
                if pod.terminating:  # scale-down: stop after the batch in hand
                    raise simpy.Interrupt("terminate")
                pause = bus.paused(member)
                if pause:  # rebalance in progress
                    yield env.timeout(pause)
                    continue
                if linger:
                    yield from bus.ready(member, min_records, max_wait)
                    if bus.paused(member):  # a rebalance started meanwhile
                        continue
                fetched = bus.poll(member, spec.max_poll_records)
                if fetched is None:
                    yield from bus.ready(member)
                    continue
                self.polls += 1
                self.busy.add(1)
                busy = True
                if per_pod:
                    pod.busy.add(1)  # type: ignore[union-attr]
                pod.busy_members.add(member.name)
                start = env.now
                fresh = handler.begin(fetched.records, pod.name)
                took = self.service.draw(len(fetched.records))
                if extra is not None:  # a shadow model's scoring (sim.services.detector)
                    took += extra(len(fetched.records))
                yield env.timeout(took)
                if self.retries is not None:  # failed records: retried, dead-lettered or kept
                    fresh = yield from self.retries.run(fresh, start, pod.name, fetched)
                blocking = handler.finish(fresh, start, pod.name, fetched)
                if blocking is not None:  # a produce to a bounded topic
                    yield from blocking
                after = fetched.commit_after
                if fetched.seek_back:  # not committed: polled again (Kafka's seek)
                    yield from self._seek_back(fetched, start)
                elif spec.delivery == "at_least_once" and (after is not None or waiting):
                    waiting.append(fetched)  # its records still in a producer buffer
                    if after is not None and after.callbacks is not None:
                        after.callbacks.append(commit_ready)
                    commit_ready()
                else:
                    self._commit(fetched)
                fetched = None
                self.busy.add(-1)
                busy = False
                if per_pod:
                    pod.busy.add(-1)  # type: ignore[union-attr]
                pod.busy_members.discard(member.name)
        except simpy.Interrupt as stop:
            crashed[0] = True
            if busy:
                self.busy.add(-1)
                if per_pod:
                    pod.busy.add(-1)  # type: ignore[union-attr]
            pod.busy_members.discard(member.name)
            held = [r for f in waiting for r in f.records]
            handler.crashed(pod.name, spec.delivery == "at_most_once",
                            held + fetched.records if fetched is not None else held)
            for unsent in waiting:  # never committed: delivered again
                bus.rewind(unsent)
            how = "crash" if stop.cause == "crash" else "kill at scale-down"
            if fetched is not None and not bus.rewind(fetched):  # at-most-once: lost
                handler.drop(fetched.records, f"{self.name} pod {how} (at-most-once)")
                topic = bus.topic_name
                what = "labels" if topic == "labels" else "records"
                self.on_incident(
                    "records_lost",
                    pod.name,
                    f"{len(fetched.records)} {what} of topic {topic} lost in the "
                    f"{how} (at-most-once)",
                )
            if stop.cause != "crash":  # scale-down: leave the group at once
                self._left(pod, member, stop.cause == "kill")

    def _seek_back(self, fetched: Fetched, start_s: float) -> ProcessGenerator:
        """Do not commit ``fetched``: seek back to its first uncommitted offset (on a queue,
        nack / leave it to reappear: ``rewind``), so its records are polled again; the handler
        frees the rows it did not serve (``Handler.rewound``). A seek-back that took no
        simulated time waits ``_SEEK_BACK_PAUSE_S`` (Kafka's ``retry.backoff.ms``, 100 ms), so
        that a run with zero service times still advances."""
        self.handler.rewound(fetched.records, self.group.rewind(fetched))
        if self.env.now == start_s:
            yield self.env.timeout(_SEEK_BACK_PAUSE_S)

    def _commit(self, fetched: Fetched) -> None:
        if not self.group.commit(fetched):  # Kafka's CommitFailedException: evicted
            self.failed_commits += 1
