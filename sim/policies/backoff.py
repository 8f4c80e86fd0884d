"""The kubelet's CrashLoopBackOff: how long a crashed container waits before its restart.

Kubernetes' container restart policy (``restartPolicy: Always``, the kubelet's
``backOffPeriod`` and ``MaxContainerBackOff``): after a container exits, the kubelet restarts
it with an exponential back-off delay, 10 s, 20 s, 40 s, ..., capped at 300 s; once a container
has run for 10 minutes without a problem, the kubelet resets its back-off to the first delay.
While a pod waits out the delay its status reads ``CrashLoopBackOff``.

Pure (no SimPy, no clock): :class:`CrashLoopBackOff` is told how long the container ran before
each crash and answers the delay before its restart. The SimPy driver is
``sim.faults.pods`` (a ``pod_crash`` fault with ``duration_s > 0``: a crash loop).
"""

from __future__ import annotations

import math

__all__ = ["CrashLoopBackOff"]


class CrashLoopBackOff:
    """The restart back-off of one container, as the kubelet keeps it.

    Delay ``k`` (counting from 0 since the last reset) is
    ``min(initial_s × 2**k, max(max_s, initial_s))``: the first delay is always ``initial_s``
    (a fault's ``restart_s`` may exceed the cap), the later ones double up to the cap. A crash
    after the container ran ``reset_after_s`` or more without crashing starts again from
    ``initial_s``.

    Parameters
    ----------
    initial_s : float
        First restart delay, s (>= 0; the kubelet's 10 s).
    max_s : float
        Cap of the doubled delays, s (>= 0; ``MaxContainerBackOff``, 300 s).
    reset_after_s : float
        Running time without a crash after which the back-off resets, s (> 0; 10 minutes).

    Raises
    ------
    ValueError
        A parameter out of range, naming it and its range.

    Examples
    --------
    >>> b = CrashLoopBackOff()
    >>> [b.crash(ran_s=5.0) for _ in range(7)]
    [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    >>> b.crash(ran_s=600.0)  # ran 10 minutes: reset
    10.0
    """

    def __init__(
        self, initial_s: float = 10.0, max_s: float = 300.0, reset_after_s: float = 600.0
    ) -> None:
        for name, value in (("initial_s", initial_s), ("max_s", max_s)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be finite and >= 0 s, got {value!r}")
        if not reset_after_s > 0:
            raise ValueError(f"reset_after_s: must be > 0 s, got {reset_after_s!r}")
        self.initial_s = float(initial_s)
        self.max_s = float(max_s)
        self.reset_after_s = float(reset_after_s)
        self.restarts = 0  # crashes since the last reset

    def next_delay_s(self, ran_s: float) -> float:
        """The delay a crash now would get, the container having run ``ran_s`` seconds since
        its last start (``math.inf``: never crashed); the state is unchanged.

        >>> CrashLoopBackOff(initial_s=1.0).next_delay_s(ran_s=math.inf)
        1.0
        """
        k = 0 if ran_s >= self.reset_after_s else self.restarts
        cap = max(self.max_s, self.initial_s)
        return min(self.initial_s * 2.0 ** min(k, 64), cap)

    def crash(self, ran_s: float) -> float:
        """A crash now, after ``ran_s`` seconds of running: returns its restart delay (s) and
        counts it.

        Raises
        ------
        ValueError
            ``ran_s`` < 0 or NaN.
        """
        if not ran_s >= 0:
            raise ValueError(f"ran_s: must be >= 0 s, got {ran_s!r}")
        delay = self.next_delay_s(ran_s)
        self.restarts = 1 if ran_s >= self.reset_after_s else self.restarts + 1
        return delay
