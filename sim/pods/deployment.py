"""Deployments and pods: consumer deployments on the bus and the request/response ingress.

A consumer :class:`Deployment` runs ``replicas`` pods; a pod becomes ready ``startup_s`` after it
starts (image pull + model load) and then runs ``concurrency`` consumer processes, each a member
of the deployment's consumer group. One poll of up to ``max_poll_records`` costs
``fixed_s + per_record_s × n`` seconds times a random factor of mean 1 drawn from the
deployment's own seeded stream (:class:`ServiceTime`). The stage's real work is done by a
:class:`Handler` (the bots). A crash (:meth:`Deployment.crash`) interrupts the pod's consumers:
under at-least-once the uncommitted batch is re-delivered after the rebalance, under at-most-once
it is reported lost (``Handler.drop`` and a ``records_lost`` incident); the pod restarts after
``restart_s`` plus its start-up time.

The :class:`Ingress` (transaction-ingestor behind a Kubernetes Service) is a shared FIFO of
requests served one at a time by ``replicas × concurrency`` servers: the M/M/c stage validated
against Erlang C. A request arriving to a full queue (``queue_limit``) is shed.

Utilisation is the time-weighted busy fraction of ready consumers (or servers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import simpy

from sim.bus import ConsumerGroup, Fetched, Member
from sim.pods.service_time import ServiceTime
from sim.process import ProcessGenerator
from sim.record.timeweighted import TimeWeighted
from sim.scenario import DeploymentSpec

__all__ = ["Deployment", "Handler", "Pod"]


class Handler(Protocol):
    """The real work of a stage, split around the service-time delay.

    ``begin(records, pod)`` runs when the poll starts with the polled records (a list of
    row indices): de-duplicates by transaction id, does the stage's computation and returns
    the rows to pass on (a list). ``finish(rows, start_s, pod, fetched)`` runs after
    the delay: records times and produces downstream; it returns None when done, or a SimPy
    sub-process to ``yield from`` when the produce may block (bounded topic).
    ``drop(records, reason)`` accounts for records lost in a crash (at-most-once).
    ``release()`` frees what only the running system needs (called once, after the run).
    """

    def begin(self, records: list[int], pod: str) -> list[int]: ...

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None: ...

    def drop(self, records: list[int], reason: str) -> None: ...

    def release(self) -> None: ...


class Pod:
    """One replica: its consumer members and processes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False
        self.crashed = False
        self.members: list[Member] = []
        self.procs: list[simpy.Process] = []


