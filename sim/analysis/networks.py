"""Little's law and open tandem (Jackson) networks of M/M/c stations.

Little's law L = lambda W holds for any stable system (J. D. C. Little, 1961). For a tandem of
M/M/c stations fed by a Poisson stream, Jackson's theorem (J. R. Jackson, 1957; Burke's output
theorem) makes each station an independent M/M/c queue with the same arrival rate, so the mean
time through the tandem is the sum of the stations' W.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.analysis.theory import (
    _check_nonnegative,
    _check_positive,
    mmc_w,
)
from tinybots.errors import InputError

__all__ = ["jackson_tandem_w", "littles_l", "littles_w"]


def littles_l(lam: float, w_s: float) -> float:
    """Little's law: time-average number in a system ``L = lam W`` (Little 1961).

    Parameters
    ----------
    lam : float
        Long-run arrival (= throughput) rate, per second (>= 0).
    w_s : float
        Mean time an item spends in the system, seconds (>= 0).

    Returns
    -------
    float
        Time-average number of items in the system.

    Raises
    ------
    InputError
        If either argument is negative or not finite.

    Examples
    --------
    >>> littles_l(10.0, 0.25)
    2.5
    """
    _check_nonnegative("lam (arrival rate, per s)", lam)
    _check_nonnegative("w_s (mean time in system, s)", w_s)
    return lam * w_s


def littles_w(lam: float, l_items: float) -> float:
    """Little's law solved for the mean time in system: ``W = L / lam`` (Little 1961).

    Parameters
    ----------
    lam : float
        Long-run arrival (= throughput) rate, per second (> 0).
    l_items : float
        Time-average number of items in the system (>= 0).

    Returns
    -------
    float
        Mean time in system, seconds.

    Raises
    ------
    InputError
        If ``lam`` is not positive or ``l_items`` is negative (or either is not finite).

    Examples
    --------
    >>> littles_w(10.0, 2.5)
    0.25
    """
    _check_positive("lam (arrival rate, per s)", lam)
    _check_nonnegative("l_items (mean number in system)", l_items)
    return l_items / lam


def jackson_tandem_w(lam: float, stages: Sequence[tuple[int, float]]) -> float:
    """Mean end-to-end sojourn time of an open tandem (series) Jackson network, seconds.

    Poisson arrivals at ``lam`` per second pass once through each stage in order; stage ``i``
    has ``c_i`` exponential servers of rate ``mu_i`` sharing one FIFO queue. By Jackson's
    theorem (Jackson 1957; Gross et al. 2008, §5.2) — for tandem M/M/c queues already by
    Burke's output theorem — each stage behaves in steady state as an independent M/M/c
    queue fed at rate ``lam``, so the mean sojourn is the sum of the stages' ``W``.

    Parameters
    ----------
    lam : float
        External arrival rate, per second (> 0).
    stages : sequence of (int, float)
        ``(c_i, mu_i)`` per stage, in order: servers and service rate per server (per s).

    Returns
    -------
    float
        Sum over stages of :func:`mmc_w`, seconds.

    Raises
    ------
    InputError
        If ``stages`` is empty or any stage is invalid or unstable (the message names the
        stage index).

    Examples
    --------
    >>> jackson_tandem_w(1.0, [(1, 2.0), (1, 3.0)])  # 1/(2-1) + 1/(3-1)
    1.5
    """
    stages = list(stages)
    if not stages:
        raise InputError("stages must list at least one (c, mu) pair, got an empty sequence")
    total = 0.0
    for i, stage in enumerate(stages):
        try:
            c, mu = stage
            total += mmc_w(lam, mu, c)
        except (InputError, TypeError, ValueError) as exc:
            raise InputError(f"stages[{i}] = {stage!r}: {exc}") from exc
    return total
