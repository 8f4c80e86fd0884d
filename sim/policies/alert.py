"""The alert policy of the alert-service: a score threshold and a daily card budget.

Investigators can check ``cards_per_day`` cards a day (the handbook's k = 100 cards/day,
Le Borgne et al. 2022, Chapter 4, card precision top-k). A transaction is alerted when its score
reaches the threshold and its card is already under alert that day, or the day's budget still
has room. Pure policy, no SimPy: the alert-service process applies it in consumption order.
"""

from __future__ import annotations

__all__ = ["AlertPolicy"]


class AlertPolicy:
    """Threshold plus a daily card budget.

    Parameters
    ----------
    threshold : float
        Minimum score (probability of fraud, 0..1) to alert.
    cards_per_day : int
        Distinct cards that may be put under alert per event day.

    Examples
    --------
    >>> p = AlertPolicy(threshold=0.5, cards_per_day=1)
    >>> calls = [(0, 7, 0.9), (0, 7, 0.8), (0, 8, 0.95), (0, 8, 0.1), (1, 8, 0.9)]
    >>> [p.decide(*c) for c in calls]
    [True, True, False, False, True]
    """

    def __init__(self, threshold: float, cards_per_day: int) -> None:
        self.threshold = float(threshold)
        self.cards_per_day = int(cards_per_day)
        self._cards: dict[int, set[int]] = {}
        self.refused = 0

    def decide(self, day: int, card: int, score: float) -> bool:
        """Whether to alert on a transaction of ``card`` on event day ``day`` with ``score``."""
        if not score >= self.threshold:
            return False
        cards = self._cards.setdefault(day, set())
        if card in cards:
            return True
        if len(cards) < self.cards_per_day:
            cards.add(card)
            return True
        self.refused += 1
        return False
