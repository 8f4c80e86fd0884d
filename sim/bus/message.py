"""A queue's messages and their deadlines (SQS visibility timeouts, RabbitMQ consumer timeouts).

A :class:`Message` is one copy of a record in one queue (``sim.bus.queue``); :class:`Deadlines`
keeps one SimPy timer per queue for the next deadline of its open deliveries, however many are
open.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from sim.bus.group import Member

__all__ = ["Deadlines", "Message"]


class Message:
    """One copy of a record in one queue.

    ``count`` is how many times it was delivered (SQS ``ApproximateReceiveCount``, RabbitMQ's
    delivery count); ``handle`` the open delivery's handle (0: not delivered now); ``gone``
    True once deleted, dead-lettered or expired.
    """

    __slots__ = ("record", "key", "sent_s", "count", "handle", "batch", "owner", "gone")

    def __init__(self, record: int, key: int, sent_s: float) -> None:
        self.record = record
        self.key = key
        self.sent_s = sent_s
        self.count = 0
        self.handle = 0
        self.batch = 0
        self.owner: Member | None = None
        self.gone = False


class Deadlines:
    """Deadlines ``(due_s, batch, payload)`` added in due order, and one SimPy timer for the
    first still open: ``on_due(batch, payload)`` runs when a batch is due and still in
    ``open_batches`` (closed batches are skipped without a timer of their own).

    >>> env = simpy.Environment()
    >>> fired = []
    >>> d = Deadlines(env, {1: 1, 2: 1}, lambda b, p: fired.append((env.now, b)))
    >>> d.add(5.0, 1, None); d.add(6.0, 2, None)
    >>> del d.open_batches[1]  # batch 1 closed before its deadline
    >>> env.run(); fired
    [(6.0, 2)]
    """

    def __init__(
        self, env: simpy.Environment, open_batches: dict[int, int],
        on_due: Callable[[int, Any], None],
    ) -> None:
        self.env = env
        self.open_batches = open_batches
        self.on_due = on_due
        self._due: deque[tuple[float, int, Any]] = deque()
        self._armed = math.inf  # when the pending timer rings (inf: none pending)

    def add(self, due_s: float, batch: int, payload: Any) -> None:
        """Add a deadline (``due_s`` no earlier than any added before)."""
        self._due.append((due_s, batch, payload))
        if self._armed == math.inf:
            self._arm(due_s)

    def _arm(self, due_s: float) -> None:
        self._armed = due_s
        self.env.timeout(max(0.0, due_s - self.env.now)).callbacks.append(self._ring)

    def _ring(self, _timer: simpy.Event) -> None:
        self._armed = math.inf
        due, now, open_ = self._due, self.env.now, self.open_batches
        while due and (due[0][0] <= now or due[0][1] not in open_):
            t, batch, payload = due.popleft()
            if batch in open_:
                self.on_due(batch, payload)
        if due:
            self._arm(due[0][0])
