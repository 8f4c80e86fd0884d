"""feature-enricher: the real online ``FeatureStore`` per record, produces ``features-ready``.

Idempotent by transaction id: a redelivered record is not applied to the store twice.

When the run models the feature store as a remote dependency (:meth:`EnricherHandler.use_call`,
``sim.scenario.resilience.feature_store_spec``), each poll's fresh rows make one call
(``sim.services.resilient_call``) after the poll's service time, while the consumer waits (the
call is part of the enricher's processing: its span's ``service_s`` includes it). On success
the rows go on as without the call. On failure:

- with ``fallback: cached_features`` the rows get their card's last features read before
  (a per-card cache of the last row whose call succeeded; zeros when the card has none, and
  NaN read as 0), are flagged :attr:`EnricherHandler.degraded` and go on (they are scored);
- else their processing failed (:meth:`ConsumerStage.give_up`, as for a poison record): with
  ``resilience.dead_letter`` they are dead-lettered with the call's reason and attempts, else
  the batch is not committed: the consumer seeks back to it (``Fetched.seek_back``) and polls
  it again (at-least-once; the partition waits for the feature store).

Only the read is modelled as failing: the store's write path (the real ``FeatureStore``
update in :meth:`EnricherHandler.compute`) always happens, once per transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim.bus import BusClient, Fetched, Producer
from sim.process import ProcessGenerator
from sim.record.ledger import Ledger
from sim.services.stage import ConsumerStage
from sim.topology import Stage
from sim.workload import TxTable

if TYPE_CHECKING:
    from sim.services.resilient_call import ResilientCaller

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
    """feature-enricher: the online feature store, shared by all enricher pods.

    Attributes
    ----------
    degraded : numpy.ndarray of bool, shape (n,)
        Rows served with cached features after a failed feature-store call (the
        ``transactions`` frame's ``degraded``).
    caller : ResilientCaller or None
        The feature-store call (None: not modelled, the store is in-process).
    """

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
        self.degraded = np.zeros(len(table), dtype=bool)
        self.caller: ResilientCaller | None = None
        self.fallback = False
        self._last_read: dict[int, int] = {}  # card -> last row whose features were read

    def use_call(self, caller: ResilientCaller, resilience: Any) -> None:
        """Model the feature-store read as ``caller``'s call, with ``resilience``'s
        ``fallback`` (a ``sim.scenario.resilience.ResilienceSpec``)."""
        self.caller = caller
        self.fallback = resilience.fallback == "cached_features"

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        """As :meth:`ConsumerStage.finish`, after the feature-store call when it is modelled
        (see the module docstring)."""
        if self.caller is None or not rows:
            return super().finish(rows, start_s, pod, fetched)
        return self._finish_after_call(rows, start_s, pod, fetched)

    def _finish_after_call(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator:
        assert self.caller is not None
        result = yield from self.caller.call(len(rows))
        card = self._args[0]
        if result.ok:
            last = self._last_read
            for r in rows:  # rows are sorted: a card's latest row wins
                last[card[r]] = r
        elif self.fallback:
            self._use_cached(rows, card)
        else:  # failed processing: dead-lettered, or the batch polled again
            self.give_up(dict.fromkeys(rows, result.reason or ""), result.attempts, fetched)
            return
        blocking = super().finish(rows, start_s, pod, fetched)
        if blocking is not None:
            yield from blocking

    def _use_cached(self, rows: list[int], card: list[int]) -> None:
        """Give ``rows`` their card's last features read (zeros if none; NaN as 0), flagged
        degraded."""
        src = np.array([self._last_read.get(card[r], -1) for r in rows], dtype=np.int64)
        cached = np.nan_to_num(self.features[np.maximum(src, 0)])
        cached[src < 0] = 0.0
        idx = np.array(rows, dtype=np.int64)
        self.features[idx] = cached
        self.degraded[idx] = True

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
        """Free the feature matrix, the per-row argument lists and the cache (after the run;
        :attr:`degraded` is kept for the frames)."""
        self.features = np.empty((0, 15))
        self._args = ([], [], [], [])
        self._last_read = {}
