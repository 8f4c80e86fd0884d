"""The FCFS c-server queue computed at once: the Kiefer–Wolfowitz recurrence.

Keep the c servers' next free times in a heap; a request arriving at ``a`` starts at
``max(a, earliest free time)`` on that server, or is shed when every server is busy and
``queue_limit`` requests already wait, or, with ``overflow="block"``, held by its caller until a
place frees (J. Kiefer and J. Wolfowitz, "On the theory of queues
with many servers", Trans. AMS 78, 1955; S. Asmussen, *Applied Probability and Queues*, 2nd
ed., 2003, §XII.2). ``sim.pods.ingress_schedule.ScheduledIngress`` plays the result.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.pods.service_time import ServiceTime

__all__ = ["FcfsSchedule", "fcfs_schedule"]


@dataclass(frozen=True)
class FcfsSchedule:
    """The fate of every request of an FCFS c-server queue.

    Attributes
    ----------
    accepted : numpy.ndarray of bool, shape (n,)
        False for requests shed at arrival.
    start_s, end_s : numpy.ndarray of float, shape (n,)
        Service start and end (seconds; NaN for shed requests).
    server : numpy.ndarray of int, shape (n,)
        Index of the server (0 .. c-1; -1 for shed requests).
    queued_s : numpy.ndarray of float, shape (n,)
        When the request entered the queue (its arrival, or later when its caller held it
        while the queue was full; NaN for shed requests).
    """

    accepted: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    server: np.ndarray
    queued_s: np.ndarray


def fcfs_schedule(
    arrival_s: Sequence[float] | np.ndarray,
    n_servers: int,
    service: ServiceTime,
    *,
    ready_s: float = 0.0,
    queue_limit: int | None = None,
    overflow: str = "shed",
) -> FcfsSchedule:
    """Schedule requests through ``n_servers`` FCFS servers (the Kiefer–Wolfowitz recurrence).

    Parameters
    ----------
    arrival_s : array of float, shape (n,)
        Arrival times, seconds, non-decreasing.
    n_servers : int
        Servers (>= 1), all ready at ``ready_s``.
    service : ServiceTime
        Service times: the k-th accepted request (in arrival order) gets the k-th draw. (Up to
        ``n`` draws are taken from it at once; unused ones are discarded.)
    ready_s : float
        When the servers become ready (start-up), seconds.
    queue_limit : int or None
        A request arriving while every server is busy and ``queue_limit`` requests wait is shed
        (``overflow="shed"``) or waits at its caller (``"block"``) until the request
        ``queue_limit`` places ahead of it starts, then enters the queue.
    overflow : {"shed", "block"}

    Raises
    ------
    ValueError
        ``n_servers < 1`` or an unknown ``overflow``.

    Returns
    -------
    FcfsSchedule

    Notes
    -----
    An arriving request takes the server that has been idle longest (the earliest free time,
    ties in the order the servers became free), as :class:`sim.pods.Ingress` does. Starts are
    non-decreasing in arrival order, so the queue seen by an arrival at ``a`` is the number of
    accepted requests whose start is later than ``a``. Holding callers does not change the
    order of service (FIFO throughout), so ``block`` serves as an unbounded queue; only the
    time each request enters the queue, ``max(a_i, start_{i - queue_limit})``, differs.
    """
    if overflow not in ("shed", "block"):
        raise ValueError(f"overflow must be 'shed' or 'block', got {overflow!r}")
    block = overflow == "block"
    arrivals = np.asarray(arrival_s, dtype=np.float64).tolist()
    n = len(arrivals)
    if n_servers < 1:
        raise ValueError(f"n_servers must be >= 1, got {n_servers}")
    start = [float("nan")] * n
    end = [float("nan")] * n
    server = [-1] * n
    heap = [(float(ready_s), i, i) for i in range(n_servers)]  # (free at, idle order, server)
    seq = n_servers
    starts: list[float] = []  # start of each accepted request, in arrival order
    waiting_from = 0  # first accepted request (in `starts`) that starts after the arrival
    draws, replace = service.draw_many(n), heapq.heapreplace
    for i, a in enumerate(arrivals):
        free, _, srv = heap[0]
        if free > a:  # every server busy (or not yet ready): the request queues
            if queue_limit is not None and not block:
                while waiting_from < len(starts) and starts[waiting_from] <= a:
                    waiting_from += 1
                if len(starts) - waiting_from >= queue_limit:
                    continue
            s = free
        else:
            s = a
        e = s + draws[len(starts)]
        replace(heap, (e, seq, srv))
        seq += 1
        starts.append(s)
        start[i], end[i], server[i] = s, e, srv
    srv_arr = np.asarray(server, dtype=np.int64)
    start_arr = np.asarray(start)
    queued = np.where(srv_arr >= 0, np.asarray(arrivals, dtype=np.float64), np.nan)
    if block and queue_limit is not None and n > queue_limit:
        queued[queue_limit:] = np.maximum(queued[queue_limit:], start_arr[: n - queue_limit])
    return FcfsSchedule(srv_arr >= 0, start_arr, np.asarray(end), srv_arr, queued)
