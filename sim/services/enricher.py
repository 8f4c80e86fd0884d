"""feature-enricher: the real online ``FeatureStore`` per record, produces ``features-ready``.

Idempotent by transaction id: a redelivered record is not applied to the store twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.bus import BusClient, Producer
from sim.record.ledger import Ledger
from sim.services.stage import ConsumerStage
from sim.topology import Stage
from sim.workload import TxTable

__all__ = ["EnricherHandler"]


def _interned(ids: np.ndarray) -> list[int]:
    """``ids.tolist()`` with one int object per distinct id, when the ids are dense enough
    (0 <= id <= 4 × n + 10^6) for a pool of ``max + 1`` ints; else plain ``tolist``."""
    values = ids.tolist()
    if not values or min(values) < 0 or max(values) > 4 * len(values) + 1_000_000:
        return values
    pool = list(range(max(values) + 1))
    return [pool[v] for v in values]


class EnricherHandler(ConsumerStage):
    """feature-enricher: the online feature store, shared by all enricher pods."""

    stage = Stage.ENRICHER

    def __init__(
        self, table: TxTable, ledger: Ledger, topic_in: BusClient, topic_out: Producer, store: Any
    ) -> None:
        super().__init__(table, ledger, topic_in, topic_out)
        self.store = store
        self.features = np.full((len(table), 15), np.nan)
        self.enriched = bytearray(len(table))  # 1 = the store has seen the row
        # the store's arguments per row as Python lists (customer, terminal, event second,
        # amount), read per record without a NumPy call; ids share one int object per key
        event_s = np.floor(table.event_time_s).astype(np.int64)  # the store wants int seconds
        self._args = (
            _interned(table.customer_id),
            _interned(table.terminal_id),
            event_s.tolist(),
            table.amount.tolist(),
        )

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        enriched = self.enriched
        todo = [r for r in row_list if not enriched[r]]  # redelivered rows were already seen
        if not todo:
            return
        if len(todo) != len(row_list):
            rows = np.array(todo, dtype=np.int64)
        update = self.store.update
        customer, terminal, event_s, amount = self._args
        flat: list[float] = []
        for r in todo:
            flat += update(customer[r], terminal[r], event_s[r], amount[r])
            enriched[r] = 1
        # one write per batch (rows are distinct: Ledger.fresh)
        n = len(todo)
        self.features[rows] = np.fromiter(flat, np.float64, len(flat)).reshape(n, len(flat) // n)

    def release(self) -> None:
        """Free the feature matrix and the per-row argument lists (after the run)."""
        self.features = np.empty((0, 15))
        self._args = ([], [], [], [])
