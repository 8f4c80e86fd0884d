"""The ``models`` frame: one row per model version of the run (and per failed training job).

Columns (:data:`MODEL_COLUMNS`; times in processing s, NaN when it did not happen):
``version`` (registry version; -1: a failed job), ``kind``, ``trigger`` (``initial`` /
``scheduled`` / ``drift`` / ``bad_model``), ``status`` (``champion`` at the end, ``retired``
(replaced), ``rolled_back``, ``discarded`` (after shadow), ``shadow`` (still in shadow at the
end), ``failed``), ``train_start`` / ``train_end`` (the training window, event time),
``n_train`` / ``n_train_frauds`` (rows fitted on), ``n_labels_used`` (live labels among the
training and held-out rows), ``labels_known_max_s`` (latest time a live label used became
known), ``job_start_s`` (the job took its data), ``created_s`` (registered), ``rollout_start_s``
/ ``rollout_end_s`` (the rolling hot-swap; 0 for the initial version), ``shadow_start_s`` /
``shadow_end_s``, ``rolled_back_s`` / ``rollback_end_s``, ``train_average_precision``
(in sample), ``auc_roc`` / ``average_precision`` / ``card_precision_at_100`` (the held-out
latest ``eval_days`` labelled days), ``n_scored`` / ``n_alerts`` (transactions the version
scored / alerted, from the ledger), ``reason`` (why a job failed).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sim.system import System

__all__ = ["MODEL_COLUMNS", "models_frame"]

MODEL_COLUMNS = (
    "version", "kind", "trigger", "status", "train_start", "train_end", "n_train",
    "n_train_frauds", "n_labels_used", "labels_known_max_s", "job_start_s", "created_s",
    "rollout_start_s", "rollout_end_s", "shadow_start_s", "shadow_end_s", "rolled_back_s",
    "rollback_end_s", "train_average_precision", "auc_roc", "average_precision",
    "card_precision_at_100", "n_scored", "n_alerts", "reason",
)
_INT = ("version", "n_train", "n_train_frauds", "n_labels_used", "n_scored", "n_alerts")
_STR = ("kind", "trigger", "status", "train_start", "train_end", "reason")


def models_frame(s: System) -> pd.DataFrame:
    """The ``models`` frame of a finished System (columns: the module docstring)."""
    orch = getattr(s, "orchestrator", None)
    if orch is not None:
        rows = orch.rows()
    else:
        rows = [{**m, "trigger": "initial", "status": "champion", "n_labels_used": 0,
                 "created_s": 0.0, "rollout_start_s": 0.0, "rollout_end_s": 0.0}
                for m in s.models]
    led = s.ledger
    out = []
    for r in rows:
        v = int(r["version"])
        scored = led.model_version == v if v >= 0 else np.zeros(led.n, bool)
        row = {c: r.get(c, "" if c in _STR else (0 if c in _INT else math.nan))
               for c in MODEL_COLUMNS}
        row["n_scored"] = int(scored.sum())
        row["n_alerts"] = int((scored & led.alerted).sum())
        out.append(row)
    f = pd.DataFrame(out, columns=list(MODEL_COLUMNS))
    return f.astype({c: "int64" for c in _INT} | {c: "float64" for c in MODEL_COLUMNS
                                                     if c not in _INT and c not in _STR})
