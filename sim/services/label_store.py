"""The offline label store: which transactions' labels are known, since when (processing s).

The label feed's consumer (``sim.services.label_feed.LabelHandler``) records each live
transaction's label here when it applies it (the same moment the online feature store learns
it); the model-training-service trains only on labels known when its job starts, and the
monitoring-service computes its delayed metrics from them (Feast's "log features, join labels
later" offline store). History rows (before the live window) are not here: their labels are
known by the rule of the label delay (``sim.services.warmup``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LabelStore"]


class LabelStore:
    """Known labels of the live transactions, by ledger row.

    Parameters
    ----------
    n : int
        Number of live transactions (ledger rows).

    Attributes
    ----------
    known_at_s : numpy.ndarray of float, shape (n,)
        Processing time (s) at which each row's label became known; ``inf``: not (yet) known.
    value : numpy.ndarray of int8, shape (n,)
        The known label (1 fraud, 0 genuine); meaningful where ``known_at_s`` is finite.
    source : numpy.ndarray of int8, shape (n,)
        How it became known: 0 the label feed (a chargeback or its absence), 1 an
        investigator's feedback on an alerted card.
    """

    FEED, FEEDBACK = 0, 1

    def __init__(self, n: int) -> None:
        self.known_at_s = np.full(n, np.inf)
        self.value = np.zeros(n, dtype=np.int8)
        self.source = np.zeros(n, dtype=np.int8)

    def record(self, rows: np.ndarray, values: np.ndarray, now_s: float,
               source: int = FEED) -> None:
        """Record the labels ``values`` of ledger ``rows`` as known at ``now_s``. A row known
        before keeps its first time (a later report does not make it newer)."""
        rows = np.asarray(rows, dtype=np.int64)
        new = np.isinf(self.known_at_s[rows])
        rows = rows[new]
        self.known_at_s[rows] = now_s
        self.value[rows] = np.asarray(values)[new]
        self.source[rows] = source

    def known(self, now_s: float) -> np.ndarray:
        """Boolean mask, shape (n,): labels known at processing time ``now_s``."""
        return self.known_at_s <= now_s
