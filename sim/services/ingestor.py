"""transaction-ingestor: validates each event's schema and produces it to ``transactions``.

An event that fails the schema check is dead-lettered with the reason; a valid one is produced
keyed by card (``CUSTOMER_ID``), through the pod's producer buffer when the ingestor has one
in front of a bounded topic (``deployments.transaction_ingestor.producer``,
``sim.bus.producer``). The queueing (one FIFO, c servers) is ``sim.pods.ingress`` or its
precomputed twin; this module is the service's own work. A ``network_delay`` fault from the
ingestor to the feature-enricher (:attr:`IngestorService.delay_s`) holds each produce back by
the delay (its acks' round trip): the ingest span ends, and the record reaches
``transactions``, that much later (the event-driven ingress only: ``sim.engine``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.bus import Producer
from sim.process import ProcessGenerator
from sim.record.ledger import Ledger, Outcome
from sim.topology import Stage
from sim.workload import TxTable
from tinybots.schema import event_schema_errors

__all__ = ["IngestorService", "schema_errors"]


def schema_errors(table: TxTable) -> np.ndarray:
    """Per-row validation message of the event schema (None = valid), object array of shape (n,)
    (the rules: ``tinybots.schema.event_schema_errors``)."""
    return event_schema_errors(table.amount, table.customer_id, table.terminal_id,
                               table.event_time_s)


class IngestorService:
    """Request handler of the transaction-ingestor (see module docstring)."""

    def __init__(self, table: TxTable, ledger: Ledger, topic_out: Producer | None) -> None:
        self.table = table
        self.ledger = ledger
        self.topic_out = topic_out if ledger.last_stage > Stage.INGESTOR else None
        self.errors = schema_errors(table)
        self.any_error = bool(np.any(self.errors != None))  # noqa: E711 (elementwise)
        self.keys = table.customer_id
        self._out_partition: list[int] | None = None  # per row, built at the first produce
        self.producer = None if self.topic_out is None else self.topic_out.buffers
        self.delay_s: Callable[[float], float] | None = None  # network delay of a produce now

    def serve(self, row: int, start_s: float, end_s: float, server: str) -> ProcessGenerator | None:
        """Validate and produce ``row`` (served from ``start_s`` to ``end_s`` by ``server``);
        a sub-process when the produce waits (back-pressure, a network delay)."""
        if self.delay_s is not None and self.topic_out is not None:
            d = self.delay_s(end_s)
            if d > 0 and (not self.any_error or self.errors[row] is None):
                return self._serve_delayed(d, row, start_s, server)
        return self._serve_now(row, start_s, end_s, server)

    def _serve_delayed(self, d: float, row: int, start_s: float, server: str) -> ProcessGenerator:
        env = self.topic_out.env  # type: ignore[union-attr]
        yield env.timeout(d)
        more = self._serve_now(row, start_s, env.now, server)
        if more is not None:
            yield from more

    def _serve_now(
        self, row: int, start_s: float, end_s: float, server: str
    ) -> ProcessGenerator | None:
        led = self.ledger
        led.start_ingest[row] = start_s  # views of row 0 (Stage.INGESTOR) of start / end
        led.end_ingest[row] = end_s
        led.ingest_server[row] = led.pod_id(server)
        err = self.errors[row] if self.any_error else None
        if err is not None:
            led.finish(np.array([row]), Outcome.DEAD_LETTERED, Stage.INGESTOR, err)
            return None
        if self.topic_out is None:
            led.finish(np.array([row]), Outcome.COMPLETED, Stage.INGESTOR, None)
            return None
        part = self._out_partition
        if part is None:
            part = self._out_partition = self.topic_out.partition_of(self.keys).tolist()
        if self.producer is not None:  # the server's pod buffers what a full topic refuses
            return self.producer.send(server.rsplit("/", 1)[0], (row,), (part[row],))[0]
        return self.topic_out.send((row,), (part[row],))

    def shed(self, row: int, reason: str) -> None:
        self.ledger.finish(np.array([row]), Outcome.SHED, Stage.INGESTOR, reason)
