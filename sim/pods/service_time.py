"""Service times of a poll or a request, from a deployment's own seeded random stream.
"""

from __future__ import annotations

import math

import numpy as np

from sim.scenario import ServiceTimeSpec

__all__ = ["ServiceTime"]


class ServiceTime:
    """Draws the service time of a poll of ``n`` records (seconds).

    ``(fixed_s + per_record_s × n) × F`` with F = 1 (deterministic), Exp(1) (exponential) or
    lognormal with mean 1 and coefficient of variation ``cv`` (sigma² = ln(1 + cv²),
    mu = −sigma²/2).

    >>> spec = ServiceTimeSpec(distribution="deterministic", fixed_s=0.1, per_record_s=0.01)
    >>> st = ServiceTime(spec, np.random.default_rng(0))
    >>> round(st.draw(10), 6)
    0.2
    """

    _BLOCK = 1024  # factors drawn from the stream per refill

    def __init__(self, spec: ServiceTimeSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self._sigma = float(np.sqrt(np.log1p(spec.cv**2)))
        self._fixed, self._per = spec.fixed_s, spec.per_record_s
        self._factors: list[float] = []
        self._next = 0

    def mean(self, n: int = 1) -> float:
        """Mean service time of a poll of ``n`` records (seconds)."""
        return self.spec.fixed_s + self.spec.per_record_s * n

    def _refill(self) -> None:
        """Draw the next block of factors F. The stream is consumed exactly as by scalar
        ``rng.exponential()`` / ``rng.lognormal(mu, sigma)`` calls (same variates, same order;
        lognormal = ``exp(mu + sigma × z)`` with the standard normals z, as NumPy computes it)."""
        kind = self.spec.distribution
        if kind == "exponential":
            self._factors = self.rng.standard_exponential(self._BLOCK).tolist()
        else:
            s = self._sigma
            mu = -0.5 * s * s
            z = self.rng.standard_normal(self._BLOCK).tolist()
            self._factors = [math.exp(mu + s * x) for x in z]
        self._next = 0

    def draw_many(self, count: int, n: int = 1) -> list[float]:
        """``count`` service times of polls of ``n`` records: the values (and the stream state
        afterwards) of ``count`` successive :meth:`draw` calls, without a call each."""
        m = self._fixed + self._per * n
        if self.spec.distribution == "deterministic":
            return [m] * count
        factors: list[float] = []
        while len(factors) < count:
            if self._next == len(self._factors):
                self._refill()
            take = min(count - len(factors), len(self._factors) - self._next)
            factors += self._factors[self._next : self._next + take]
            self._next += take
        return [m * f for f in factors]

    def draw(self, n: int = 1) -> float:
        """One random service time of a poll of ``n`` records (seconds)."""
        m = self._fixed + self._per * n
        if self.spec.distribution == "deterministic":
            return m
        k = self._next
        if k == len(self._factors):
            self._refill()
            k = 0
        self._next = k + 1
        return m * self._factors[k]
