"""alert-service: applies the alert policy (``sim.policies.alert``) to each scored record.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.bus import BusClient
from sim.policies.alert import AlertPolicy
from sim.record.ledger import Ledger
from sim.services.stage import ConsumerStage
from sim.topology import Stage
from sim.workload import TxTable

__all__ = ["AlertHandler"]


class AlertHandler(ConsumerStage):
    """alert-service: threshold + daily card budget, idempotent by transaction.

    A transaction is decided (and paged, when alerted) once: a copy delivered again after a
    crash before the commit (at-least-once) finds its decision already recorded and pages no
    one a second time, nor spends the card budget again (an idempotency key per transaction,
    kept with the decision). ``on_alert(rows)`` (None: nobody listens) is called with the rows
    alerted by each batch (the investigators' feedback, ``sim.services.feedback``)."""

    stage = Stage.ALERT

    def __init__(
        self, table: TxTable, ledger: Ledger, topic_in: BusClient, policy: AlertPolicy
    ) -> None:
        super().__init__(table, ledger, topic_in, None)
        self.policy = policy
        self.day = (table.event_time_s // 86400).astype(np.int64)
        self.decided = np.zeros(len(table), dtype=bool)  # idempotency keys, by row
        self.on_alert: Callable[[np.ndarray], None] | None = None

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        new = ~self.decided[rows]
        if not new.all():  # delivered again after a crash: decided (and paged) already
            rows = rows[new]
            if not len(rows):
                return
        self.decided[rows] = True
        led, decide = self.ledger, self.policy.decide
        alerted = [
            decide(d, c, s)
            for d, c, s in zip(
                self.day[rows].tolist(),
                self.table.customer_id[rows].tolist(),
                led.score[rows].tolist(),
                strict=True,
            )
        ]
        led.alerted[rows] = alerted
        led.n_alerted += sum(alerted)
        if self.on_alert is not None and any(alerted):
            self.on_alert(rows[np.asarray(alerted, dtype=bool)])
