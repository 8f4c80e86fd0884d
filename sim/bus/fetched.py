"""What one poll returns: the records, their offset ranges and their delivery attempts.

Kafka's ``ConsumerRecords``; the attempt of each record is what RabbitMQ's redelivered flag,
a Redis Streams pending entry's delivery count or a Kafka share group's delivery count give
(``sim.bus.group`` counts them per group and partition).
"""

from __future__ import annotations

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
    """

    __slots__ = ("records", "ranges", "redelivered", "_again")

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
