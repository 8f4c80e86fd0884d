"""The HPA's replica count from CPU utilisation, as pure functions (no SimPy inside).

Kubernetes' ``pkg/controller/podautoscaler/replica_calculator.go``: :func:`group_pods` sorts a
deployment's pods into CPU samples that count and unready pods (the CPU-initialization period
and the initial readiness delay), :func:`cpu_replicas` turns them into the raw recommendation
that :meth:`sim.policies.hpa.HorizontalPodAutoscaler.recommend` stabilizes and rate-limits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["PodGroups", "PodSample", "cpu_replicas", "group_pods"]


@dataclass(frozen=True)
class PodSample:
    """What the HPA sees of one running pod at a sync.

    Attributes
    ----------
    started_s : float
        The pod's start (``status.startTime``; here when it was scheduled), s.
    ready : bool
        Its Ready condition now.
    ready_since_s : float or None
        When it last became ready (the condition's ``lastTransitionTime`` while ready), s;
        None if it never was.
    utilization : float or None
        Mean CPU use over the last metric window / its request (0..1); None if it had no
        ready time in the window.
    """

    started_s: float
    ready: bool
    ready_since_s: float | None
    utilization: float | None


class PodGroups(NamedTuple):
    """The pods of one sync as the controller sorts them (:func:`group_pods`): the CPU
    utilisations that count, and how many pods are unready or *missing* (no sample)."""

    ready: list[float]
    unready: int
    missing: int


def _unready(now_s: float, pod: PodSample, window_s: float, cpu_initialization_s: float,
             initial_readiness_delay_s: float) -> bool:
    since = pod.ready_since_s
    if pod.started_s + cpu_initialization_s > now_s:  # still initialising
        return not pod.ready or since is None or now_s < since + window_s
    return not pod.ready and (since is None or pod.started_s + initial_readiness_delay_s > since)


def group_pods(now_s: float, pods: Iterable[PodSample], window_s: float,
               cpu_initialization_s: float = 300.0,
               initial_readiness_delay_s: float = 30.0) -> PodGroups:
    """Split the pods into CPU samples that count, unready pods and missing ones, as
    ``groupPods`` of Kubernetes' ``pkg/controller/podautoscaler/replica_calculator.go`` does
    for CPU.

    - A pod younger than ``cpu_initialization_s`` (its start + the period is after ``now_s``)
      is unready if it is not ready, or if it became ready less than ``window_s`` ago (its
      metric sample, ending now, began before it was ready).
    - An older pod is unready only if it is not ready and its Ready condition last changed
      less than ``initial_readiness_delay_s`` after its start: here, never ready, or ready only
      within that delay (``ready_since_s`` stands for the transition time, which it bounds
      from below).
    - A pod that is not unready but has no sample (``utilization`` None: an old pod that
      crashed after it had been ready) is *missing*: :func:`cpu_replicas` counts it at 100 %
      on a scale-down and 0 % on a scale-up.

    Terminating and failed pods are left out by the caller. Kubernetes puts Pending pods
    among the unready (the code's comment says "ignored", but they join ``unreadyPods`` and so
    count at 0 % on a scale-up): pass a Pending pod as not ready, started ``now_s``.

    Parameters
    ----------
    now_s, window_s : float
        The sync's time and the metric window (metrics-server: its resolution), s.
    pods : iterable of PodSample
        The deployment's running (and, if wanted, Pending) pods.
    cpu_initialization_s, initial_readiness_delay_s : float
        ``--horizontal-pod-autoscaler-cpu-initialization-period`` (5 min) and
        ``--horizontal-pod-autoscaler-initial-readiness-delay`` (30 s), s.

    Returns
    -------
    PodGroups
        ``(ready, unready, missing)``: the utilisations that count, and how many pods are
        unready and missing.

    Examples
    --------
    >>> young = PodSample(started_s=100.0, ready=True, ready_since_s=190.0, utilization=0.9)
    >>> settled = PodSample(started_s=0.0, ready=True, ready_since_s=40.0, utilization=0.5)
    >>> group_pods(200.0, [young, settled], window_s=15.0)  # young's sample predates readiness
    PodGroups(ready=[0.5], unready=1, missing=0)
    """
    utils, unready, missing = [], 0, 0
    for p in pods:
        if _unready(now_s, p, window_s, cpu_initialization_s, initial_readiness_delay_s):
            unready += 1
        elif p.utilization is None:
            missing += 1
        else:
            utils.append(p.utilization)
    return PodGroups(utils, unready, missing)


def cpu_replicas(current: int, ready_utils: list[float], unready: int, target: float,
                 tolerance: float = 0.1, *, missing: int = 0) -> tuple[int, float]:
    """The raw replica count for a CPU utilisation target, as ``GetResourceReplicas`` of
    Kubernetes' ``pkg/controller/podautoscaler/replica_calculator.go``.

    ``ratio = mean(ready_utils) / target``. Without missing pods, and unless it is a scale-up
    (``ratio > 1``) with unready pods: within ``1 ± tolerance`` keep ``current``, else
    ``ceil(ratio × len(ready_utils))``. Otherwise the controller fills in: missing pods at
    100 % of their request on a scale-down (``ratio < 1``) and 0 % on a scale-up, unready pods
    at 0 % on a scale-up, and recomputes the ratio over all of them; if the new ratio is
    within the tolerance or points the other way, keep ``current``; else ``ceil(new_ratio ×
    pods)``, unless that moves against the new ratio's direction (then ``current``). With no
    ready sample Kubernetes fails the sync ("did not receive metrics"): keep ``current``, with
    ratio NaN.

    Parameters
    ----------
    current : int
        The deployment's replicas.
    ready_utils, unready : list of float, int
        The pods that count (utilisation 0..1 of the request) and the unready ones
        (:func:`group_pods`).
    target, tolerance : float
        ``averageUtilization`` / 100, and the controller's tolerance.
    missing : int
        Pods without a sample that are not unready (:func:`group_pods`).

    Returns
    -------
    (int, float)
        The raw recommendation and the usage ratio of the ready pods.

    Raises
    ------
    ValueError
        ``target`` <= 0, a negative count, tolerance or utilisation.

    Examples
    --------
    >>> cpu_replicas(4, [1.0, 1.0], unready=2, target=0.5)  # 2 ready at 200 %, 2 starting
    (4, 2.0)
    >>> cpu_replicas(4, [1.0, 1.0, 1.0], unready=1, target=0.5)[0]  # 3 at 0.5 over 4: 150 %
    6
    >>> cpu_replicas(4, [0.2, 0.2], unready=0, target=0.5, missing=2)[0]  # missing at 100 %
    4
    """
    if target <= 0 or min(current, unready, missing) < 0 or tolerance < 0 or any(
            u < 0 for u in ready_utils):
        raise ValueError(f"cpu_replicas: need target > 0 and current, unready, missing, "
                         f"tolerance, utilizations >= 0, got target={target}, "
                         f"current={current}, unready={unready}, missing={missing}, "
                         f"tolerance={tolerance}")
    if not ready_utils:
        return current, math.nan
    ready = len(ready_utils)
    ratio = sum(ready_utils) / ready / target
    up_with_unready = unready > 0 and ratio > 1.0
    if not up_with_unready and missing == 0:
        return (current if abs(ratio - 1.0) <= tolerance else math.ceil(ratio * ready)), ratio
    values = list(ready_utils)
    if ratio < 1.0:
        values += [max(1.0, target)] * missing  # a scale-down: missing pods at 100 %
    elif ratio > 1.0:
        values += [0.0] * missing
    if up_with_unready:
        values += [0.0] * unready
    new_ratio = sum(values) / len(values) / target
    if abs(new_ratio - 1.0) <= tolerance or (ratio - 1.0) * (new_ratio - 1.0) < 0:
        return current, ratio
    new = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and new > current) or (new_ratio > 1.0 and new < current):
        return current, ratio
    return new, ratio
