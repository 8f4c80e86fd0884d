"""A bulkhead: a bound on the concurrent calls to one dependency, as a pure policy.

resilience4j's ``SemaphoreBulkhead`` gives each dependency its own semaphore of
``maxConcurrentCalls`` permits (default 25), so that a slow dependency can tie up at most that
many of a service's workers and the rest keep serving (the ship's watertight compartments).
A call that finds no free permit waits up to ``maxWaitDuration`` (default 0: it is rejected at
once with a ``BulkheadFullException``).

No SimPy inside and no clock: :class:`Bulkhead` only counts permits and answers whether one is
free now. A SimPy caller with ``max_wait_s > 0`` implements the wait itself (for example, a
request on a resource of ``max_concurrent_calls`` slots raced against a timeout of
``max_wait_s``, the call rejected when the timeout wins); ``max_wait_s`` is carried here so that
the policy and its wait travel together.
"""

from __future__ import annotations

import math

__all__ = ["Bulkhead"]


class Bulkhead:
    """resilience4j's ``SemaphoreBulkhead``: at most ``max_concurrent_calls`` calls at once.

    Parameters
    ----------
    max_concurrent_calls : int
        Permits, calls (>= 0, as resilience4j's ``maxConcurrentCalls``; default 25; 0 rejects
        every call).
    max_wait_s : float
        How long a caller may wait for a permit, s (>= 0, ``maxWaitDuration``; default 0: a
        full bulkhead rejects at once). The wait itself is the SimPy caller's (see the module
        docstring).

    Raises
    ------
    ValueError
        A parameter out of range, naming it and its range.

    Examples
    --------
    >>> b = Bulkhead(max_concurrent_calls=2)
    >>> b.try_enter(), b.try_enter(), b.try_enter()  # the third is rejected
    (True, True, False)
    >>> b.exit()
    >>> b.in_use, b.available, b.try_enter()
    (1, 1, True)
    """

    def __init__(self, max_concurrent_calls: int = 25, max_wait_s: float = 0.0) -> None:
        if not isinstance(max_concurrent_calls, int) or max_concurrent_calls < 0:
            raise ValueError(f"max_concurrent_calls: must be an integer >= 0, got "
                             f"{max_concurrent_calls!r}")
        if not math.isfinite(max_wait_s) or max_wait_s < 0:
            raise ValueError(f"max_wait_s: must be finite and >= 0 s, got {max_wait_s!r}")
        self.max_concurrent_calls = max_concurrent_calls
        self.max_wait_s = float(max_wait_s)
        self._in_use = 0

    @property
    def in_use(self) -> int:
        """Calls holding a permit now."""
        return self._in_use

    @property
    def available(self) -> int:
        """Free permits now (resilience4j's ``availableConcurrentCalls``)."""
        return self.max_concurrent_calls - self._in_use

    def try_enter(self) -> bool:
        """Take a permit if one is free (resilience4j's ``tryAcquirePermission`` with no wait).

        Returns
        -------
        bool
            True if the call may proceed (and must :meth:`exit` when it ends); False if the
            bulkhead is full, where resilience4j raises ``BulkheadFullException``.
        """
        if self._in_use >= self.max_concurrent_calls:
            return False
        self._in_use += 1
        return True

    def exit(self) -> None:
        """Give back the permit of a call that ended, successfully or not (``onComplete``).

        Raises
        ------
        ValueError
            No call holds a permit (an ``exit`` without its ``try_enter``).
        """
        if self._in_use == 0:
            raise ValueError("exit: no call holds a permit (in_use is 0)")
        self._in_use -= 1

    def __repr__(self) -> str:
        return (f"Bulkhead(max_concurrent_calls={self.max_concurrent_calls}, "
                f"max_wait_s={self.max_wait_s}, in_use={self._in_use})")
