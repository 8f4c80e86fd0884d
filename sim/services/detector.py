"""fraud-detector: one scoring call per micro-batch with the registry's fitted model.

The scorer (``sim.services.scorer``) is compiled from the fitted pipeline's own parameters and
equals ``predict_proba``; each row gets its score and model version, and is produced to
``fraud-scores``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.bus import BusClient, Producer
from sim.record.ledger import Ledger
from sim.services.scorer import compile_scorer
from sim.services.stage import ConsumerStage
from sim.topology import Stage
from sim.workload import TxTable

__all__ = ["DetectorHandler"]


class DetectorHandler(ConsumerStage):
    """fraud-detector: one ``predict_proba`` per micro-batch with the registry's model."""

    stage = Stage.DETECTOR

    def __init__(
        self,
        table: TxTable,
        ledger: Ledger,
        topic_in: BusClient,
        topic_out: Producer,
        features: np.ndarray,
        model: Any,
        version: int,
    ) -> None:
        super().__init__(table, ledger, topic_in, topic_out)
        self.features = features
        self.model = model
        self.version = version
        # the fitted model's own parameters, without sklearn's per-call checks (sim.services.scorer)
        self.score = compile_scorer(model)

    def release(self) -> None:
        """Drop the reference to the enricher's feature matrix (after the run)."""
        self.features = np.empty((0, 15))

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        self.ledger.score[rows] = self.score(self.features[rows])
        self.ledger.model_version[rows] = self.version
