"""An Amazon SQS queue: competing consumers, visibility timeout, redrive, standard or FIFO.

One queue per consuming service, subscribed to the topic's SNS topic (``sim.bus.fanout``).
What Amazon SQS does, and the model with it:

- ``ReceiveMessage`` returns at most ``MaxNumberOfMessages`` (1-10) messages: a poll returns at
  most ``min(max_messages, max_records)``; any number of consumers receive from the queue at
  once (no partition caps them);
- long polling (``WaitTimeSeconds`` <= 20 s): a receive with nothing to take waits up to
  ``wait_time_s`` for a message, then returns empty (counted in ``empty_receives``); short
  polling (0 s) is one empty receive, then a wait for the next message (a real client's loop
  of empty receives is not simulated);
- visibility timeout (``VisibilityTimeout``, default 30 s): a received message is hidden that
  long; deleted (``DeleteMessage``: :meth:`SqsQueue.commit`) it is gone; otherwise it reappears
  and is received again (a duplicate: its receive count, ``Fetched.attempts``, goes up). A
  consumer that dies says nothing to SQS (``crash`` and ``rewind`` do nothing): its messages
  reappear when their visibility timeout ends. A delete with the receipt handle of an expired
  receive fails (``commit`` returns False; the message is received again);
- redrive policy (``maxReceiveCount``): a message received that many times and not deleted is
  moved to the dead-letter queue when it reappears (SQS moves it on the next receive; here at
  once) and reported ``on_drop(records, "dead_lettered", "maxReceiveCount ...")``;
- standard queues deliver in best-effort order (here: oldest visible first, a reappearing
  message behind the others); FIFO queues keep the order within a message group (the card: the
  key the producer passes as its "partition") and hold back the rest of a group while any of
  its messages is in flight; one receive takes as many messages of a group as it can first;
- retention (``MessageRetentionPeriod``, default 4 days): ``sim.bus.queue``.

At-most-once deletes each message as it is received (a crash loses the batch in hand).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import simpy

from sim.bus.fetched import Fetched
from sim.bus.group import Delivery, Member
from sim.bus.message import Deadlines, Message
from sim.bus.queue import QueueBase
from sim.scenario.bus import SqsSpec

__all__ = ["SqsQueue"]


class SqsQueue(QueueBase):
    """An SQS queue (standard or FIFO): the simulated :class:`sim.bus.client.Consumer`.

    Parameters
    ----------
    env, name, topic, delivery, capacity_records, retention_s
        As :class:`sim.bus.queue.QueueBase`.
    spec : SqsSpec
        ``queue_type``, ``visibility_timeout_s``, ``wait_time_s``, ``max_messages``,
        ``max_receive_count`` (see ``sim.scenario.bus.SqsSpec``).
    """

    retention_name = "MessageRetentionPeriod"

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        topic: Any,
        spec: SqsSpec,
        *,
        delivery: Delivery = "at_least_once",
        capacity_records: int | None = None,
        retention_s: float | None = None,
    ) -> None:
        super().__init__(env, name, topic, delivery=delivery, capacity_records=capacity_records,
                         retention_s=retention_s)
        self.spec = spec
        self.fifo = spec.queue_type == "fifo"
        self.wait_s = spec.wait_time_s if spec.wait_time_s > 0 else None
        self._visible: deque[Message] = deque()  # standard: oldest first (may hold gone ones)
        self._n_visible = 0
        self._groups: dict[int, deque[Message]] = {}  # fifo: visible messages per group
        self._held: dict[int, int] = {}  # fifo: messages in flight per group
        self._ready_groups: deque[int] = deque()  # fifo: groups with messages, none in flight
        self._n_receivable = 0  # fifo: messages of the groups in _ready_groups
        self._visibility = Deadlines(env, self.open_batches, self._reappear)

    # -- counts --------------------------------------------------------------------------
    def ready_count(self) -> int:
        """Messages a receive could return now (FIFO: of groups with none in flight)."""
        return self._n_receivable if self.fifo else self._n_visible

    def visible(self) -> int:
        """``ApproximateNumberOfMessages``: visible messages."""
        return self._n_visible

    # -- publishing ----------------------------------------------------------------------
    def _push(self, msgs: list[Message]) -> None:
        self._n_visible += len(msgs)
        if not self.fifo:
            self._visible.extend(msgs)
            return
        for m in msgs:
            self._to_group(m, front=False)

    def _to_group(self, m: Message, *, front: bool) -> None:
        """Put visible ``m`` in its group (at the head when it reappears)."""
        g = m.key
        dq = self._groups.get(g)
        if dq is None:
            dq = self._groups[g] = deque()
        if front:
            dq.appendleft(m)
        else:
            dq.append(m)
        if g not in self._held:
            if len(dq) == 1:
                self._ready_groups.append(g)
            self._n_receivable += 1

    def _unlist(self, msg: Message) -> None:
        self._n_visible -= 1
        if not self.fifo:
            return  # left in _visible, skipped as gone
        dq = self._groups[msg.key]
        dq.remove(msg)
        if msg.key not in self._held:
            self._n_receivable -= 1
            if not dq:
                self._ready_groups.remove(msg.key)
        if not dq:
            del self._groups[msg.key]

    # -- receiving -----------------------------------------------------------------------
    def poll(self, member: Member, max_records: int) -> Fetched | None:
        """``ReceiveMessage``: up to ``min(max_messages, max_records)`` visible messages, made
        invisible for the visibility timeout (None when none is receivable, or during a
        broker outage)."""
        if self.unavailable():
            return None
        room = min(self.spec.max_messages, max_records)
        msgs = self._take_fifo(room) if self.fifo else self._take(room)
        if not msgs:
            return None
        self._n_visible -= len(msgs)
        batch, handles = self._open(msgs, member)
        again = {i: m.count for i, m in enumerate(msgs) if m.count > 1}
        self.redelivered += len(again)
        fetched = Fetched([m.record for m in msgs], [], again)
        fetched.handles = handles
        if self.delivery == "at_most_once":  # deleted as received
            self._delete(fetched)
            fetched.handles = None
        else:
            self._visibility.add(self.env.now + self.spec.visibility_timeout_s, batch, handles)
        return fetched

    fetch = poll

    def _take(self, room: int) -> list[Message]:
        vis, out = self._visible, []
        while vis and len(out) < room:
            m = vis.popleft()
            if not m.gone:
                out.append(m)
        return out

    def _take_fifo(self, room: int) -> list[Message]:
        out: list[Message] = []
        ready, groups, held = self._ready_groups, self._groups, self._held
        while ready and len(out) < room:
            g = ready.popleft()
            dq = groups[g]
            n = min(room - len(out), len(dq))
            out += [dq.popleft() for _ in range(n)]
            self._n_receivable -= len(dq) + n  # the rest of the group is held back
            held[g] = n
            if not dq:
                del groups[g]
        return out

    # -- deleting, reappearing -----------------------------------------------------------
    def commit(self, fetched: Fetched) -> bool:
        """``DeleteMessage`` for each message of ``fetched``. False when a receipt handle
        is stale (its visibility timeout ended): that message is received again."""
        if fetched.handles is None:  # at-most-once: deleted when received
            return True
        return self._delete(fetched)

    def _delete(self, fetched: Fetched) -> bool:
        ok = True
        inflight = self.inflight
        for h in fetched.handles or ():
            m = inflight.get(h)
            if m is None:
                ok = False
                continue
            self._close(m)
            m.gone = True
            if self.fifo:
                self._release_group(m.key)
        self._freed()
        self._wake()
        return ok

    def _release_group(self, g: int) -> None:
        """One in-flight message of group ``g`` is done; the group may be received again."""
        left = self._held[g] - 1
        if left:
            self._held[g] = left
            return
        del self._held[g]
        dq = self._groups.get(g)
        if dq:
            self._ready_groups.append(g)
            self._n_receivable += len(dq)

    def _reappear(self, batch: int, handles: list[int]) -> None:
        """The visibility timeout of a receive ended: its undeleted messages are visible again
        (or go to the dead-letter queue past ``max_receive_count``, or expire)."""
        inflight, limit = self.inflight, self.spec.max_receive_count
        dead, old = [], []
        back = [m for h in handles if (m := inflight.get(h)) is not None]
        if self.fifo:
            back.reverse()  # each back to the head of its group: the group keeps its order
        for m in back:
            self._close(m)
            if limit is not None and m.count >= limit:
                dead.append(m)
            elif self._too_old(m):
                old.append(m)
            else:
                self._n_visible += 1
                if self.fifo:
                    self._to_group(m, front=True)
                else:
                    self._visible.append(m)
            if self.fifo:
                self._release_group(m.key)
        if self.fifo:
            dead.reverse()
        if dead:
            self._drop(dead, "dead_lettered",
                   f"maxReceiveCount {limit} exceeded on queue {self.name} (redrive to DLQ)")
        if old:
            self._drop(old, "lost", self._retention_reason())
        self._wake()

    def rewind(self, fetched: Fetched) -> bool:
        """After a crash: nothing to tell SQS. True under at-least-once (the messages reappear
        after their visibility timeout), False under at-most-once (deleted when received)."""
        return self.delivery == "at_least_once"
