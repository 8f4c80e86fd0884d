"""The orchestrator-service's decisions, as pure policies (no SimPy): when to train, whether a
shadow challenger is promoted, whether a rolled-out version is rolled back.

- :class:`TriggerPolicy`: ``scheduled`` trains every ``every_days`` of event time from the live
  window's start (a Kubernetes CronJob / an Airflow schedule), ``on_drift`` on a drift alarm at
  most once per ``cooldown_days`` (the cooldown of river's ``drift.retrain`` wrapper and of
  SageMaker Model Monitor's retraining triggers), ``both`` either;
- :func:`shadow_verdict`: a challenger that scored in shadow for ``days`` is promoted when its
  delayed metric beats the champion's on the same transactions by ``margin`` (a shadow
  deployment, Sato et al., "Continuous Delivery for Machine Learning", 2019), else discarded;
- :func:`guard_verdict`: a rolled-out version whose delayed metric falls below ``min_ratio`` ×
  the previous version's is rolled back (Argo Rollouts' analysis runs, Flagger's metric
  checks, here on delayed labels);
- :func:`delayed_metric`: AP or CP@100 over labelled rows (NaN when it is not defined).

The processes of ``sim.services.orchestrator`` only drive these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["TriggerPolicy", "delayed_metric", "guard_verdict", "shadow_verdict"]

_DAY_S = 86400.0
Verdict = Literal["wait", "promote", "discard"]
GuardVerdict = Literal["wait", "keep", "roll_back"]


@dataclass
class TriggerPolicy:
    """When to start a training job (event time, naive Unix s).

    Parameters
    ----------
    policy : {"none", "scheduled", "on_drift", "both"}
    every_days : float
        Scheduled: a training every ``every_days`` days of event time after ``origin_s``.
    cooldown_days : float
        On drift: an alarm less than ``cooldown_days`` after the last accepted one is ignored.
    origin_s : float
        Event time the schedule counts from (the live window's start).

    Examples
    --------
    >>> p = TriggerPolicy("scheduled", every_days=2.0, cooldown_days=1.0, origin_s=0.0)
    >>> [p.scheduled(d * 86400.0) for d in (1.0, 2.0, 2.5, 4.0)]
    [False, True, False, True]
    >>> q = TriggerPolicy("on_drift", every_days=7.0, cooldown_days=1.0, origin_s=0.0)
    >>> [q.drift(h * 3600.0) for h in (0, 12, 24)]
    [True, False, True]
    """

    policy: Literal["none", "scheduled", "on_drift", "both"]
    every_days: float
    cooldown_days: float
    origin_s: float
    last_drift_s: float = -math.inf
    next_due_s: float = field(init=False)

    def __post_init__(self) -> None:
        if self.every_days <= 0:
            raise ValueError(f"retraining.every_days: must be > 0, got {self.every_days:g}")
        if self.cooldown_days < 0:
            raise ValueError(f"retraining.cooldown_days: must be >= 0, got "
                             f"{self.cooldown_days:g}")
        self.next_due_s = self.origin_s + self.every_days * _DAY_S

    def scheduled(self, now_s: float) -> bool:
        """Whether a scheduled training is due at event time ``now_s`` (advances the schedule;
        several missed slots give one training)."""
        if self.policy not in ("scheduled", "both") or now_s < self.next_due_s:
            return False
        every = self.every_days * _DAY_S
        self.next_due_s += every * (math.floor((now_s - self.next_due_s) / every) + 1)
        return True

    def drift(self, now_s: float) -> bool:
        """Whether a drift alarm at event time ``now_s`` starts a training (records it)."""
        if self.policy not in ("on_drift", "both"):
            return False
        if now_s - self.last_drift_s < self.cooldown_days * _DAY_S:
            return False
        self.last_drift_s = now_s
        return True


def delayed_metric(
    metric: str, y: np.ndarray, scores: np.ndarray, day: np.ndarray, card: np.ndarray,
    k: int = 100,
) -> float:
    """``average_precision`` or ``card_precision_at_100`` of ``scores`` against the known labels
    ``y`` (shape (n,) each; ``day`` whole event days, ``card`` customer ids, for CP@k); NaN when
    there are no rows or one class only.

    >>> delayed_metric("average_precision", np.array([0, 1]), np.array([0.1, 0.9]),
    ...                np.zeros(2), np.arange(2))
    1.0
    """
    from tinybots.metrics import average_precision, card_precision_at_k

    y = np.asarray(y)
    if len(y) == 0 or y.min() == y.max():
        return math.nan
    if metric == "average_precision":
        return float(average_precision(y, np.asarray(scores, dtype=float)))
    if metric == "card_precision_at_100":
        import pandas as pd

        frame = pd.DataFrame({"TX_TIME_DAYS": np.asarray(day, np.int64),
                              "CUSTOMER_ID": np.asarray(card, np.int64),
                              "TX_FRAUD": y.astype(np.int64), "predictions": scores})
        return float(card_precision_at_k(frame, k).mean)
    raise ValueError(f"metric: must be average_precision or card_precision_at_100, got {metric}")


def shadow_verdict(
    challenger: float, champion: float, n_labels: int, elapsed_days: float, *, days: float,
    min_labels: int, margin: float,
) -> Verdict:
    """The shadow phase's decision: ``wait`` until ``days`` of event time have passed and
    ``min_labels`` shadowed rows are labelled with both metrics defined; then ``promote`` when
    ``challenger > champion + margin``, else ``discard``.

    >>> shadow_verdict(0.6, 0.5, 300, 2.0, days=2.0, min_labels=200, margin=0.0)
    'promote'
    >>> shadow_verdict(0.6, 0.5, 100, 2.0, days=2.0, min_labels=200, margin=0.0)
    'wait'
    >>> shadow_verdict(0.52, 0.5, 300, 3.0, days=2.0, min_labels=200, margin=0.05)
    'discard'
    """
    if not _judgeable(challenger, champion, n_labels, elapsed_days, days, min_labels):
        return "wait"
    return "promote" if challenger > champion + margin else "discard"


def guard_verdict(
    new: float, previous: float, n_labels: int, elapsed_days: float, *, after_days: float,
    min_labels: int, min_ratio: float,
) -> GuardVerdict:
    """The rollback guard, checked once: ``wait`` until ``after_days`` of event time after the
    rollout and ``min_labels`` labelled rows scored by the new version, both metrics defined;
    then ``roll_back`` when ``new < min_ratio × previous``, else ``keep``.

    >>> guard_verdict(0.1, 0.6, 500, 1.5, after_days=1.0, min_labels=200, min_ratio=0.5)
    'roll_back'
    >>> guard_verdict(0.5, 0.6, 500, 1.5, after_days=1.0, min_labels=200, min_ratio=0.5)
    'keep'
    >>> guard_verdict(0.1, 0.6, 500, 0.5, after_days=1.0, min_labels=200, min_ratio=0.5)
    'wait'
    """
    if not _judgeable(new, previous, n_labels, elapsed_days, after_days, min_labels):
        return "wait"
    return "roll_back" if new < min_ratio * previous else "keep"


def _judgeable(a: float, b: float, n_labels: int, elapsed_days: float, need_days: float,
               min_labels: int) -> bool:
    """Enough time and labels have passed, and both delayed metrics are defined."""
    return (elapsed_days >= need_days and n_labels >= min_labels
            and not math.isnan(a) and not math.isnan(b))
