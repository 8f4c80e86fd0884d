"""The cluster's node pools in time: pods bound to nodes, Pending pods, the Cluster Autoscaler.

A :class:`Cluster` holds one :class:`~sim.policies.scheduling.NodePool` per entry of
``cluster.node_pools``. A deployment asks it for room for each new pod
(:meth:`Cluster.schedule`): the pod is bound at once when a ready node fits its requests (the
kube-scheduler's fit, :func:`~sim.policies.scheduling.fit`), else it is Pending until a node
frees (:meth:`Cluster.release`) or a node added by the pool's Cluster Autoscaler becomes ready.
The autoscaler's process scans every ``scan_interval_s`` and applies the pure decisions of
:class:`~sim.policies.scheduling.ClusterAutoscaler`; this module only moves time, fires events
and logs incidents (``pod_pending``, ``pod_scheduled``, ``node_added``, ``node_ready``,
``node_removed``).

An empty ``cluster.node_pools`` is an unlimited cluster (:attr:`Cluster.unlimited`): callers
then do not use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import simpy

from sim.policies.scheduling import ClusterAutoscaler, Node, NodePool, fit
from sim.process import ProcessGenerator
from sim.scenario.cluster import ClusterSpec

__all__ = ["Cluster"]

Log = Callable[..., None]
"""The run's incident log: ``log(kind, target, detail, duration_s=nan)``."""


@dataclass
class _Pending:
    cpu: float
    gpu: int
    event: simpy.Event
    since_s: float


