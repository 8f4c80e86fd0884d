"""What every consumer service shares: idempotent begin, timed finish, produce, drop.

A service sees the bus only through ``sim.bus.client``: it produces with ``Producer.send``
(records with their keyed partitions) and reads the time from the client's ``env``.
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
        when the output topic is bounded (the produce may block), else done at once (None)."""
        if not rows:
            return None
        topic = self.topic_out
        if topic is not None:
            part = self._out_partition
            blocking = topic.send(rows, [part[r] for r in rows])
            if blocking is not None:  # a bounded topic: the produce may block
                return self._finish_blocking(blocking, rows, start_s, pod)
        self.ledger.served(self.stage, rows, start_s, self.topic_in.env.now, pod)
        return None

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

    def release(self) -> None:
        """Nothing to free (stages that hold per-run arrays override this)."""
