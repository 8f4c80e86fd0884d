"""A service's producer buffer: records waiting for room in a full (or unavailable) topic, one
FIFO per pod.

Kafka's producer accumulates records per partition in ``buffer.memory`` and sends them as the
broker takes them; ``send`` blocks only when that memory is full (``max.block.ms``). Here a
:class:`ProducerBuffers` holds, per pod of the producing service, the records whose partition
of a bounded ``overflow: block`` topic is full, up to ``buffer_records``
(``deployments.*.producer``, :class:`sim.scenario.ProducerSpec`), and appends them in FIFO
order per partition as the partition gets room. A partition a broker fault took down
(``sim.bus.availability``) has no room until it is back, so its records wait here too, on an
unbounded topic as well (Kafka's producer retries ``LEADER_NOT_AVAILABLE`` from its
accumulator). The service goes on serving meanwhile. When the
buffer is full, ``overflow: block`` makes the service wait until it has room (back-pressure: its
pod stops consuming) and ``shed`` rejects the records that do not fit, reported to the topic's
``on_drop`` as ``"shed"`` with the reason "producer buffer full" (``"producer buffer full
(broker unavailable)"`` when their partition is down).

A buffered batch is not downstream yet: its ``done`` callback (the stage's ``served``) runs
once every record of it is appended, and :meth:`ProducerBuffers.send` returns an event that
fires once it and every batch the pod buffered before it are appended, which a consumer sets as
``Fetched.commit_after`` (at-least-once: the input offsets are committed only then, so a crash
redelivers a batch whose records were still buffered). A crash discards the pod's buffer
(:meth:`ProducerBuffers.crash`); under at-most-once its records are lost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import simpy

from sim.process import ProcessGenerator

if TYPE_CHECKING:
    from sim.bus.topic import Topic

__all__ = ["ProducerBuffers", "producer_buffers"]

SHED_REASON = "producer buffer full"


def producer_buffers(topic: object) -> ProducerBuffers | None:
    """The buffers of the service producing to ``topic``, or None when a plain ``send`` does the
    same: an unbounded topic no broker fault can take down, or an ``overflow: shed`` topic
    (nothing waits), or no buffer with ``block`` (a send to a full or unavailable topic waits at
    once, ``Topic.send``)."""
    spec = getattr(topic, "producer_spec", None)
    if spec is None:
        return None
    if getattr(topic, "capacity_records", None) is None:
        if getattr(topic, "availability", None) is None:
            return None
    elif getattr(topic, "overflow", "block") != "block":
        return None
    if spec.buffer_records == 0 and spec.overflow == "block":
        return None
    return ProducerBuffers(topic, spec.buffer_records, spec.overflow)  # type: ignore[arg-type]


class _Batch:
    __slots__ = ("left", "done", "flushed")

    def __init__(self, done: Callable[[], None] | None) -> None:
        self.left = 0  # records of the batch buffered (or still to be buffered) not yet appended
        self.done = done
        self.flushed: simpy.Event | None = None


class _PodBuffer:
    """One pod's buffer: per partition a FIFO of (record, batch); batches in send order."""

    def __init__(self) -> None:
        self.queues: dict[int, deque[tuple[int, _Batch]]] = {}
        self.size = 0
        self.batches: deque[_Batch] = deque()
        self.room: simpy.Event | None = None  # fires when records leave the buffer
        self.draining = False
        self.crashed = False


