"""Pods and their lifecycle, shared by consumer deployments and the ingress.

A :class:`Replicas` owns its live pods. ``scale_to(n)`` adds pods (each Pending until the
cluster binds it to a node, then ready ``startup_s`` later: image pull + model load) or removes
pods in the ReplicaSet controller's order: Pending pods first, then pods not ready, then the
most recently ready (Kubernetes ``controller.ActivePodsWithRanks``). A removed pod is
*terminating*: the subclass stops it gracefully (:meth:`Replicas._stop`) and calls
:meth:`Replicas._gone` when its last process has ended, which frees its node.

On an unlimited cluster (no node pools) a pod is bound at once and nothing is scheduled, so
fixed-size runs keep exactly their former events.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from sim.process import ProcessGenerator
from sim.record.timeweighted import TimeWeighted

if TYPE_CHECKING:
    from sim.bus import Member
    from sim.pods.cluster import Cluster
    from sim.scenario import DeploymentSpec, IngestorSpec

__all__ = ["Pod", "PodLifecycle", "Replicas", "removal_order"]


class Pod:
    """One replica: its consumer members (or servers) and processes, and its lifecycle times.

    Attributes
    ----------
    pending : bool
        Waiting for a node (``kube_pod_status_phase{phase="Pending"}``).
    ready, crashed, terminating : bool
    created_s, started_s, ready_since_s : float or None
        When it was created, bound to a node (its start) and last became ready (seconds).
    busy : TimeWeighted or None
        Its busy consumers (servers) over time, for the HPA's per-pod CPU utilisation.
    """

    def __init__(self, name: str, env: simpy.Environment | None = None) -> None:
        self.name = name
        self.ready = False
        self.crashed = False
        self.pending = False
        self.terminating = False
        self.members: list[Member] = []
        self.procs: list[simpy.Process] = []
        self.boot: simpy.Process | None = None
        self.created_s = env.now if env is not None else 0.0
        self.started_s: float | None = None
        self.ready_since_s: float | None = None
        self.busy = TimeWeighted(env) if env is not None else None
        self.busy_members: set[str] = set()


def removal_order(pods: list[Pod]) -> list[Pod]:
    """``pods`` in the order a ReplicaSet deletes them on scale-down: Pending first, then not
    ready (starting or crashed), then ready ones, the most recently ready first; ties by
    newest first.

    >>> a, b, c = Pod("a"), Pod("b"), Pod("c")
    >>> a.ready, a.ready_since_s, b.ready, b.ready_since_s, c.pending = True, 1.0, True, 5.0, True
    >>> [p.name for p in removal_order([a, b, c])]
    ['c', 'b', 'a']
    """
    indexed = list(enumerate(pods))
    indexed.sort(key=lambda ip: (
        0 if ip[1].pending else 1 if not ip[1].ready else 2,
        -(ip[1].ready_since_s or 0.0),
        -ip[0],
    ))
    return [p for _, p in indexed]


class Replicas:
    """What every deployment has: its live pods (``pods``), how many are ready or Pending."""

    env: simpy.Environment
    pods: list[Pod]

    def pods_ready(self) -> int:
        """Number of ready pods."""
        return sum(p.ready for p in self.pods)

    def pods_pending(self) -> int:
        """Number of pods waiting for a node."""
        return sum(p.pending for p in self.pods)

    def pod_seconds(self) -> float:
        """The replicas wanted, integrated over the run so far (pod × s)."""
        return float(len(self.pods)) * self.env.now  # fixed replicas; PodLifecycle integrates


class PodLifecycle(Replicas, ABC):
    """Pods that are scheduled, start, scale and terminate (see the module docstring).

    Subclasses set ``env``, ``name``, ``spec`` and ``on_incident``, call :meth:`_init_pods`,
    and define :meth:`_run` (start a bound pod: wait its start-up, then serve) and
    :meth:`_stop` (stop a terminating, running pod gracefully, then call :meth:`_gone`).

    Attributes
    ----------
    cluster : sim.pods.cluster.Cluster or None
        Where pods are scheduled; None on an unlimited cluster.
    replicas : TimeWeighted
        The desired replica count over time (``kube_deployment_spec_replicas``).
    """

    name: str
    spec: DeploymentSpec | IngestorSpec
    on_incident: Callable[..., None]
    cluster: Cluster | None

    def _init_pods(self, cluster: Cluster | None) -> None:
        self.cluster = cluster if cluster is not None and not cluster.unlimited else None
        self.down_until_s = -math.inf  # a deployment outage holds every pod down until then
        self._waiters: dict[str, list[simpy.Event]] = {}  # pod name -> when_ready events
        self.pods = [self._new_pod() for _ in range(self.spec.replicas)]
        self.replicas = TimeWeighted(self.env, len(self.pods))  # desired (spec) replicas

    def pod_seconds(self) -> float:
        """The replicas wanted, integrated over the run so far (pod × s)."""
        return self.replicas.integral()

    def _new_pod(self) -> Pod:
        index = getattr(self, "_created", 0)
        self._created = index + 1
        return Pod(f"{self.name}-{index}", self.env)

    def _place(self, pod: Pod) -> None:
        """Bind ``pod`` to a node (at once on an unlimited cluster), then run it."""
        if self.cluster is None:
            pod.started_s = self.env.now
            self._run(pod)
            return
        req = self.spec.resources
        bound = self.cluster.schedule(pod.name, self.spec.node_pool, req.cpu, req.gpu)
        if bound.triggered:
            pod.started_s = self.env.now
            self._run(pod)
            return
        pod.pending = True

        def on_bound(_ev: simpy.Event) -> None:
            if pod.terminating:
                return
            pod.pending = False
            pod.started_s = self.env.now
            self._run(pod)

        bound.callbacks.append(on_bound)

    def scale_to(self, n: int) -> None:
        """Run ``n`` pods from now: add new pods or remove pods (see :func:`removal_order`).

        Raises
        ------
        ValueError
            ``n`` < 0.
        """
        if n < 0:
            raise ValueError(f"{self.name}: replicas must be >= 0, got {n}")
        while len(self.pods) < n:
            pod = self._new_pod()
            self.pods.append(pod)
            self.on_incident("pod_created", pod.name, "scale-up")
            self._place(pod)
        for pod in removal_order(self.pods)[: max(0, len(self.pods) - n)]:
            self.pods.remove(pod)
            self._terminate(pod)
        self.replicas.set(len(self.pods))

    def _terminate(self, pod: Pod) -> None:
        pod.terminating = True
        self.on_incident("pod_terminating", pod.name, "scale-down")
        if pod.pending:  # never bound: nothing runs
            pod.pending = False
            if self.cluster is not None:
                self.cluster.cancel(pod.name)
            self.on_incident("pod_terminated", pod.name, "while Pending")
            return
        if pod.boot is not None and pod.boot.is_alive:  # starting or restarting: it calls _gone
            pod.boot.interrupt("terminate")
            return
        self._stop(pod)

    def _gone(self, pod: Pod) -> None:
        """``pod``'s last process has ended: free its node."""
        pod.ready = False
        if self.cluster is not None:
            self.cluster.release(pod.name)
        self.on_incident("pod_terminated", pod.name, "")

    def _wait_startup(self, pod: Pod, delay_s: float) -> ProcessGenerator:
        """Wait ``delay_s`` plus the start-up time; True when the pod may run (not removed).

        A deployment outage that began meanwhile holds it until the outage's end plus the
        start-up time (:meth:`outage`)."""
        try:
            yield self.env.timeout(delay_s + self.spec.startup_s)
            while (hold := self._held_s()) > 0:
                yield self.env.timeout(hold)
        except simpy.Interrupt:
            return False
        return not pod.terminating

    def _held_s(self) -> float:
        """How long a pod ready to start now must still wait for the outage (s; <= 0: none)."""
        return self.down_until_s + self.spec.startup_s - self.env.now

    def outage(self, until_s: float) -> None:
        """A deployment outage from now to ``until_s``: every ready pod crashes (restarting at
        ``until_s``), and no pod becomes ready before ``until_s`` plus its start-up time
        (pods starting or restarting meanwhile wait; overlapping outages end with the last)."""
        self.down_until_s = max(self.down_until_s, until_s)
        for index, pod in enumerate(list(self.pods)):
            if pod.ready:
                self.crash(index, max(0.0, self.down_until_s - self.env.now))

    def when_ready(self, index: int) -> simpy.Event | None:
        """An event that fires when pod ``index`` (live pods in creation order) is next ready
        (at once if it is); None when there is no such pod."""
        if not 0 <= index < len(self.pods):
            return None
        pod, ev = self.pods[index], self.env.event()
        if pod.ready:
            return ev.succeed()
        self._waiters.setdefault(pod.name, []).append(ev)
        return ev

    def _announce_ready(self, pod: Pod) -> None:
        """``pod`` has just become ready: fire its :meth:`when_ready` events."""
        if self._waiters:
            for ev in self._waiters.pop(pod.name, ()):
                ev.succeed()

    def crash(self, index: int, restart_s: float) -> bool:
        """Crash pod ``index`` now; it restarts after ``restart_s`` + start-up time.

        ``index`` counts the live pods in creation order (pod 0 is the oldest). When an
        autoscaler has left fewer pods than that, the crash is skipped (a ``pod_crash_skipped``
        incident says so). Returns whether the pod crashed (False: it was not ready: starting,
        restarting, or skipped). What a crash does to the pod's work is the subclass's
        (:meth:`_crash`).

        Raises
        ------
        IndexError
            ``index`` is not a pod of this fixed-size deployment (``0 <= index < replicas``;
            the scenario rejects such a fault at validation).
        """
        if not 0 <= index < len(self.pods):
            if self.spec.autoscaling is not None and index >= 0:
                self.on_incident("pod_crash_skipped", self.name,
                                 f"no pod {index}: the autoscaler left {len(self.pods)}")
                return False
            raise IndexError(f"{self.name}: no pod {index} (replicas {len(self.pods)})")
        pod = self.pods[index]
        if pod.crashed or not pod.ready:
            return False
        pod.crashed, pod.ready = True, False
        self.on_incident(
            "pod_crash", pod.name, f"restart in {restart_s + self.spec.startup_s:.3f} s"
        )
        self._crash(pod, restart_s)
        return True

    @abstractmethod
    def _crash(self, pod: Pod, restart_s: float) -> None:
        """``pod`` has just crashed: stop its work; it restarts after ``restart_s`` +
        start-up."""

    @abstractmethod
    def _run(self, pod: Pod) -> None:
        """Start ``pod``, just bound to a node (its start-up, then its consumers)."""

    @abstractmethod
    def _stop(self, pod: Pod) -> None:
        """Stop the running, terminating ``pod`` gracefully; :meth:`_gone` when done."""
