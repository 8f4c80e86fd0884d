"""What one poll returns: the records, their offset ranges and their delivery attempts.

Kafka's ``ConsumerRecords``; the attempt of each record is what RabbitMQ's redelivered flag,
a Redis Streams pending entry's delivery count or a Kafka share group's delivery count give
(``sim.bus.group`` counts them per group and partition).
"""

from __future__ import annotations

import simpy

__all__ = ["Fetched"]


class Fetched:
    """Records returned by one poll (Kafka's ``ConsumerRecords``).

    Attributes
    ----------
    records : list of int
        The records (row numbers), in poll order.
    ranges : list of (partition, start, end)
        The offset ranges polled, ``start <= offset < end``, in poll order.
    redelivered : int
        How many of the records were delivered before (after a rewind), 0 on first delivery.
    handles : list of int or None
        On a queue (SQS, RabbitMQ), the receipt handle / delivery tag of each record (None on
        Kafka, whose ``ranges`` say what to commit).
    commit_after : simpy.Event or None
        Set by the handler when the records it produced still wait in its producer's buffer:
        the consumer commits only once the event has fired (at-least-once: a crash before then
        redelivers the batch).
    seek_back : bool
        Set by the handler when a record's processing failed for good and it is not
        dead-lettered: the consumer does not commit the batch and seeks back to its first
        uncommitted offset (Kafka's ``seek``; a queue's nack / visibility reset: the
        consumer's ``rewind``), so the records are polled again (``sim.pods.deployment``).
    """

    __slots__ = ("records", "ranges", "redelivered", "_again", "handles", "commit_after",
                 "seek_back")

    def __init__(
        self,
        records: list[int],
        ranges: list[tuple[int, int, int]],
        again: dict[int, int] | None = None,
    ) -> None:
        self.records = records
        self.ranges = ranges
        self._again = again  # index in records -> attempt, for redelivered records only
        self.redelivered = len(again) if again else 0
        self.handles: list[int] | None = None  # a queue's receipt handles / delivery tags
        self.commit_after: simpy.Event | None = None  # set by a handler whose produce is
        # still in a producer buffer: the consumer commits once it has fired
        self.seek_back = False  # set by a handler: do not commit, seek back (redelivered)

    @property
    def attempts(self) -> list[int]:
        """Delivery attempt of each record (1 = first delivery, 2+ = redelivered after a
        rewind; RabbitMQ's redelivered flag, the delivery count of a Redis Streams pending
        entry or of a Kafka share group), aligned with :attr:`records`."""
        out = [1] * len(self.records)
        if self._again:
            for i, a in self._again.items():
                out[i] = a
        return out

    def attempt(self, index: int) -> int:
        """Delivery attempt of ``records[index]`` (see :attr:`attempts`)."""
        return self._again.get(index, 1) if self._again else 1