class ProducerBuffers:
    """The producer buffer of each pod of one service, producing to ``topic``.

    Parameters
    ----------
    topic : Topic or Fanout
        A bounded ``overflow: block`` topic, or one a broker fault may take down.
    buffer_records : int or None
        Records a pod's buffer holds (>= 0; None = unbounded).
    overflow : {"block", "shed"}
        What a full buffer does.
    """

    def __init__(self, topic: Topic, buffer_records: int | None, overflow: str) -> None:
        if buffer_records is not None and buffer_records < 0:
            raise ValueError(f"producer buffer_records must be >= 0 or None, got {buffer_records}")
        if overflow not in ("block", "shed"):
            raise ValueError(f"producer overflow must be 'block' or 'shed', got {overflow!r}")
        self.topic = topic
        self.env = topic.env
        self.limit = buffer_records
        self.overflow = overflow
        self.pods: dict[str, _PodBuffer] = {}
        self.shed = 0

    def buffered(self, pod: str | None = None) -> int:
        """Records waiting in ``pod``'s buffer (all pods when None)."""
        if pod is not None:
            return self.pods[pod].size if pod in self.pods else 0
        return sum(b.size for b in self.pods.values())

    def send(
        self, pod: str, records: Sequence[int], partitions: Sequence[int],
        done: Callable[[], None] | None = None,
    ) -> tuple[ProcessGenerator | None, simpy.Event | None]:
        """Produce ``records[i]`` to ``partitions[i]`` from ``pod``: appended now where the
        partition has room and nothing of the pod waits for it, buffered otherwise.

        Returns
        -------
        (blocking, flushed)
            ``blocking``: None, or a SimPy sub-process to ``yield from`` while the buffer is
            full (``overflow: block``). ``flushed``: None when the batch and everything the pod
            buffered before it are downstream already, else the event that fires then.
            ``done()`` runs once every non-shed record of the batch is appended.
        """
        buf = self.pods.get(pod)
        if buf is None or buf.crashed:
            buf = self.pods[pod] = _PodBuffer()
        topic, queues, batch = self.topic, buf.queues, _Batch(done)
        now_r, now_p, wait = [], [], []
        room: dict[int, int] = {}
        for r, p in zip(records, partitions, strict=True):
            left = room.get(p)
            if left is None:
                left = 0 if queues.get(p) else topic.room(p)
            if left > 0:
                now_r.append(r)
                now_p.append(p)
                left -= 1
            else:
                wait.append((r, p))
            room[p] = left
        if now_r:
            topic.append_many(now_r, now_p)
        batch.left = len(wait)
        rest = self._enqueue(buf, wait, batch)
        if rest and self.overflow == "shed":
            batch.left -= len(rest)
            self.shed += len(rest)
            topic.drop([r for r, _ in rest], "shed", self._shed_reason(rest))
            rest = []
        if batch.left == 0 and not buf.batches:
            if done is not None:
                done()
            return None, None
        batch.flushed = self.env.event()
        buf.batches.append(batch)
        self._settle(buf)
        return (self._block(buf, rest, batch) if rest else None), batch.flushed

    def _shed_reason(self, rest: list[tuple[int, int]]) -> str:
        """Why ``rest`` is shed: the buffer is full and their partition is full, or down."""
        down = getattr(self.topic, "unavailable", None)
        if down is not None and any(down(p) for _, p in rest):
            return f"{SHED_REASON} (broker unavailable)"
        return f"{SHED_REASON} (buffer_records={self.limit}, topic {self.topic.name} full)"

    def _enqueue(self, buf: _PodBuffer, items: list[tuple[int, int]],
                 batch: _Batch) -> list[tuple[int, int]]:
        """Put as many of ``items`` as fit into ``buf``; returns the rest."""
        free = len(items) if self.limit is None else max(0, self.limit - buf.size)
        put, rest = items[:free], items[free:]
        for r, p in put:
            q = buf.queues.get(p)
            if q is None:
                q = buf.queues[p] = deque()
            q.append((r, batch))
        buf.size += len(put)
        if put and not buf.draining:
            buf.draining = True
            self.env.process(self._drain(buf))
        return rest

    def _block(self, buf: _PodBuffer, rest: list[tuple[int, int]],
               batch: _Batch) -> ProcessGenerator:
        """Wait for room in the buffer, putting the records in as it frees (FIFO)."""
        while rest and not buf.crashed:
            if buf.room is None:
                buf.room = self.env.event()
            yield buf.room
            rest = self._enqueue(buf, rest, batch)

    def _drain(self, buf: _PodBuffer) -> ProcessGenerator:
        """Append buffered records as their partitions get room, until the buffer is empty."""
        topic = self.topic
        while buf.size and not buf.crashed:
            moved = 0
            for p, q in buf.queues.items():
                n = min(len(q), topic.room(p)) if q else 0
                if n:
                    items = [q.popleft() for _ in range(n)]
                    topic.append_many([r for r, _ in items], [p] * n)
                    for _, b in items:
                        b.left -= 1
                    moved += n
            if moved:
                buf.size -= moved
                if buf.room is not None:
                    ev, buf.room = buf.room, None
                    ev.succeed()
                self._settle(buf)
                continue
            yield simpy.AnyOf(self.env, [topic.space(p) for p, q in buf.queues.items() if q])
        buf.draining = False

    def _settle(self, buf: _PodBuffer) -> None:
        """Run ``done`` of every batch fully appended; fire ``flushed`` in send order."""
        for b in buf.batches:
            if b.left == 0 and b.done is not None:
                b.done()
                b.done = None
        while buf.batches and buf.batches[0].left == 0:
            ev = buf.batches.popleft().flushed
            if ev is not None and not ev.triggered:
                ev.succeed()

    def crash(self, pod: str, lost: bool) -> None:
        """``pod`` crashed: its buffer is gone (a Kafka producer's ``buffer.memory`` dies with
        its process). With ``lost`` (at-most-once) its records are reported to the topic's
        ``on_drop`` as ``"lost"``; otherwise their batches were never committed and will be
        delivered again (their ``flushed`` events never fire)."""
        buf = self.pods.pop(pod, None)
        if buf is None:
            return
        buf.crashed = True
        records = [r for q in buf.queues.values() for r, _ in q]
        buf.queues.clear()
        buf.size = 0
        if buf.room is not None and not buf.room.triggered:
            buf.room.succeed()
        if records and lost:
            self.topic.drop(records, "lost", f"producer buffer of crashed pod {pod} "
                            "(at-most-once)")
