"""Which label is published when: the label feed's pure rules (no SimPy).

- :func:`label_due`: per live transaction, the label the feed publishes and its due event time:
  a genuine transaction ``labels.delay_days`` after it; a fraud is reported (chargeback,
  customer complaint) with probability ``labels.coverage`` after a delay drawn from
  ``labels.fraud_delay`` (:func:`fraud_delays_days`), and an unreported fraud is published as
  genuine (0) after ``delay_days``, as a bank closes the case when no claim came (Le Borgne et
  al. 2022, Chapter 2, "verification latency" and the labels of unreported frauds).
- :class:`CardIndex` / :func:`feedback_rows`: the investigators' feedback on an alerted card
  (the alert-feedback loop of Chapter 2: alerted cards are checked within a day): the card's
  live transactions with event time in the last ``lookback_days`` before the alert.

``sim.services.label_feed`` turns these into records on the ``labels`` topic.
"""

from __future__ import annotations

import numpy as np

from sim.scenario.learning import LabelDelaySpec, LabelSpec

__all__ = ["CardIndex", "default_labels", "feedback_rows", "fraud_delays_days", "label_due"]

_DAY_S = 86400.0


def default_labels(spec: LabelSpec) -> bool:
    """True when every label comes ``delay_days`` after its transaction with its true value
    (fixed delay, coverage 1): the feed of the runs before issue 12, drawing nothing."""
    return spec.fraud_delay.distribution == "fixed" and spec.coverage == 1.0


def fraud_delays_days(
    spec: LabelDelaySpec, delay_days: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` report delays of frauds (days of event time), from ``spec``.

    ``fixed``: ``delay_days``; ``exponential``: ``min_days`` + Exp(mean ``m − min_days``);
    ``uniform``: U[``min_days``, ``max_days``]; ``lognormal``: ``min_days`` + LogNormal with
    mean ``m − min_days`` and shape ``sigma`` (μ = ln(m − min) − σ²/2); ``m`` = ``mean_days``
    or ``delay_days``. Every draw is capped at ``max_days`` when set.

    >>> s = LabelDelaySpec(distribution="uniform", min_days=1.0, max_days=3.0)
    >>> d = fraud_delays_days(s, 7, 1000, np.random.default_rng(0))
    >>> bool(d.min() >= 1.0 and d.max() <= 3.0)
    True
    """
    mean = spec.mean_days if spec.mean_days is not None else float(delay_days)
    lo = spec.min_days
    if spec.distribution == "fixed":
        out = np.full(n, float(delay_days))
    elif spec.distribution == "exponential":
        out = lo + rng.exponential(mean - lo, n)
    elif spec.distribution == "uniform":
        out = rng.uniform(lo, float(spec.max_days or lo), n)
    else:
        m = mean - lo
        out = lo + rng.lognormal(np.log(m) - spec.sigma ** 2 / 2.0, spec.sigma, n)
    return out if spec.max_days is None else np.minimum(out, spec.max_days)


def label_due(
    event_time_s: np.ndarray, fraud: np.ndarray, spec: LabelSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The published label and its due event time (s) of each transaction.

    Frauds draw first whether they are reported (``rng.random() < coverage``, only when
    coverage < 1), then their delays (only when the distribution is not ``fixed``), in row
    order.

    Returns
    -------
    value : numpy.ndarray of int64, shape (n,)
        1 for a reported fraud, else 0 (an unreported fraud is published as genuine).
    due_s : numpy.ndarray of float, shape (n,)
        Event time (s) at which the label is published.
    """
    fraud = np.asarray(fraud, dtype=np.int64)
    event = np.asarray(event_time_s, dtype=np.float64)
    delay_s = spec.delay_days * _DAY_S
    due = event + delay_s
    value = fraud.copy()
    idx = np.flatnonzero(fraud == 1)
    if spec.coverage < 1.0:
        reported = rng.random(len(idx)) < spec.coverage
        value[idx[~reported]] = 0
        idx = idx[reported]
    if spec.fraud_delay.distribution != "fixed":
        due[idx] = event[idx] + fraud_delays_days(
            spec.fraud_delay, spec.delay_days, len(idx), rng) * _DAY_S
    return value, due


class CardIndex:
    """The rows of each card in event-time order, for :func:`feedback_rows`.

    Parameters
    ----------
    card, event_time_s : numpy.ndarray, shape (n,)
        Card (``CUSTOMER_ID``) and event time (s) of each row.
    rows : numpy.ndarray of int, shape (n,)
        The row ids to return (e.g. ledger rows; default 0 .. n − 1).
    """

    def __init__(self, card: np.ndarray, event_time_s: np.ndarray,
                 rows: np.ndarray | None = None) -> None:
        card = np.asarray(card, dtype=np.int64)
        event = np.asarray(event_time_s, dtype=np.float64)
        ids = np.arange(len(card)) if rows is None else np.asarray(rows, dtype=np.int64)
        order = np.lexsort((event, card))
        self.card, self.event_s, self.rows = card[order], event[order], ids[order]

    def rows_between(self, card: int, start_s: float, end_s: float) -> np.ndarray:
        """Rows of ``card`` with event time in [``start_s``, ``end_s``], in event order."""
        lo, hi = np.searchsorted(self.card, [card, card + 1])
        ev = self.event_s[lo:hi]
        a, b = np.searchsorted(ev, start_s, "left"), np.searchsorted(ev, end_s, "right")
        return self.rows[lo + a: lo + b]


def feedback_rows(
    index: CardIndex, cards: np.ndarray, alert_event_s: float, lookback_days: float
) -> np.ndarray:
    """Rows the investigators label when they check the alerted ``cards``: each card's rows with
    event time in [alert − ``lookback_days``, alert] (event time, s), sorted, distinct.

    >>> ix = CardIndex(np.array([1, 2, 1, 1]), np.array([0.0, 5.0, 90_000.0, 200_000.0]))
    >>> feedback_rows(ix, np.array([1]), 100_000.0, 1.0).tolist()
    [2]
    """
    lookback_s = lookback_days * _DAY_S
    parts = [index.rows_between(int(c), alert_event_s - lookback_s, alert_event_s)
             for c in np.unique(cards)]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
