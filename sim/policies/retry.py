"""Retries with exponential back-off and jitter, and a retry budget, as pure policies.

No SimPy inside: the caller (a service's dependency call) asks :meth:`RetryPolicy.should_retry`
after a failed attempt, waits :meth:`RetryPolicy.delay_s` (drawn from the ``numpy``
``Generator`` it passes in), and asks a shared :class:`RetryBudget` whether a retry is allowed
at all, reporting each attempt's outcome to it.

- :class:`RetryPolicy` follows resilience4j's ``RetryConfig`` (``maxAttempts`` 3, counting the
  first call; ``waitDuration`` 500 ms) with the exponential back-off and jitter of Marc
  Brooker's "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015).
- :class:`RetryBudget` is gRPC's retry throttling (gRFC A6, "Retry Throttling"): a token
  bucket that failures drain and successes refill, so that retries stop while a dependency is
  failing for most callers, the guard against a retry storm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["Jitter", "RetryBudget", "RetryPolicy"]

Jitter = Literal["none", "full", "equal"]
_JITTERS: tuple[str, ...] = ("none", "full", "equal")


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a call gets and how long it waits after each failed one.

    The back-off before retry ``k + 1`` (after failed attempt ``k``, 1-based) is Brooker's
    capped exponential ``c_k = min(max_wait_s, base_wait_s × multiplier^(k - 1))``, and then:

    - ``"none"``: ``c_k`` itself (resilience4j's ``IntervalFunction.ofExponentialBackoff``
      with a ``maxInterval``);
    - ``"full"``: ``uniform(0, c_k)``, Brooker's *full jitter*, the usual production choice
      (it spreads competing clients' retries the most);
    - ``"equal"``: ``c_k / 2 + uniform(0, c_k / 2)``, Brooker's *equal jitter* (never less than
      half the back-off).

    resilience4j's own randomised back-off (``ofExponentialRandomBackoff``) instead draws
    ``c_k × (1 ± randomizationFactor)``; its default multiplier is 1.5, AWS's and gRPC's 2.

    Parameters
    ----------
    max_attempts : int
        Attempts in all, the first call included (>= 1; resilience4j ``maxAttempts`` 3). 1
        disables retries.
    base_wait_s : float
        Back-off after the first failed attempt, s (>= 0; resilience4j ``waitDuration`` 0.5).
    multiplier : float
        Growth of the back-off per attempt (>= 1; 2 as in Brooker's post; 1 is a fixed wait).
    max_wait_s : float
        Cap on the back-off before jitter, s (>= 0; 30).
    jitter : {"none", "full", "equal"}
        The jitter applied to the capped back-off (default ``"full"``).

    Raises
    ------
    ValueError
        A field out of range, naming it and its range.

    Examples
    --------
    >>> p = RetryPolicy(jitter="none")
    >>> [p.delay_s(k) for k in (1, 2, 3)], p.should_retry(2), p.should_retry(3)
    ([0.5, 1.0, 2.0], True, False)
    >>> rng = np.random.default_rng(7)
    >>> 0.0 <= RetryPolicy().delay_s(3, rng) < 2.0
    True
    """

    max_attempts: int = 3
    base_wait_s: float = 0.5
    multiplier: float = 2.0
    max_wait_s: float = 30.0
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts: must be an integer >= 1, got {self.max_attempts!r}")
        for name in ("base_wait_s", "max_wait_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be finite and >= 0 s, got {value!r}")
        if not math.isfinite(self.multiplier) or self.multiplier < 1:
            raise ValueError(f"multiplier: must be finite and >= 1, got {self.multiplier!r}")
        if self.jitter not in _JITTERS:
            raise ValueError(f"jitter: must be one of {_JITTERS}, got {self.jitter!r}")

    def should_retry(self, attempt: int) -> bool:
        """Whether failed attempt ``attempt`` (1-based) may be followed by another:
        ``attempt < max_attempts``.

        Raises
        ------
        ValueError
            ``attempt`` below 1.
        """
        _check_attempt(attempt)
        return attempt < self.max_attempts

    def backoff_s(self, attempt: int) -> float:
        """The capped exponential ``min(max_wait_s, base_wait_s × multiplier^(attempt - 1))``
        after failed attempt ``attempt`` (1-based), s, before jitter.

        Raises
        ------
        ValueError
            ``attempt`` below 1.
        """
        _check_attempt(attempt)
        try:
            growth = self.multiplier ** (attempt - 1)
        except OverflowError:
            return self.max_wait_s
        return min(self.max_wait_s, self.base_wait_s * growth)

    def delay_s(self, attempt: int, rng: np.random.Generator | None = None) -> float:
        """The wait after failed attempt ``attempt`` (1-based), s: :meth:`backoff_s` with the
        policy's jitter, drawn from ``rng`` (one ``uniform`` draw for ``"full"`` and
        ``"equal"``, none for ``"none"``).

        Raises
        ------
        ValueError
            ``attempt`` below 1, or no ``rng`` for a jittered policy.
        """
        cap = self.backoff_s(attempt)
        if self.jitter == "none":
            return cap
        if rng is None:
            raise ValueError(f"rng: a numpy Generator is needed for jitter {self.jitter!r}")
        if self.jitter == "full":
            return float(rng.uniform(0.0, cap))
        half = cap / 2.0
        return half + float(rng.uniform(0.0, half))