class Deployment:
    """A consumer deployment: pods whose consumers poll ``group`` and run ``handler``.

    Parameters
    ----------
    env : simpy.Environment
    name : str
        Deployment name (``feature_enricher``...).
    spec : DeploymentSpec
    group : ConsumerGroup
    handler : Handler
    rng : numpy.random.Generator
        The deployment's own service-time stream.
    on_incident : callable(kind, detail), optional
        Called on pod ready / crash / restart.
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        spec: DeploymentSpec,
        group: ConsumerGroup,
        handler: Handler,
        rng: np.random.Generator,
        on_incident: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.env = env
        self.name = name
        self.spec = spec
        self.group = group
        self.handler = handler
        self.service = ServiceTime(spec.service, rng)
        self.on_incident = on_incident or (lambda kind, pod, detail: None)
        self.pods = [Pod(f"{name}-{i}") for i in range(spec.replicas)]
        self.busy = TimeWeighted(env)
        self.ready_consumers = TimeWeighted(env)
        self.polls = 0
        self._linger = spec.fetch_min_records > 1 and spec.fetch_max_wait_s > 0

    def start(self) -> None:
        """Start every pod (each becomes ready after ``startup_s``)."""
        for pod in self.pods:
            self.env.process(self._boot(pod, 0.0))

    def pods_ready(self) -> int:
        """Number of ready pods."""
        return sum(p.ready for p in self.pods)

    def _boot(self, pod: Pod, delay_s: float) -> ProcessGenerator:
        yield self.env.timeout(delay_s + self.spec.startup_s)
        pod.crashed = False
        pod.ready = True
        self.on_incident("pod_ready", pod.name, f"after {delay_s + self.spec.startup_s:.3f} s")
        for c in range(self.spec.concurrency):
            member = Member(f"{pod.name}/c{c}")
            pod.members.append(member)
            self.group.join(member)
            self.ready_consumers.add(1)
            pod.procs.append(self.env.process(self._consume(pod, member)))

    def crash(self, index: int, restart_s: float) -> None:
        """Crash pod ``index`` now; it restarts after ``restart_s`` + start-up time.

        Raises
        ------
        IndexError
            ``index`` is not a pod of this deployment (``0 <= index < replicas``; the scenario
            rejects such a fault at validation).
        """
        if not 0 <= index < len(self.pods):
            raise IndexError(f"{self.name}: no pod {index} (replicas {len(self.pods)})")
        pod = self.pods[index]
        if pod.crashed or not pod.ready:
            return
        pod.crashed = True
        pod.ready = False
        self.on_incident(
            "pod_crash", pod.name, f"restart in {restart_s + self.spec.startup_s:.3f} s"
        )
        for proc in pod.procs:
            if proc.is_alive:
                proc.interrupt("crash")
        for member in pod.members:
            self.group.leave(member)
            self.ready_consumers.add(-1)
        pod.members, pod.procs = [], []
        self.env.process(self._boot(pod, restart_s))

    def _linger_for_records(self, member: Member) -> ProcessGenerator:
        """Wait (up to ``fetch_max_wait_s`` after the first record) until ``fetch_min_records``
        are available.

        On a topic fed by a scheduled producer (``Topic.scheduled``) the moment is known in
        advance: one timer, set for the earlier of "first record + ``fetch_max_wait_s``" and
        "``fetch_min_records`` available". Otherwise the consumer is woken by appends. Either
        way a rebalance wakes it: it returns (the consumer loop waits out the pause and lingers
        again on its new assignment), or, without a pause, goes on waiting on the new one.
        """
        group, env, spec = self.group, self.env, self.spec
        if not member.partitions:
            return
        have = group.available(member)
        if have >= spec.fetch_min_records:
            return
        sched = group.topic.scheduled
        if sched is not None:
            first = env.now if have else sched.next_due(member.partitions, 1)
            if first != math.inf:
                yield from self._linger_scheduled(member, sched, have, first)
                return
        if have == 0:  # nothing at all: wait for the first record
            yield group.wait_for_records(member)
            if group.available(member) == 0:  # woken by a rebalance: start again
                return
        timer = env.timeout(spec.fetch_max_wait_s)
        while not timer.processed and group.available(member) < spec.fetch_min_records:
            # woken by the append that makes fetch_min_records available, by the timer, or by
            # a rebalance
            ev = group.wait_for_records(member, spec.fetch_min_records)
            if timer.callbacks is not None:
                timer.callbacks.append(lambda _t, ev=ev: None if ev.triggered else ev.succeed())
            yield ev
            if env.now < group.paused_until or not member.partitions:
                return

    def _linger_scheduled(
        self, member: Member, sched: Any, have: int, first: float
    ) -> ProcessGenerator:
        """:meth:`_linger_for_records` on a scheduled topic: timers instead of appends.
        ``have`` records are available now; the first one is (or will be) at ``first``."""
        group, env, spec = self.group, self.env, self.spec
        while True:
            full = sched.next_due(member.partitions, spec.fetch_min_records - have)
            until = min(first + spec.fetch_max_wait_s, full)
            if until <= env.now:
                sched.catch_up(until)
                return
            woken = env.event()  # by the timer, or by a rebalance (ConsumerGroup._rebalance)
            member.waiting = woken

            def ring(_t: simpy.Event, until: float = until, woken: simpy.Event = woken) -> None:
                sched.catch_up(until)
                if not woken.triggered:
                    woken.succeed("timer")

            env.timeout(until - env.now).callbacks.append(ring)
            if (yield woken) == "timer":  # (a rebalance succeeds it with None)
                return
            if env.now < group.paused_until or not member.partitions:
                return
            have = group.available(member)
            if have >= spec.fetch_min_records:
                return
            if first > env.now:  # still before the first record: of the new assignment
                first = env.now if have else sched.next_due(member.partitions, 1)
                if first == math.inf:
                    return

    def _consume(self, pod: Pod, member: Member) -> ProcessGenerator:
        env, group, handler = self.env, self.group, self.handler
        fetched: Fetched | None = None
        busy = False
        try:
            while True:
                if env.now < group.paused_until:  # rebalance in progress
                    yield env.timeout(group.paused_until - env.now)
                    continue
                if self._linger:
                    yield from self._linger_for_records(member)
                    if env.now < group.paused_until:  # a rebalance started meanwhile
                        continue
                fetched = group.fetch(member, self.spec.max_poll_records)
                if fetched is None:
                    yield group.wait_for_records(member)
                    continue
                self.polls += 1
                self.busy.add(1)
                busy = True
                start = env.now
                fresh = handler.begin(fetched.records, pod.name)
                yield env.timeout(self.service.draw(len(fetched.records)))
                blocking = handler.finish(fresh, start, pod.name, fetched)
                if blocking is not None:  # a produce to a bounded topic
                    yield from blocking
                group.commit(fetched)
                fetched = None
                self.busy.add(-1)
                busy = False
        except simpy.Interrupt:
            if busy:
                self.busy.add(-1)
            if fetched is not None:
                if group.delivery == "at_least_once":
                    group.rewind(fetched)
                else:
                    handler.drop(fetched.records, f"{self.name} pod crash (at-most-once)")
                    what = "labels" if group.topic.name == "labels" else "records"
                    self.on_incident(
                        "records_lost",
                        pod.name,
                        f"{len(fetched.records)} {what} of topic {group.topic.name} lost in the "
                        "crash (at-most-once)",
                    )
