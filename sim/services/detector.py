"""fraud-detector: one scoring call per micro-batch with the registry's fitted model.

The scorer (``sim.services.scorer``) is compiled from the fitted pipeline's own parameters and
equals ``predict_proba``; each row gets its score and model version, and is produced to
``fraud-scores``.

Model versions per pod (issue 12): each pod scores with the version it has loaded
(:attr:`DetectorHandler.pod_version`); a pod that starts (or restarts after a crash) loads the
champion (:attr:`DetectorHandler.version`) and the orchestrator's rolling hot-swap
(``sim.services.rollout``) loads a new version pod by pod (:meth:`DetectorHandler.load`). A
shadow challenger (:meth:`DetectorHandler.set_shadow`) scores the same batches too: its scores
go to :attr:`DetectorHandler.shadow_score` (never alerted on), and each poll costs
``cost_s_per_record`` × records more (:meth:`DetectorHandler.extra_service_s`, read by the
pod). A retry of failed rows (``sim.pods.retries``) scores with the version of the pod that
began the last batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    """fraud-detector: one ``predict_proba`` per micro-batch with the pod's model version.

    Attributes
    ----------
    version : int
        The champion: what a starting pod loads.
    pod_version : dict of str to int
        The version each serving pod has loaded (a pod not in it loads the champion at its
        first poll).
    shadow_score, shadow_version : numpy.ndarray, shape (n,)
        The shadow challenger's score and version per ledger row (NaN / -1: not shadowed).
    on_load : callable(pod, version, how) or None
        Told of every model load (the orchestrator's ``model_loaded`` incidents; None: silent).
    """

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
        self.scorers: dict[int, Callable[[np.ndarray], np.ndarray]] = {version: self.score}
        self.pod_version: dict[str, int] = {}
        self.on_load: Callable[[str, int, str], None] | None = None
        self.shadow: int = -1
        self.cost_s_per_record = 0.0
        self.shadow_score = np.full(len(table), math.nan)
        self.shadow_version = np.full(len(table), -1, dtype=np.int32)
        self._pod = ""

    def add_version(self, version: int, model: Any) -> None:
        """Make ``version`` loadable (compile its scorer)."""
        self.scorers[version] = compile_scorer(model)

    def load(self, pod: str, version: int, how: str = "hot-swap") -> None:
        """``pod`` now scores with ``version``."""
        self.pod_version[pod] = version
        if self.on_load is not None:
            self.on_load(pod, version, how)

    def set_shadow(self, version: int, cost_s_per_record: float) -> None:
        """``version`` scores in shadow from now (-1: no shadow), at ``cost_s_per_record``
        more per polled record."""
        self.shadow = version
        self.cost_s_per_record = cost_s_per_record if version >= 0 else 0.0

    def extra_service_s(self, n: int) -> float:
        """The shadow's extra service time of a poll of ``n`` records (s; 0 without)."""
        return self.cost_s_per_record * n

    def begin(self, records: list[int], pod: str) -> list[int]:
        self._pod = pod
        return super().begin(records, pod)

    def crashed(self, pod: str, lost: bool, records: list[int]) -> None:
        """A crashed pod loses its loaded model: it loads the champion when it restarts."""
        self.pod_version.pop(pod, None)
        super().crashed(pod, lost, records)

    def release(self) -> None:
        """Drop the reference to the enricher's feature matrix (after the run)."""
        self.features = np.empty((0, 15))

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        version = self.pod_version.get(self._pod)
        if version is None:  # a pod's first poll: it loaded the champion while starting
            version = self.version
            self.load(self._pod, version, "start-up")
        x = self.features[rows]
        self.ledger.score[rows] = self.scorers[version](x)
        self.ledger.model_version[rows] = version
        if self.shadow >= 0:
            self.shadow_score[rows] = self.scorers[self.shadow](x)
            self.shadow_version[rows] = self.shadow
