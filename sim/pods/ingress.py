"""The transaction-ingestor, event-driven: a shared FIFO of requests served by c servers.

The ingestor runs behind a Kubernetes Service: one queue of requests served one at a time by
``replicas x concurrency`` servers (the M/M/c stage checked against Erlang C). A request arriving
to a full queue (``queue_limit``) is shed (``overflow: shed``, a load-shedding ingress answering
503), or held by its caller (``overflow: block``: back-pressure to the client) in FIFO order
until a place in the queue frees; its latency counts from its arrival. Producing to a bounded
``transactions`` topic can block a server (producer back-pressure). This is the model of record;
its precomputed twin is ``sim.pods.ingress_schedule.ScheduledIngress``, chosen in
``sim.engine`` (not when a fault can act on the ingestor).

A crashed pod (:meth:`Ingress.crash`, a deployment outage) stops its servers. The request each
was serving is not lost: the client's connection broke, and the Service (its load balancer, or
the client's retry) sends it again to another server, so it goes back to the front of the queue
(beyond ``queue_limit`` if need be: it was admitted already), the oldest first; its service
starts over. A server blocked on its produce at the crash finishes that produce (the record was
handed to the producer), then stops. The pod restarts after its delay plus ``startup_s``; with
every pod down, arriving requests queue, or are shed or held by ``queue_limit`` / ``overflow``.

Mid-run reads: everything here is current whenever read (``catch_up`` is a no-op kept for the
twin's sake: a reader that calls it before reading is right with either).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.pods.replicas import Pod, PodLifecycle
from sim.pods.service_time import ServiceTime
from sim.process import ProcessGenerator
from sim.record.timeweighted import TimeWeighted
from sim.scenario import IngestorSpec

if TYPE_CHECKING:
    from sim.pods.cluster import Cluster
    from sim.record.ledger import Ledger

__all__ = ["Ingress", "feed_arrivals"]


class Ingress(PodLifecycle):
    """The transaction-ingestor: a shared FIFO of requests served by c servers.

    Parameters
    ----------
    env : simpy.Environment
    spec : IngestorSpec
    rng : numpy.random.Generator
        Service-time stream.
    serve : callable(record, start_s, end_s, server_name)
        Called when a request completes (validation, produce); may return a generator to
        ``yield from`` (producer back-pressure).
    shed : callable(record, reason)
        Called for a request arriving to a full queue (``overflow: shed``).
    on_incident : callable(kind, target, detail), optional
        Called on pod scaling (``sim.pods.replicas``).
    cluster : sim.pods.cluster.Cluster, optional
        Where its pods are scheduled (None: every pod fits at once).

    Attributes
    ----------
    queue : deque of int
        Requests waiting for a server (at most ``queue_limit``).
    callers : deque of int
        Requests held by their callers while the queue is full (``overflow: block``).
    depth, held, busy, ready_consumers : TimeWeighted
        Requests in the queue, held by callers, in service; ready servers.
    """

    name = "transaction_ingestor"

    def __init__(
        self,
        env: simpy.Environment,
        spec: IngestorSpec,
        rng: np.random.Generator,
        serve: Callable[[int, float, float, str], ProcessGenerator | None],
        shed: Callable[[int, str], None],
        on_incident: Callable[..., None] | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.env = env
        self.on_incident = on_incident or (lambda kind, pod, detail: None)
        self.spec = spec
        self.service = ServiceTime(spec.service, rng)
        self.serve = serve
        self.shed = shed
        self.queue: deque[int] = deque()
        self.callers: deque[int] = deque()
        self.held = TimeWeighted(env)
        self._idle: deque[tuple[Pod, str]] = deque()
        self.depth = TimeWeighted(env)
        self.busy = TimeWeighted(env)
        self.ready_consumers = TimeWeighted(env)
        self._init_pods(cluster)
        a = spec.autoscaling
        self._per_pod = a is not None and a.kind == "hpa"  # per-pod CPU for the HPA
        self._serving: dict[str, int] = {}  # servers of each pod not yet stopped
        self._epoch: dict[str, int] = {}  # pod name -> crashes: callbacks of an older one lapse
        self._up: dict[str, int] = {}  # pod name -> its ready servers
        self._working: dict[str, tuple[tuple[Pod, str], int]] = {}  # server -> its request

    def start(self) -> None:
        """Schedule the pods; each pod's servers are ready ``startup_s`` after it is on a node
        (idle at once when it is 0)."""
        for pod in self.pods:
            self._place(pod)

    def _run(self, pod: Pod) -> None:
        self._serving[pod.name] = self.spec.concurrency
        self._start_servers(pod, 0.0)

    def _start_servers(self, pod: Pod, delay_s: float) -> None:
        """Each server of ``pod`` is ready ``delay_s`` + ``startup_s`` from now."""
        epoch = self._epoch.get(pod.name, 0)
        wait = delay_s + self.spec.startup_s
        for c in range(self.spec.concurrency):
            server = (pod, f"{pod.name}/s{c}")
            if wait > 0:
                ev = self.env.timeout(wait)
                ev.callbacks.append(lambda _ev, server=server: self._ready(server, epoch))
            else:
                self._ready(server, epoch)

    def _crash(self, pod: Pod, restart_s: float) -> None:
        """The crashed pod's servers stop, their requests go back to the front of the queue
        (module docstring); it restarts after ``restart_s`` + start-up time."""
        self._halt(pod)
        self._start_servers(pod, restart_s)
        while self._idle and self.queue:  # another pod's idle servers take the requests back
            self._next(self._idle.popleft())

    def _halt(self, pod: Pod) -> None:
        """Stop every server of ``pod`` now: idle ones leave the idle list, busy ones give their
        request back to the front of the queue; their pending callbacks lapse."""
        self._epoch[pod.name] = self._epoch.get(pod.name, 0) + 1
        self._idle = deque(s for s in self._idle if s[0] is not pod)
        back = [(server, record) for server, record in self._working.values() if server[0] is pod]
        for server, record in reversed(back):  # the oldest ends up first
            del self._working[server[1]]
            self.queue.appendleft(record)
            self.depth.add(1)
            self.busy.add(-1)
            if self._per_pod:
                pod.busy.add(-1)  # type: ignore[union-attr]
        self.ready_consumers.add(-self._up.get(pod.name, 0))
        self._up[pod.name] = 0

    def _stop(self, pod: Pod) -> None:
        """Scale-down: idle servers stop now, busy ones after their request; servers not yet
        ready never start (a crashed pod's stop at once)."""
        if pod.crashed:
            self._epoch[pod.name] = self._epoch.get(pod.name, 0) + 1  # its restart lapses
            for c in range(self._serving[pod.name]):
                self._retire((pod, f"{pod.name}/s{c}"), was_ready=False)
            return
        pod.ready = False
        for server in [s for s in self._idle if s[0] is pod]:
            self._idle.remove(server)
            self._retire(server)

    def _retire(self, server: tuple[Pod, str], was_ready: bool = True) -> None:
        pod = server[0]
        if was_ready:
            self.ready_consumers.add(-1)
        self._serving[pod.name] -= 1
        if self._serving[pod.name] == 0:
            self._gone(pod)

    def catch_up(self, until_s: float | None = None) -> None:
        """Nothing to catch up: every request is an event (see ``sim.pods.ingress_schedule``)."""

    def submit(self, record: int) -> None:
        """A request arrives now: an idle server takes it, else it queues (or, the queue full,
        is shed or held by its caller)."""
        if self._idle:
            self._begin(self._idle.popleft(), record)
            return
        limit = self.spec.queue_limit
        if limit is not None and (len(self.queue) >= limit or self.callers):
            if self.spec.overflow == "block":
                self.callers.append(record)
                self.held.add(1)
                return
            self.shed(record, f"ingress queue full (queue_limit={limit})")
            return
        self.queue.append(record)
        self.depth.add(1)

    # Each server is a small state machine driven by event callbacks rather than a SimPy
    # process: one Timeout per request (its service), no wake-up event, no generator resume.
    # The queue discipline is the same FCFS over c servers; idle servers are taken in the order
    # they became idle.
    def _ready(self, server: tuple[Pod, str], epoch: int) -> None:
        pod = server[0]
        if epoch != self._epoch.get(pod.name, 0):  # the pod crashed or stopped meanwhile
            return
        if pod.terminating:  # removed while starting
            self._retire(server, was_ready=False)
            return
        if (hold := self._held_s()) > 0:  # a deployment outage: wait for its end
            ev = self.env.timeout(hold)
            ev.callbacks.append(lambda _ev: self._ready(server, epoch))
            return
        if not pod.ready:
            if pod.crashed:  # back from a crash (the first start logs nothing, as before)
                self.on_incident("pod_ready", pod.name, "after its restart")
            pod.ready, pod.crashed, pod.ready_since_s = True, False, self.env.now
            self._announce_ready(pod)
        self._up[pod.name] = self._up.get(pod.name, 0) + 1
        self.ready_consumers.add(1)
        self._next(server)

    def _next(self, server: tuple[Pod, str]) -> None:
        """The server is free now: take the head of the queue, or go idle (or stop, its pod
        terminating)."""
        if server[0].terminating:
            self._retire(server)
        elif self.queue:
            record = self.queue.popleft()
            self.depth.add(-1)
            self._begin(server, record)
            if self.callers:  # a place freed: the first waiting caller enters the queue
                self.queue.append(self.callers.popleft())
                self.held.add(-1)
                self.depth.add(1)
        elif self.callers:  # queue_limit 0: a caller's request goes straight to the server
            self.held.add(-1)
            self._begin(server, self.callers.popleft())
        else:
            self._idle.append(server)

    def _begin(self, server: tuple[Pod, str], record: int) -> None:
        self.busy.add(1)
        if self._per_pod:
            server[0].busy.add(1)  # type: ignore[union-attr]
        start_s = self.env.now
        self._working[server[1]] = (server, record)
        epoch = self._epoch.get(server[0].name, 0)
        ev = self.env.timeout(self.service.draw(1))
        ev.callbacks.append(lambda _ev: self._end(server, record, start_s, epoch))

    def _end(self, server: tuple[Pod, str], record: int, start_s: float, epoch: int) -> None:
        if epoch != self._epoch.get(server[0].name, 0):  # crashed: the request was given back
            return
        del self._working[server[1]]
        self.busy.add(-1)
        if self._per_pod:
            server[0].busy.add(-1)  # type: ignore[union-attr]
        out = self.serve(record, start_s, self.env.now, server[1])
        if out is None:
            self._next(server)
        else:  # producer back-pressure: resume serving once the produce has completed
            self.env.process(out).callbacks.append(lambda _p: self._resume(server, epoch))

    def _resume(self, server: tuple[Pod, str], epoch: int) -> None:
        """The server's blocked produce has completed: serve on (unless its pod crashed)."""
        if epoch == self._epoch.get(server[0].name, 0):
            self._next(server)


def feed_arrivals(
    env: simpy.Environment, arrival_s: np.ndarray, ledger: Ledger, ingress: Ingress
) -> None:
    """Submit each transaction to the event-driven ``ingress`` at its arrival time.

    A chain of Timeout callbacks rather than a process (no generator resume per arrival);
    arrivals at the same instant are submitted back to back, in row order. ``ledger.arrived``
    counts the rows submitted so far. (The precomputed twin plays the arrivals itself.)
    """
    submit = ingress.submit
    times = np.asarray(arrival_s, dtype=np.float64).tolist()
    n, nxt = len(times), 0

    def step(timer: simpy.Event) -> None:
        nonlocal nxt
        due = timer is not start  # a timer set for row `nxt` has expired: it arrives now
        while nxt < n:
            if not due and times[nxt] - env.now > 0:
                env.timeout(times[nxt] - env.now).callbacks.append(step)
                return
            due = False
            ledger.arrived = nxt + 1
            submit(nxt)
            nxt += 1

    start = env.timeout(0)
    start.callbacks.append(step)
