"""Node pools, the kube-scheduler's fit and the Cluster Autoscaler's decisions (no SimPy inside).

- :class:`Node` / :class:`NodePool`: a pool's nodes, each with allocatable CPU cores and GPUs
  (``nvidia.com/gpu``) and the requests of the pods bound to it. Nodes are named
  ``f"{pool}-node-{i}"`` with ``i`` counting up from 0, never reused after a removal.
- :func:`fit`: the kube-scheduler's filter and score for one pod.
- :class:`ClusterAutoscaler`: how many nodes to add for the Pending pods and which empty nodes
  to remove, following the Kubernetes Cluster Autoscaler (``--scan-interval`` 10 s,
  ``--scale-down-unneeded-time`` 10 min; Cluster Autoscaler FAQ, "How does scale-up work?" and
  "How does scale-down work?").

The SimPy driver (``sim.pods.cluster``) moves time and fires events; every decision is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.scenario.cluster import ClusterAutoscalerSpec, NodePoolSpec

__all__ = ["ClusterAutoscaler", "Node", "NodePool", "fit"]

_EPS = 1e-9  # CPU requests are sums of floats: 8 x 0.5 must fit 4 cores


@dataclass
class Node:
    """One node: allocatable ``cpu`` cores and ``gpu`` GPUs, and what its pods request.

    ``used_cpu`` / ``used_gpu`` are the sums of the requests of the pods in ``pods`` (requests,
    not usage, as the kube-scheduler counts). A node that is not ``ready`` (booting) takes no
    pod. ``empty_since_s`` is when it last had no pod (its readiness or its last pod's
    removal), None while it runs pods.
    """

    name: str
    pool: str
    cpu: float
    gpu: int
    used_cpu: float = 0.0
    used_gpu: int = 0
    pods: set[str] = field(default_factory=set)
    ready: bool = True
    empty_since_s: float | None = 0.0

    def fits(self, cpu: float, gpu: int) -> bool:
        """Whether a pod requesting ``cpu`` cores and ``gpu`` GPUs fits now (ready nodes only).

        >>> Node("cpu-node-0", "cpu", cpu=4.0, gpu=0, used_cpu=3.0).fits(1.0, 0)
        True
        >>> Node("cpu-node-0", "cpu", cpu=4.0, gpu=0).fits(0.5, 1)
        False
        """
        return self.ready and self.free_fits(cpu, gpu)

    def free_fits(self, cpu: float, gpu: int) -> bool:
        """Whether the requests fit the free resources, ready or not."""
        return (self.used_cpu + cpu <= self.cpu + _EPS) and self.used_gpu + gpu <= self.gpu


class NodePool:
    """The state of one node pool, built from its :class:`~sim.scenario.cluster.NodePoolSpec`.

    Parameters
    ----------
    name : str
        The pool's name (a key of ``cluster.node_pools``).
    spec : NodePoolSpec
        ``nodes`` ready nodes at ``now_s`` of ``cpu`` cores and ``gpu`` GPUs each.
    now_s : float
        The creation time (s): the initial nodes are empty since then.

    Attributes
    ----------
    nodes : list of Node
        Ready and starting nodes, in creation order (the scheduler's node order).
    bound : dict
        Pod name -> (node, cpu, gpu) of every pod bound to a node of the pool.
    """

    def __init__(self, name: str, spec: NodePoolSpec, now_s: float = 0.0) -> None:
        self.name, self.spec = name, spec
        self.nodes: list[Node] = []
        self.bound: dict[str, tuple[Node, float, int]] = {}
        self._next = 0
        for _ in range(spec.nodes):
            self.add_node(now_s, ready=True)

    def add_node(self, now_s: float, ready: bool = False) -> Node:
        """A new empty node of the pool's shape (booting unless ``ready``), appended last."""
        node = Node(f"{self.name}-node-{self._next}", self.name, self.spec.cpu, self.spec.gpu,
                    ready=ready, empty_since_s=now_s if ready else None)
        self._next += 1
        self.nodes.append(node)
        return node

    def mark_ready(self, node: Node, now_s: float) -> None:
        """A booting ``node`` became ready at ``now_s``: it takes pods, and is empty since."""
        node.ready = True
        if not node.pods:
            node.empty_since_s = now_s

    def remove_node(self, node: Node) -> None:
        """Delete an empty ``node``.

        Raises
        ------
        ValueError
            The node still runs pods, or is not in the pool.
        """
        if node.pods or node not in self.nodes:
            raise ValueError(f"remove_node: {node.name} is not an empty node of pool {self.name}")
        self.nodes.remove(node)

    def bind(self, pod: str, node: Node, cpu: float, gpu: int) -> None:
        """Bind ``pod`` (requests ``cpu``, ``gpu``) to ``node``.

        Raises
        ------
        ValueError
            The pod is bound already, or does not fit ``node``.
        """
        if pod in self.bound or not node.fits(cpu, gpu):
            raise ValueError(f"bind: {pod} is bound already or does not fit {node.name}")
        node.pods.add(pod)
        node.used_cpu += cpu
        node.used_gpu += gpu
        node.empty_since_s = None
        self.bound[pod] = (node, cpu, gpu)

    def unbind(self, pod: str, now_s: float) -> Node:
        """Remove ``pod`` from its node at ``now_s`` and return the node (KeyError if unbound)."""
        node, cpu, gpu = self.bound.pop(pod)
        node.pods.discard(pod)
        node.used_gpu -= gpu
        if node.pods:
            node.used_cpu -= cpu
        else:  # no float residue on an empty node
            node.used_cpu, node.empty_since_s = 0.0, now_s
        return node

    def ready_nodes(self) -> int:
        """Nodes that take pods."""
        return sum(n.ready for n in self.nodes)

    def starting_nodes(self) -> int:
        """Nodes added and still booting."""
        return sum(not n.ready for n in self.nodes)


def fit(pool: NodePool, cpu: float, gpu: int) -> Node | None:
    """The node of ``pool`` the kube-scheduler binds a pod requesting ``cpu`` cores and ``gpu``
    GPUs to, or None (the pod stays Pending).

    Filter: as the kube-scheduler's ``NodeResourcesFit`` plugin, a ready node whose allocatable
    resources less the requests already bound to it hold the pod's requests. Score: Kubernetes'
    default scores ``LeastAllocated`` (the node with the most free resources wins, ties broken
    at random); we take the first fitting node in node order (creation order) instead, for
    determinism. It packs pods onto the oldest nodes, which leaves the newest ones empty for the
    Cluster Autoscaler to remove.

    Examples
    --------
    >>> from sim.scenario.cluster import NodePoolSpec
    >>> pool = NodePool("cpu", NodePoolSpec(nodes=2, cpu=4.0))
    >>> pool.bind("a", fit(pool, 3.0, 0), 3.0, 0)
    >>> fit(pool, 2.0, 0).name  # 1 core left on node 0
    'cpu-node-1'
    >>> fit(pool, 1.0, 1) is None  # no GPU in the pool
    True
    """
    return next((n for n in pool.nodes if n.fits(cpu, gpu)), None)


class ClusterAutoscaler:
    """The Cluster Autoscaler of one node pool (pure decisions; the driver scans every
    ``spec.scan_interval_s``, 10 s by default).

    Scale-up (Cluster Autoscaler FAQ, "How does scale-up work?"): the Pending pods are packed,
    largest first, onto the free room of the pool's ready nodes, then of its nodes still
    starting (the CA counts upcoming nodes as if they were there), then onto new empty nodes
    of the pool's shape (its binpacking estimator); a pod that would not fit even an empty
    node is ignored (no node is added for it). The count is capped at ``max_nodes`` less the
    pool's nodes.

    Scale-down (FAQ, "How does scale-down work?"): a ready node with no pod for at least
    ``scale_down_unneeded_s`` (``--scale-down-unneeded-time``, 10 min) is removed, never below
    ``min_nodes``. Not modelled: removing under-used nodes by moving their pods
    (``--scale-down-utilization-threshold`` 0.5), ``--scale-down-delay-after-add`` (10 min),
    and the CA's own noticing of the empty node at a scan (here the time counts from when the
    node became empty).

    Parameters
    ----------
    spec : ClusterAutoscalerSpec
        ``min_nodes``, ``max_nodes``, ``scale_down_unneeded_s`` (s).

    Examples
    --------
    >>> from sim.scenario.cluster import NodePoolSpec
    >>> ca = ClusterAutoscaler(ClusterAutoscalerSpec(max_nodes=5))
    >>> pool = NodePool("cpu", NodePoolSpec(nodes=0, cpu=4.0))
    >>> ca.scale_up(pool, [(1.5, 0)] * 3, now_s=0.0)  # two pods on one node, one on another
    2
    """

    def __init__(self, spec: ClusterAutoscalerSpec) -> None:
        self.spec = spec

    def scale_up(self, pool: NodePool, pending_requests: list[tuple[float, int]],
                 now_s: float) -> int:
        """Nodes to add to ``pool`` at ``now_s`` (s) for the Pending pods' ``(cpu, gpu)``
        requests (0 when they all fit the nodes there or starting, or no room is left under
        ``max_nodes``). ``now_s`` is unused: the CA's ``--new-pod-scale-up-delay`` is 0 s."""
        del now_s
        shape = pool.spec
        free = [[n.cpu - n.used_cpu, n.gpu - n.used_gpu] for n in pool.nodes]
        existing = len(free)

        def share(req: tuple[float, int]) -> float:
            return req[0] / shape.cpu + (req[1] / shape.gpu if shape.gpu else 0.0)

        for cpu, gpu in sorted(pending_requests, key=share, reverse=True):
            if cpu > shape.cpu + _EPS or gpu > shape.gpu:
                continue  # fits no node of the pool: the CA adds none for it
            room = next((r for r in free if cpu <= r[0] + _EPS and gpu <= r[1]), None)
            if room is None:
                room = [shape.cpu, shape.gpu]
                free.append(room)
            room[0] -= cpu
            room[1] -= gpu
        return max(0, min(len(free) - existing, self.spec.max_nodes - existing))

    def scale_down(self, pool: NodePool, now_s: float) -> list[Node]:
        """The ready nodes of ``pool`` to remove at ``now_s`` (s): empty for at least
        ``scale_down_unneeded_s``, the longest-empty first, keeping ``min_nodes`` nodes."""
        unneeded = [n for n in pool.nodes if n.ready and not n.pods
                    and n.empty_since_s is not None
                    and now_s - n.empty_since_s >= self.spec.scale_down_unneeded_s]
        unneeded.sort(key=lambda n: n.empty_since_s or 0.0)
        room = max(0, len(pool.nodes) - self.spec.min_nodes)
        return unneeded[:room]