def _check_attempt(attempt: int) -> None:
    if attempt < 1:
        raise ValueError(f"attempt: must be >= 1 (the first call is attempt 1), got {attempt!r}")


_MILLI = 1000  # gRPC keeps the tokens in thousandths, so 0.1 refills add up exactly


class RetryBudget:
    """gRPC's retry throttling (gRFC A6), a token bucket shared by the calls to one dependency.

    The bucket starts full at ``max_tokens``. Each failed attempt removes 1 token (not below 0),
    each successful one adds ``token_ratio`` (not above ``max_tokens``), and a retry is allowed
    only while ``tokens > max_tokens / 2``. With the gRFC's example values (10 and 0.1) five
    failures in a row stop retries, and after the bucket is drained it takes 51 successes to
    allow them again: the threshold is crossed once successes outnumber failures ten to one.
    The first attempt of a call is never throttled, only its retries. As in gRPC's
    implementations the count is kept in thousandths of a token, so ``token_ratio`` has at most
    three decimals and the threshold is compared exactly.

    The other common design is Finagle's ``RetryBudget``: retries may be at most a percentage
    (``percentCanRetry``, 20 %) of the requests in a sliding ``ttl`` window (10 s), plus
    ``minRetriesPerSec`` (10) so that a quiet client may still retry. It bounds the retry ratio
    always, where gRPC's bucket only reacts once failures dominate; only gRPC's is built here.

    Parameters
    ----------
    max_tokens : float
        Capacity and initial content of the bucket, tokens (0 < ``max_tokens`` <= 1000, the
        range gRPC's service-config parsers accept; the gRFC's example 10).
    token_ratio : float
        Tokens each success adds (> 0, at most 3 decimals as in gRFC A6; the gRFC's example
        0.1).

    Raises
    ------
    ValueError
        A parameter out of range, naming it and its range.

    Examples
    --------
    >>> budget = RetryBudget(max_tokens=10, token_ratio=0.1)
    >>> for _ in range(4):
    ...     budget.on_failure()
    >>> budget.tokens, budget.allow_retry()
    (6.0, True)
    >>> budget.on_failure()
    >>> budget.tokens, budget.allow_retry()
    (5.0, False)
    >>> budget.on_success()
    >>> budget.tokens, budget.allow_retry()
    (5.1, True)
    """

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        if not (math.isfinite(max_tokens) and 0 < max_tokens <= 1000):
            raise ValueError(f"max_tokens: must be in (0, 1000], got {max_tokens!r}")
        milli_ratio = token_ratio * _MILLI if math.isfinite(token_ratio) else math.nan
        if not 0 < milli_ratio < math.inf or abs(milli_ratio - round(milli_ratio)) > 1e-6:
            raise ValueError(f"token_ratio: must be > 0 with at most 3 decimals, got "
                             f"{token_ratio!r}")
        self.max_tokens = float(max_tokens)
        self.token_ratio = float(token_ratio)
        self._max_milli = round(max_tokens * _MILLI)
        self._ratio_milli = round(milli_ratio)
        self._milli = self._max_milli

    @property
    def tokens(self) -> float:
        """The tokens in the bucket now (0 <= ``tokens`` <= ``max_tokens``)."""
        return self._milli / _MILLI

    def on_success(self) -> None:
        """Record a successful attempt: add ``token_ratio`` tokens, up to ``max_tokens``."""
        self._milli = min(self._max_milli, self._milli + self._ratio_milli)

    def on_failure(self) -> None:
        """Record a failed attempt: remove 1 token, down to 0."""
        self._milli = max(0, self._milli - _MILLI)

    def allow_retry(self) -> bool:
        """Whether a failed call may be retried now: ``tokens > max_tokens / 2``."""
        return 2 * self._milli > self._max_milli

    def __repr__(self) -> str:
        return (f"RetryBudget(max_tokens={self.max_tokens}, token_ratio={self.token_ratio}, "
                f"tokens={self.tokens})")
