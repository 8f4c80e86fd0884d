"""What an SQS queue and a RabbitMQ queue share: messages, waiting consumers, bounds, retention.

A queue (:class:`QueueBase`) belongs to one consuming service and is subscribed to a topic's
fan-out (``sim.bus.fanout``: an SNS topic, a RabbitMQ fanout exchange), which copies every
published record into it. Its consumers compete for its messages: there is no partition and
no assignment, so every member receives (no rebalance, ``paused`` is always 0). A message is a
record (a row number) with its key (the card), when it was sent, and how many times it was
delivered; while a consumer holds it, it carries that delivery's handle (an SQS receipt handle,
a RabbitMQ delivery tag), a unique int. ``sim.bus.sqs`` and ``sim.bus.rabbitmq`` say which
messages a consumer may take and what happens to one it does not finish.

Shared here:

- waiting (:meth:`QueueBase.ready`): a consumer with nothing to take waits until a message is
  there for it (an SQS long poll ends empty after ``wait_time_s``: counted in
  ``empty_receives``); ``fetch_min_records`` / ``fetch_max_wait_s`` are honoured as batching
  in the client (wait for that many, at most that long after the first), as Kafka's fetch does;
  a new message wakes only as many waiting consumers as there are messages to take;
- the bound (``capacity_records``: visible + in-flight messages, SQS's
  ``ApproximateNumberOfMessages`` + ``NotVisible``, RabbitMQ's ready + unacked, as RabbitMQ's
  ``max-length`` counts) that the fan-out checks before it publishes (``room``, ``space``);
- retention (``retention_s``: SQS ``MessageRetentionPeriod``, RabbitMQ's ``x-message-ttl``): a
  message waiting longer than that is deleted and reported ``on_drop(records, "lost",
  "retention ...")``; one a consumer holds is left to it and expires if it comes back;
- timers (:class:`sim.bus.message.Deadlines`): one SimPy timer per queue for the next
  visibility timeout / consumer timeout, however many deliveries are open;
- drops go to ``on_drop(records, outcome, reason)`` (:data:`sim.bus.client.OnDrop`), set by the
  wiring (``sim.record.drops``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable
from typing import Any

import simpy

from sim.bus.drops import OnDrop, report_drop
from sim.bus.group import Delivery, Member
from sim.bus.message import Message
from sim.process import ProcessGenerator

__all__ = ["QueueBase"]


class QueueBase(ABC):
    """The consumer side shared by SQS and RabbitMQ queues (see the module docstring).

    Parameters
    ----------
    env : simpy.Environment
    name : str
        Queue name: the consuming service (``alert-service``); what the monitor labels its
        lag with as ``group``.
    topic : object with ``name``
        The fan-out it is subscribed to (``sim.bus.fanout.Fanout``).
    delivery : {"at_least_once", "at_most_once"}
        At-most-once deletes (SQS) / auto-acks (RabbitMQ ``no-ack``) a message as it is
        delivered, so a crash loses what was in hand.
    capacity_records : int or None
        Bound on visible + in-flight messages (None: unbounded).
    retention_s : float or None
        Longest a message waits before it is deleted (None: for ever).

    Attributes
    ----------
    published, redelivered, dead_lettered, expired : int
        Messages published to the queue; deliveries of a message delivered before (the
        duplicates); messages dead-lettered; messages deleted by retention.
    empty_receives : int
        Waits that ended with nothing to take (SQS long polls that returned empty).
    rebalances : int
        Always 0: a queue has no group membership protocol.
    on_drop : OnDrop or None
        Told of every record the queue drops (dead-lettered, lost to retention).
    """

    wait_s: float | None = None  # how long one wait lasts before it ends empty (None: for ever)
    retention_name = "retention"

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        topic: Any,
        *,
        delivery: Delivery = "at_least_once",
        capacity_records: int | None = None,
        retention_s: float | None = None,
    ) -> None:
        if capacity_records is not None and capacity_records < 1:
            raise ValueError(f"queue {name}: capacity_records must be >= 1, got {capacity_records}")
        if retention_s is not None and not retention_s > 0:
            raise ValueError(f"queue {name}: retention_s must be > 0, got {retention_s}")
        self.env = env
        self.name = name
        self.topic = topic
        self.delivery: Delivery = delivery
        self.capacity_records = capacity_records
        self.retention_s = retention_s
        self.members: list[Member] = []
        self.on_drop: OnDrop | None = None
        self.published = self.redelivered = self.dead_lettered = self.expired = 0
        self.empty_receives = 0
        self.rebalances = 0
        self.inflight: dict[int, Message] = {}  # open delivery handle -> message
        self.open_batches: dict[int, int] = {}  # delivery batch -> its messages still held
        self._next_handle = 0
        self._waiters: list[tuple[simpy.Event, Member, int]] = []
        self._space: simpy.Event | None = None
        self._sent: deque[Message] = deque()  # in send order, for retention
        self._sweep_at = math.inf  # when the pending retention sweep runs (inf: none)

    # -- what a subclass defines (sim.bus.sqs, sim.bus.rabbitmq) ---------------------------
    @abstractmethod
    def ready_count(self) -> int:
        """Messages a consumer could take now (visible / ready, not held)."""

    @abstractmethod
    def visible(self) -> int:
        """Messages waiting in the queue, not held by a consumer."""

    def available(self, member: Member) -> int:
        """Messages ``member`` could take now (none during a broker outage)."""
        return 0 if self.unavailable() else self.ready_count()

    def unavailable(self) -> bool:
        """Whether a broker outage has taken the queue down now (``sim.bus.availability``:
        nothing is received; deletes / acks of what consumers hold still go through)."""
        down = getattr(self.topic, "unavailable", None)
        return down is not None and bool(down())

    def resume(self) -> None:
        """The queue is back after a broker outage: wake the consumers that can take some."""
        self._wake()

    @abstractmethod
    def _push(self, msgs: list[Message]) -> None:
        """Make newly published messages takeable."""

    @abstractmethod
    def _unlist(self, msg: Message) -> None:
        """``msg`` (waiting, not held) expired: take it out of the waiting structures."""

    # -- the protocol (sim.bus.client.Consumer) ------------------------------------------
    @property
    def topic_name(self) -> str:
        """Name of the topic the queue is subscribed to."""
        return str(self.topic.name)

    def join(self, member: Member) -> None:
        """A consumer starts consuming (SQS: it starts receiving; RabbitMQ ``basic.consume``)."""
        self.members.append(member)

    def leave(self, member: Member) -> None:
        """A consumer stops (scale-down): no rebalance; what it holds stays its own until it
        commits or rewinds it."""
        if member in self.members:
            self.members.remove(member)
        self._waiters = [w for w in self._waiters if w[1] is not member]

    def crash(self, member: Member) -> None:
        """A consumer died: it stops waiting (a subclass says what becomes of what it held)."""
        self.leave(member)

    def paused(self, member: Member | None = None) -> float:
        """Always 0.0: competing consumers on a queue never pause for a rebalance."""
        return 0.0

    def lag(self) -> int:
        """Messages not yet deleted / acked: waiting + held by consumers."""
        return self.visible() + len(self.inflight)

    backlog = lag

    def room(self) -> float:
        """Messages the bound still admits (inf when unbounded; <= 0 when full)."""
        if self.capacity_records is None:
            return math.inf
        return self.capacity_records - self.lag()

    def space(self) -> simpy.Event:
        """An event triggered once the queue has room again (after a delete or a drop)."""
        if self._space is None:
            self._space = self.env.event()
        return self._space

    def release(self) -> None:
        """Drop the messages (after the run, before the frames are built; counters stay)."""
        self._sent.clear()
        self.inflight.clear()

    # -- publishing ----------------------------------------------------------------------
    def publish(self, records: list[int], keys: list[int]) -> None:
        """Append a copy of each record (with its key) and wake waiting consumers."""
        now = self.env.now
        msgs = [Message(r, k, now) for r, k in zip(records, keys, strict=True)]
        self.published += len(msgs)
        self._push(msgs)
        if self.retention_s is not None and msgs:
            sent = self._sent
            while sent and sent[0].gone:  # keep the retention line short
                sent.popleft()
            sent.extend(msgs)
            if self._sweep_at == math.inf:
                self._arm_sweep(sent[0].sent_s + self.retention_s)
        self._wake()

    # -- waiting -------------------------------------------------------------------------
    def ready(
        self, member: Member, min_records: int = 1, max_wait_s: float = 0.0
    ) -> Iterable[simpy.Event]:
        """Events to ``yield from`` until a message is there for ``member`` (none when one is
        already); with ``min_records > 1`` and ``max_wait_s > 0``, until ``min_records`` are
        or ``max_wait_s`` after the first one was (batching in the client). A wait of
        :attr:`wait_s` (SQS long polling) ends empty if nothing came."""
        if min_records > 1 and max_wait_s > 0:
            return self._linger(member, min_records, max_wait_s)
        if self.available(member):
            return ()
        return (self._long_poll(member),)

    def _wait(self, member: Member, need: int) -> simpy.Event:
        ev = self.env.event()
        self._waiters.append((ev, member, need))
        return ev

    def _long_poll(self, member: Member) -> simpy.Event:
        ev = self._wait(member, 1)
        if self.wait_s is not None:

            def empty(_t: simpy.Event) -> None:
                if not ev.triggered:
                    self.empty_receives += 1
                    ev.succeed()

            self.env.timeout(self.wait_s).callbacks.append(empty)
        return ev

    def _linger(self, member: Member, min_records: int, max_wait_s: float) -> ProcessGenerator:
        have = self.available(member)
        if have >= min_records:
            return
        if have == 0:
            yield self._long_poll(member)
            if self.available(member) == 0:
                return
        timer = self.env.timeout(max_wait_s)
        while not timer.processed and self.available(member) < min_records:
            ev = self._wait(member, min_records)
            timer.callbacks.append(lambda _t, ev=ev: None if ev.triggered else ev.succeed())
            yield ev

    def _wake(self) -> None:
        """Wake waiting consumers that can take something now: at most one per message."""
        waiters = self._waiters
        if not waiters:
            return
        budget = self.ready_count()
        keep = []
        for i, (ev, member, need) in enumerate(waiters):
            if budget <= 0:
                keep.extend(waiters[i:])
                break
            if ev.triggered:
                continue
            if self.available(member) >= need:
                ev.succeed()
                budget -= 1
            else:
                keep.append((ev, member, need))
        self._waiters = [w for w in keep if not w[0].triggered]

    # -- deliveries, drops, retention -----------------------------------------------------
    def _open(self, msgs: list[Message], owner: Member | None) -> tuple[int, list[int]]:
        """Give each message a delivery handle and count its delivery; returns the batch id
        and the handles."""
        batch = self._next_handle = self._next_handle + 1
        handles = []
        inflight = self.inflight
        for m in msgs:
            h = self._next_handle = self._next_handle + 1
            m.handle, m.batch, m.owner = h, batch, owner
            m.count += 1
            inflight[h] = m
            handles.append(h)
        self.open_batches[batch] = len(msgs)
        return batch, handles

    def _close(self, msg: Message) -> None:
        """``msg`` is no longer held (deleted, acked, returned)."""
        self.inflight.pop(msg.handle, None)
        left = self.open_batches.get(msg.batch, 0) - 1
        if left > 0:
            self.open_batches[msg.batch] = left
        else:
            self.open_batches.pop(msg.batch, None)
        msg.handle, msg.owner = 0, None

    def _drop(self, msgs: list[Message], outcome: str, reason: str) -> None:
        """Remove ``msgs`` (no longer waiting nor held) and report them."""
        if not msgs:
            return
        for m in msgs:
            m.gone = True
        if outcome == "dead_lettered":
            self.dead_lettered += len(msgs)
        elif outcome == "lost":
            self.expired += len(msgs)
        report_drop(self.on_drop, f"queue {self.name}", [m.record for m in msgs], outcome, reason)
        self._freed()

    def _freed(self) -> None:
        """Wake a producer waiting for room."""
        ev = self._space
        if ev is not None and self.room() > 0:
            self._space = None
            ev.succeed()

    def _too_old(self, msg: Message) -> bool:
        return self.retention_s is not None and self.env.now - msg.sent_s >= self.retention_s

    def _retention_reason(self) -> str:
        return f"retention {self.retention_s:g} s ({self.retention_name}) on queue {self.name}"

    def _arm_sweep(self, at_s: float) -> None:
        self._sweep_at = at_s
        self.env.timeout(max(0.0, at_s - self.env.now)).callbacks.append(self._sweep)

    def _sweep(self, _timer: simpy.Event) -> None:
        """Delete the waiting messages older than the retention; arm the next sweep, at most
        one per ``retention_s / 100`` (as brokers check retention periodically: Kafka's
        ``log.retention.check.interval.ms``)."""
        sent, old = self._sent, []
        assert self.retention_s is not None
        now = self.env.now
        limit = now - self.retention_s
        while sent and sent[0].sent_s <= limit:
            m = sent.popleft()
            if m.gone or m.handle:  # deleted, or held: it expires if it comes back
                continue
            self._unlist(m)
            old.append(m)
        self._drop(old, "lost", self._retention_reason())
        self._sweep_at = math.inf
        if sent:
            self._arm_sweep(max(sent[0].sent_s + self.retention_s, now + self.retention_s / 100))