class Cluster:
    """The node pools of a run, their Pending pods and their Cluster Autoscalers.

    Parameters
    ----------
    env : simpy.Environment
    spec : ClusterSpec
        The pools by name (the first is the default pool of a deployment).
    log : callable
        The run's :class:`~sim.record.incidents.IncidentLog`.

    Examples
    --------
    >>> from sim.scenario.cluster import NodePoolSpec
    >>> env = simpy.Environment()
    >>> c = Cluster(env, ClusterSpec(node_pools={"cpu": NodePoolSpec(nodes=1, cpu=2.0)}),
    ...             lambda *a, **k: None)
    >>> c.schedule("a-0", None, 1.5, 0).value
    'cpu-node-0'
    >>> c.schedule("a-1", None, 1.5, 0).triggered, c.pending()  # no room: Pending
    (False, 1)
    """

    def __init__(self, env: simpy.Environment, spec: ClusterSpec, log: Log) -> None:
        self.env, self.spec, self.log = env, spec, log
        self.pools = {name: NodePool(name, p, env.now) for name, p in spec.node_pools.items()}
        self.autoscalers = {name: ClusterAutoscaler(p.autoscaler)
                            for name, p in spec.node_pools.items() if p.autoscaler is not None}
        self._pending: dict[str, dict[str, _Pending]] = {name: {} for name in self.pools}
        self._pool_of: dict[str, str] = {}  # pod -> its pool (bound or Pending)

    @property
    def unlimited(self) -> bool:
        """True when there are no node pools (every pod fits at once; the cluster is unused)."""
        return not self.pools

    def _pool(self, pool: str | None) -> NodePool:
        if not self.pools:
            raise ValueError("node_pool: the cluster is unlimited (cluster.node_pools is empty)")
        name = next(iter(self.pools)) if pool is None else pool
        if name not in self.pools:
            raise ValueError(f"node_pool: no pool {name!r} (pools: {', '.join(self.pools)})")
        return self.pools[name]

    def schedule(self, pod: str, pool: str | None, cpu: float, gpu: int) -> simpy.Event:
        """Ask for a node for ``pod`` requesting ``cpu`` cores and ``gpu`` GPUs in ``pool``
        (None = the first pool).

        Returns
        -------
        simpy.Event
            Its value is the node's name. Already succeeded when a ready node fits now; else
            the pod is Pending (incident ``pod_pending``) and the event succeeds when the pod
            is bound: a pool's Pending pods are tried in arrival order whenever room appears,
            and a pod that fits is bound even if an older, larger one does not (the
            kube-scheduler retries unschedulable pods; no head-of-line blocking).

        Raises
        ------
        ValueError
            An unknown pool, ``cpu`` <= 0, ``gpu`` < 0, or a pod already bound or Pending.
        """
        p = self._pool(pool)
        if cpu <= 0 or gpu < 0:
            raise ValueError(f"resources: need cpu > 0 and gpu >= 0, got cpu={cpu}, gpu={gpu}")
        if pod in self._pool_of:
            raise ValueError(f"schedule: pod {pod} is already bound or Pending")
        event = self.env.event()
        self._pool_of[pod] = p.name
        node = fit(p, cpu, gpu)
        if node is not None:
            p.bind(pod, node, cpu, gpu)
            event.succeed(node.name)
        else:
            self._pending[p.name][pod] = _Pending(cpu, gpu, event, self.env.now)
            self.log("pod_pending", pod,
                     f"no ready node of pool {p.name} has cpu {cpu:g}, gpu {gpu} free")
        return event

    def cancel(self, pod: str) -> None:
        """Delete ``pod`` while Pending: it leaves the queue and its event never fires.

        A pod already bound (its event fired at this instant) is released instead.

        Raises
        ------
        KeyError
            ``pod`` is neither Pending nor bound.
        """
        name = self._pool_of.get(pod)
        if name is not None and pod in self._pending[name]:
            del self._pending[name][pod], self._pool_of[pod]
        else:
            self.release(pod)

    def release(self, pod: str) -> None:
        """Delete the bound ``pod``: its requests are freed and the Pending pods that now fit
        are bound. A Pending ``pod`` is cancelled instead.

        Raises
        ------
        KeyError
            ``pod`` is neither bound nor Pending.
        """
        name = self._pool_of.get(pod)
        if name is None:
            raise KeyError(f"release: pod {pod} is neither bound nor Pending")
        if pod in self._pending[name]:
            self.cancel(pod)
            return
        del self._pool_of[pod]
        self.pools[name].unbind(pod, self.env.now)
        self._bind_pending(name)

    def _bind_pending(self, name: str) -> None:
        pool, now = self.pools[name], self.env.now
        for pod, w in list(self._pending[name].items()):
            node = fit(pool, w.cpu, w.gpu)
            if node is None:
                continue
            pool.bind(pod, node, w.cpu, w.gpu)
            del self._pending[name][pod]
            self.log("pod_scheduled", pod, f"on {node.name} after {now - w.since_s:g} s Pending",
                     now - w.since_s)
            w.event.succeed(node.name)

    def pending(self, pool: str | None = None) -> int:
        """Pending pods of ``pool`` (None = of all pools)."""
        if pool is None:
            return sum(len(q) for q in self._pending.values())
        return len(self._pending[self._pool(pool).name])

    def nodes_ready(self, pool: str) -> int:
        """Ready nodes of ``pool``."""
        return self._pool(pool).ready_nodes()

    def nodes_starting(self, pool: str) -> int:
        """Nodes of ``pool`` added by its autoscaler and still booting."""
        return self._pool(pool).starting_nodes()

    def start(self) -> None:
        """Start one Cluster Autoscaler process per pool that has one (first scan now)."""
        for name in self.autoscalers:
            self.env.process(self._autoscale(name))

    def _autoscale(self, name: str) -> ProcessGenerator:
        pool, ca = self.pools[name], self.autoscalers[name]
        spec = ca.spec
        while True:
            now = self.env.now
            queue = self._pending[name]
            add = ca.scale_up(pool, [(w.cpu, w.gpu) for w in queue.values()], now)
            for _ in range(add):
                node = pool.add_node(now)
                self.log("node_added", node.name, f"for {len(queue)} pending pods, ready in "
                         f"{spec.node_startup_s:g} s", spec.node_startup_s)
                self.env.process(self._boot(pool, node, spec.node_startup_s))
            for node in ca.scale_down(pool, now):
                since = node.empty_since_s
                pool.remove_node(node)
                self.log("node_removed", node.name, f"empty since {since:g} s")
            yield self.env.timeout(spec.scan_interval_s)

    def _boot(self, pool: NodePool, node: Node, startup_s: float) -> ProcessGenerator:
        yield self.env.timeout(startup_s)
        pool.mark_ready(node, self.env.now)
        self.log("node_ready", node.name, f"after {startup_s:g} s")
        self._bind_pending(pool.name)

    def sample(self) -> list[tuple[str, str, float]]:
        """Rows ``(metric, labels, value)`` for the Monitor, per pool:
        ``cluster_autoscaler_nodes_count`` (the Cluster Autoscaler's gauge; labels
        ``pool=<p>,state=ready`` and ``state=starting``, the CA's ``notStarted``) and
        ``kube_pod_status_phase`` (kube-state-metrics; ``pool=<p>,phase=Pending``)."""
        rows: list[tuple[str, str, float]] = []
        for name, pool in self.pools.items():
            rows.append(("cluster_autoscaler_nodes_count", f"pool={name},state=ready",
                         float(pool.ready_nodes())))
            rows.append(("cluster_autoscaler_nodes_count", f"pool={name},state=starting",
                         float(pool.starting_nodes())))
            rows.append(("kube_pod_status_phase", f"pool={name},phase=Pending",
                         float(len(self._pending[name]))))
        return rows

