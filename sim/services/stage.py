"""What every consumer service shares: idempotent begin, timed finish, produce, drop.

A service sees the bus only through ``sim.bus.client``: it produces with ``Producer.send``
(records with their keyed partitions) and reads the time from the client's ``env``. When its
deployment has a producer buffer (``deployments.*.producer``) in front of a bounded topic, it
produces through ``sim.bus.producer.ProducerBuffers`` (one buffer per pod) instead.
"""

from __future__ import annotations

import numpy as np

from sim.bus import BusClient, Fetched, Producer
from sim.process import ProcessGenerator
from sim.record.ledger import Ledger, Outcome
from sim.topology import Stage
from sim.workload import TxTable

__all__ = ["ConsumerStage"]


class ConsumerStage:
    """A consumer service: the ``sim.pods.Handler`` of one stage.

    Parameters
    ----------
    table : TxTable
    ledger : Ledger
    topic_in : sim.bus.BusClient
        The input side; only its clock (``env``) is read (the deployment polls for it).
    topic_out : sim.bus.Producer or None
        Where served rows are produced, keyed by card (None at the last stage).

    Attributes
    ----------
    producer : sim.bus.producer.ProducerBuffers or None
        The pods' producer buffers (None: a plain ``send``, see
        :func:`sim.bus.producer.producer_buffers`).
    """

    stage: Stage

    def __init__(
        self, table: TxTable, ledger: Ledger, topic_in: BusClient, topic_out: Producer | None
    ) -> None:
        self.table = table
        self.ledger = ledger
        self.topic_in = topic_in
        self.topic_out = topic_out if ledger.last_stage > self.stage else None
        # partition of each row in the output topic (keyed by card), looked up per record
        self._out_partition = (
            None
            if self.topic_out is None
            else self.topic_out.partition_of(table.customer_id).tolist()
        )
        self.producer = None if self.topic_out is None else self.topic_out.buffers

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        """The stage's real work on fresh rows (the same rows as an array and as a list)."""

    def begin(self, records: list[int], pod: str) -> list[int]:
        rows = self.ledger.fresh(self.stage, records)
        if rows:
            self.compute(np.array(rows, dtype=np.int64), rows)
        return rows

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        """Produce ``rows`` downstream and record them served; a sub-process to ``yield from``
        when the output topic is bounded (the produce may block), else done at once (None).
        Rows left in the pod's producer buffer are recorded served once appended, and
        ``fetched.commit_after`` is set to the event of that (at-least-once commits then)."""
        if not rows:
            return None
        topic = self.topic_out
        if topic is not None:
            part = self._out_partition
            if self.producer is not None:
                return self._finish_buffered(rows, start_s, pod, fetched)
            blocking = topic.send(rows, [part[r] for r in rows])
            if blocking is not None:  # a bounded topic: the produce may block
                return self._finish_blocking(blocking, rows, start_s, pod)
        self.ledger.served(self.stage, rows, start_s, self.topic_in.env.now, pod)
        return None

    def _finish_buffered(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        assert self.producer is not None and self._out_partition is not None
        end_s, part, ledger, stage = self.topic_in.env.now, self._out_partition, self.ledger, \
            self.stage

        def done() -> None:  # every row downstream (or shed): recorded served only now, so
            ledger.served(stage, rows, start_s, end_s, pod)  # a crash before redelivers them

        blocking, flushed = self.producer.send(pod, rows, [part[r] for r in rows], done)
        if flushed is not None:
            fetched.commit_after = flushed
        return blocking

    def _finish_blocking(
        self, blocking: ProcessGenerator, rows: list[int], start_s: float, pod: str
    ) -> ProcessGenerator:
        end_s = self.topic_in.env.now  # service end; the full downstream topic may block below
        yield from blocking
        # recorded only once every row is downstream: a crash while blocked leaves the rows
        # unserved, so their redelivery produces them again (duplicates are dropped there)
        self.ledger.served(self.stage, rows, start_s, end_s, pod)

    def drop(self, records: list[int], reason: str) -> None:
        self.ledger.finish(np.array(records, dtype=np.int64), Outcome.LOST, self.stage, reason)

    def dead_letter(self, rows: list[int], reason: str, attempts: int) -> None:
        """Settle ``rows`` as dead-lettered at this stage, with ``reason`` and the ``attempts``
        made (in the ``transactions`` frame's ``reason``); their batch is then committed.

        A minimal version for the feature-store call (issue 11); the dead-letter topic
        ``<topic>.dlq`` itself is another branch's.
        """
        self.ledger.finish(np.array(rows, dtype=np.int64), Outcome.DEAD_LETTERED, self.stage,
                           f"{reason} ({attempts} attempts)")

    def crashed(self, pod: str, lost: bool, records: list[int]) -> None:
        """``pod`` crashed holding ``records``: those it had not served may be served again
        when redelivered (``Ledger.release``), and its producer buffer is gone
        (``sim.bus.ProducerBuffer``)."""
        self.ledger.release(self.stage, records)
        if self.producer is not None:
            self.producer.crash(pod, lost)

    def release(self) -> None:
        """Nothing to free (stages that hold per-run arrays override this)."""
