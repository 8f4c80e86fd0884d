"""monitoring-service: the second subscriber of ``fraud-scores`` (SNS / fanout / a second group).

Every score the fraud-detector publishes reaches both the alert-service and this service: on
Kafka as a second consumer group of the topic, on SQS as a second queue subscribed to the SNS
topic, on RabbitMQ as a second queue bound to the fanout exchange. It watches the score
distribution as it arrives: the count and mean of the scores it consumed (sampled by the
monitor as ``tinybots_monitoring_scores_total`` and ``tinybots_fraud_score_mean``) and a
histogram of ten equal bins on [0, 1], the current window of a score-drift statistic (PSI
against the training window's scores is the retraining issue's). A copy it never receives (an
at-most-once crash, retention, a dead-letter queue) is counted in :attr:`MonitoringHandler.lost`;
it is a copy, not a transaction, so it is outside conservation.

With ``monitoring.drift`` it also runs the drift checks (:attr:`MonitoringHandler.drift`,
``sim.services.drift_watch``) on the scores it consumes, and produces its alarms on the
``drift-detected`` topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.bus import Fetched
from sim.process import ProcessGenerator
from sim.record.ledger import Ledger

if TYPE_CHECKING:
    from sim.services.drift_watch import DriftWatch

__all__ = ["SCORE_BINS", "MonitoringHandler"]

SCORE_BINS = 10
"""Equal-width bins of the score histogram on [0, 1]."""


class MonitoringHandler:
    """The monitoring-service's ``sim.pods.Handler``: consumes scores, keeps their histogram.

    Parameters
    ----------
    ledger : Ledger
        Where the scores are read (``ledger.score``, written by the fraud-detector).

    Attributes
    ----------
    seen : int
        Distinct scores consumed (redeliveries are dropped by transaction id).
    score_sum : float
        Sum of the consumed scores.
    histogram : numpy.ndarray of int, shape (SCORE_BINS,)
        Consumed scores per bin of [0, 1].
    lost : int
        Copies of scores never consumed (at-most-once crash, retention, dead-letter queue).
    drift : DriftWatch or None
        The drift checks (None unless ``monitoring.drift``).
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._seen = bytearray(ledger.n)
        self.seen = 0
        self.score_sum = 0.0
        self.histogram = np.zeros(SCORE_BINS, dtype=np.int64)
        self.lost = 0
        self.drift: DriftWatch | None = None

    def set_reference(self, X: np.ndarray, scores: np.ndarray, version: int) -> None:
        """Compare the drift checks with model ``version``'s training window from now on
        (``X``: shape (n, 15), ``FEATURE_COLUMNS`` order; ``scores``: shape (n,)); the
        retraining loop calls it on a rollout. No-op without ``monitoring.drift``."""
        if self.drift is not None:
            self.drift.set_reference(X, scores, version)

    def begin(self, records: list[int], pod: str) -> list[int]:
        seen = self._seen
        fresh = [r for r in records if not seen[r]]
        return sorted(set(fresh)) if len(fresh) > 1 else fresh

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        seen = self._seen
        fresh = [r for r in rows if not seen[r]]  # another consumer may have taken some
        if not fresh:
            return None
        for r in fresh:
            seen[r] = 1
        scores = self.ledger.score[np.asarray(fresh, dtype=np.int64)]
        scores = scores[np.isfinite(scores)]
        self.seen += len(fresh)
        self.score_sum += float(scores.sum())
        bins = np.minimum((scores * SCORE_BINS).astype(np.int64), SCORE_BINS - 1)
        self.histogram += np.bincount(bins, minlength=SCORE_BINS)
        if self.drift is not None:
            return self.drift.consumed(np.asarray(fresh, dtype=np.int64), self.drift.topic.env.now)
        return None

    def drop(self, records: list[int], reason: str) -> None:
        """Count score copies that will never be consumed."""
        seen = self._seen
        self.lost += len({r for r in records if not seen[r]})

    def crashed(self, pod: str, lost: bool, records: list[int]) -> None:
        """Nothing to do: it produces nothing (no producer buffer)."""

    def rewound(self, records: list[int], redelivered: bool) -> None:
        """Never called: its processing does not fail (it sets no ``Fetched.seek_back``)."""

    def release(self) -> None:
        """Free the per-row flags."""
        self._seen = bytearray(0)
