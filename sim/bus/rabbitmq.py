"""A RabbitMQ quorum queue: prefetch window, ack after processing, requeue, delivery limit.

One queue per consuming service, bound to the topic's fanout exchange (``sim.bus.fanout``).
What RabbitMQ (4.x, quorum queues) does, and the model with it:

- a consumer (``basic.consume`` on its channel) holds at most ``prefetch_count``
  unacknowledged deliveries (``basic.qos``): a poll returns at most ``prefetch_count -
  unacked`` messages (and at most ``max_records``); a consumer whose window is full waits for
  its own acks;
- ack after processing (``basic.ack``: :meth:`RabbitQueue.commit`); an ack of a delivery tag
  its channel no longer has (the channel was closed) fails: ``commit`` returns False;
- a consumer that dies closes its channel (``crash``): its unacked messages are requeued at
  once, at the head of the queue, with the redelivered flag (``Fetched.attempts`` > 1);
  ``rewind`` (``basic.nack`` with requeue) requeues those of one batch;
- a delivery not acked within ``consumer_timeout_s`` (``consumer_timeout``, default 30 min)
  makes the broker close the consumer's channel: all its unacked messages are requeued (the
  client opens a new channel and goes on; its later acks of the old tags fail);
- ``delivery-limit`` (default 20 from RabbitMQ 4.0): a message returned more times than the
  limit is dead-lettered (to the dead-letter exchange) instead of requeued, reported
  ``on_drop(records, "dead_lettered", "delivery-limit ...")``;
- the bound (``max-length``) and ``x-overflow`` (``reject-publish`` = shed) are checked by the
  exchange (``sim.bus.fanout``); a TTL (``x-message-ttl``) is the topic's ``retention_s``
  (``sim.bus.queue``; RabbitMQ sets none by default).

At-most-once is ``no-ack`` (automatic acknowledgement): a message counts as acked when it is
delivered, the prefetch window does not apply, and a crash loses the batch in hand.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import simpy

from sim.bus.fetched import Fetched
from sim.bus.group import Delivery, Member
from sim.bus.message import Deadlines, Message
from sim.bus.queue import QueueBase
from sim.scenario.bus import RabbitMQSpec

__all__ = ["RabbitQueue"]

IncidentSink = Any


class RabbitQueue(QueueBase):
    """A RabbitMQ quorum queue: the simulated :class:`sim.bus.client.Consumer`.

    Parameters
    ----------
    env, name, topic, delivery, capacity_records, retention_s
        As :class:`sim.bus.queue.QueueBase`.
    spec : RabbitMQSpec
        ``prefetch_count``, ``delivery_limit``, ``consumer_timeout_s``.
    on_incident : callable(kind, target, detail), optional
        Told of each channel the broker closes for ``consumer_timeout`` (kind
        ``consumer_timeout``).

    Attributes
    ----------
    channel_closes : int
        Channels closed by a crash or the consumer timeout.
    """

    retention_name = "x-message-ttl"

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        topic: Any,
        spec: RabbitMQSpec,
        *,
        delivery: Delivery = "at_least_once",
        capacity_records: int | None = None,
        retention_s: float | None = None,
        on_incident: IncidentSink | None = None,
    ) -> None:
        super().__init__(env, name, topic, delivery=delivery, capacity_records=capacity_records,
                         retention_s=retention_s)
        self.spec = spec
        self.on_incident = on_incident
        self.channel_closes = 0
        self._ready: deque[Message] = deque()  # may hold gone (expired) messages
        self._n_ready = 0
        self._unacked: dict[Member, set[int]] = {}  # per consumer, its open delivery tags
        self._timeouts = Deadlines(env, self.open_batches, self._timed_out)

    # -- counts --------------------------------------------------------------------------
    def ready_count(self) -> int:
        """Messages ready for delivery (``messages_ready``)."""
        return self._n_ready

    def visible(self) -> int:
        return self._n_ready

    def unacked(self, member: Member) -> int:
        """Deliveries ``member`` holds unacknowledged."""
        return len(self._unacked.get(member, ()))

    def window(self, member: Member) -> int:
        """Deliveries ``member`` may still take (its prefetch window minus its unacked)."""
        if self.delivery == "at_most_once":
            return self._n_ready
        return self.spec.prefetch_count - self.unacked(member)

    def available(self, member: Member) -> int:
        if self.unavailable():  # a broker outage (sim.bus.availability)
            return 0
        return min(self._n_ready, self.window(member))

    # -- queue structure -----------------------------------------------------------------
    def _push(self, msgs: list[Message]) -> None:
        self._ready.extend(msgs)
        self._n_ready += len(msgs)

    def _unlist(self, msg: Message) -> None:
        self._n_ready -= 1  # left in _ready, skipped as gone

    # -- delivering ----------------------------------------------------------------------
    def poll(self, member: Member, max_records: int) -> Fetched | None:
        """Deliver up to ``min(max_records, prefetch_count - unacked)`` ready messages to
        ``member`` (None when there is none, its window is full or the broker is down)."""
        if self.unavailable():
            return None
        room = min(max_records, self.window(member))
        ready, msgs = self._ready, []
        while ready and len(msgs) < room:
            m = ready.popleft()
            if not m.gone:
                msgs.append(m)
        if not msgs:
            return None
        self._n_ready -= len(msgs)
        batch, handles = self._open(msgs, member)
        again = {i: m.count for i, m in enumerate(msgs) if m.count > 1}
        self.redelivered += len(again)
        fetched = Fetched([m.record for m in msgs], [], again)
        fetched.handles = handles
        if self.delivery == "at_most_once":  # no-ack: acked as delivered
            self._ack(handles)
            fetched.handles = None
        else:
            self._unacked.setdefault(member, set()).update(handles)
            self._timeouts.add(self.env.now + self.spec.consumer_timeout_s, batch, member)
        return fetched

    fetch = poll

    def commit(self, fetched: Fetched) -> bool:
        """``basic.ack`` of each delivery of ``fetched``; False when its channel was closed
        meanwhile (the messages were requeued: they are delivered again)."""
        if fetched.handles is None:
            return True
        return self._ack(fetched.handles)

    def _ack(self, handles: list[int]) -> bool:
        ok = True
        inflight = self.inflight
        for h in handles:
            m = inflight.get(h)
            if m is None:
                ok = False
                continue
            tags = self._unacked.get(m.owner) if m.owner is not None else None
            if tags is not None:
                tags.discard(h)
            self._close(m)
            m.gone = True
        self._freed()
        self._wake()
        return ok

    # -- requeueing ----------------------------------------------------------------------
    def _requeue(self, handles: list[int]) -> None:
        """Return the deliveries ``handles`` still open to the head of the queue, in order
        (redelivered); a message returned more than ``delivery_limit`` times is dead-lettered,
        one whose TTL passed expires."""
        inflight, limit = self.inflight, self.spec.delivery_limit
        back = [m for h in handles if (m := inflight.get(h)) is not None]
        dead, old = [], []
        for m in reversed(back):
            if m.owner is not None and m.owner in self._unacked:
                self._unacked[m.owner].discard(m.handle)
            self._close(m)
            if limit is not None and m.count > limit:
                dead.append(m)
            elif self._too_old(m):
                old.append(m)
            else:
                self._ready.appendleft(m)
                self._n_ready += 1
        dead.reverse()
        old.reverse()
        if dead:
            self._drop(dead, "dead_lettered",
                   f"delivery-limit {limit} exceeded on queue {self.name} (dead-letter exchange)")
        if old:
            self._drop(old, "lost", self._retention_reason())
        self._wake()

    def _close_channel(self, member: Member) -> None:
        """The member's channel closes: every delivery it holds is requeued."""
        tags = self._unacked.pop(member, set())
        self.channel_closes += 1
        if tags:
            self._requeue(sorted(tags))

    def crash(self, member: Member) -> None:
        """The consumer died: its channel closes and its unacked messages are requeued now."""
        self.leave(member)
        self._close_channel(member)

    def rewind(self, fetched: Fetched) -> bool:
        """After a crash: ``basic.nack`` with requeue of what is still unacked of ``fetched``.
        True under at-least-once (delivered again), False under at-most-once (no-ack: lost)."""
        if fetched.handles is None:
            return False
        self._requeue(fetched.handles)
        return True

    def _timed_out(self, batch: int, member: Member) -> None:
        """A delivery of ``member`` stayed unacked for ``consumer_timeout_s``."""
        if self.on_incident is not None:
            self.on_incident(
                "consumer_timeout", member.name,
                f"queue {self.name}: delivery unacked for {self.spec.consumer_timeout_s:g} s, "
                f"channel closed, {self.unacked(member)} messages requeued",
            )
        self._close_channel(member)
