"""The pod faults of a run, driven: ``pod_crash`` (a single crash or a crash loop) and
``deployment_outage``, for any deployment (the ingestor, the pipeline's consumers, the label
feed, the monitoring-service); and a ``fault_start`` / ``fault_end`` incident for every
occurrence of every kind.

As in SimPy's machine-shop example, the fault is its own process and acts through the
deployment's public methods (:meth:`sim.pods.Deployment.crash`,
:meth:`sim.pods.Ingress.crash`, :meth:`sim.pods.replicas.PodLifecycle.outage` and
``when_ready``), never a private field. The occurrences come from
:func:`sim.faults.schedule.occurrences` (random faults already expanded). A crash loop
(``duration_s > 0``) crashes the pod again ``uptime_s`` after each time it becomes ready,
until ``at_s + duration_s``; each restart waits the kubelet's CrashLoopBackOff delay
(:class:`sim.policies.CrashLoopBackOff`, first delay ``restart_s``), measured against how long
the container ran since its restart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import simpy

from sim.faults.schedule import Occurrence, target_of
from sim.pods.replicas import PodLifecycle
from sim.policies.backoff import CrashLoopBackOff
from sim.process import ProcessGenerator

__all__ = ["POD_KINDS", "run_faults"]

POD_KINDS = ("pod_crash", "deployment_outage")
"""The fault kinds driven here (the others act through ``sim.faults.schedule.FaultWindows``)."""

Log = Callable[..., None]


def run_faults(
    env: simpy.Environment,
    occ: Sequence[Occurrence],
    pods: Mapping[str, PodLifecycle],
    log: Log,
) -> ProcessGenerator:
    """Walk ``occ`` in time order: log ``fault_start`` (target, ``"<kind> (faults[i])"``,
    duration), act (pod kinds), and log ``fault_end`` at its end (at once for a single crash;
    never for an open-ended window); a SimPy process body.

    Raises
    ------
    KeyError
        A pod fault names a deployment not in ``pods`` (the scenario refuses such a fault:
        ``sim.scenario.faults.fault_errors``).
    """
    for o in sorted(occ, key=lambda o: (o.start_s, o.index)):
        if o.start_s > env.now:
            yield env.timeout(o.start_s - env.now)
        target, what = target_of(o.fault), f"{o.kind} (faults[{o.index}])"
        log("fault_start", target, what, o.end_s - o.start_s)
        if o.kind in POD_KINDS:
            _act(env, o, pods[o.fault.deployment])
        if o.end_s == o.start_s:
            log("fault_end", target, what)
        elif math.isfinite(o.end_s):
            ev = env.timeout(o.end_s - env.now)
            ev.callbacks.append(lambda _ev, t=target, w=what: log("fault_end", t, w))


def _act(env: simpy.Environment, o: Occurrence, dep: PodLifecycle) -> None:
    """Start occurrence ``o`` on ``dep`` now."""
    f = o.fault
    if o.kind == "deployment_outage":
        dep.outage(o.end_s)
        return
    if f.duration_s == 0:
        dep.crash(f.pod, f.restart_s)
        return
    backoff = CrashLoopBackOff(initial_s=f.restart_s)
    if dep.crash(f.pod, backoff.next_delay_s(math.inf)):
        backoff.crash(math.inf)
    env.process(crash_loop(env, o, dep, backoff))


def crash_loop(
    env: simpy.Environment, o: Occurrence, dep: PodLifecycle, backoff: CrashLoopBackOff
) -> ProcessGenerator:
    """The rest of a crash loop (its first crash done): each time pod ``o.fault.pod`` is ready,
    crash it ``uptime_s`` later while before ``o.end_s``; a SimPy process body."""
    f = o.fault
    while True:
        ready = dep.when_ready(f.pod)
        if ready is None:  # an autoscaler removed the pod
            return
        yield ready
        restarted_s = env.now - dep.spec.startup_s  # the container started, then started up
        yield env.timeout(f.uptime_s)
        if env.now >= o.end_s:
            return
        ran_s = env.now - restarted_s
        if dep.crash(f.pod, backoff.next_delay_s(ran_s)):
            backoff.crash(ran_s)
