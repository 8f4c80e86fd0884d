"""Analytic queueing references the simulation is validated against.

Steady-state results for the M/M/c queue (Poisson arrivals at rate ``lam`` per second,
exponential service at rate ``mu`` per second per server, ``c`` identical servers sharing one
FIFO queue, unbounded capacity), Little's law, open Jackson tandem networks, and a Student-t
confidence interval for means over independent replications.

These are the first two rungs of the validation ladder (tests/test_sim_theory.py): one stage of the
simulated pipeline (a shared queue served by ``c`` pods) must reproduce the Erlang C waiting time
and obey Little's law within confidence intervals from replications, and stages in series must
add up as a Jackson tandem network.

Sources
-------
- Erlang C formula, M/M/c measures: L. Kleinrock, *Queueing Systems, Volume 1: Theory*
  (Wiley, 1975), §3.5; D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris,
  *Fundamentals of Queueing Theory*, 4th ed. (Wiley, 2008), §2.3.
- The numerically stable route through the Erlang B recursion
  ``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))`` and ``C = B / (1 - rho (1 - B))``:
  Gross et al. (2008), §2.5 and problem 2.13; also Kleinrock (1975), eq. 3.46 / 3.40.
- Little's law ``L = lambda W``: J. D. C. Little, "A proof for the queuing formula
  L = lambda W", *Operations Research* 9(3):383-387 (1961).
- Jackson networks (product form; each station behaves as an independent M/M/c fed at its
  total arrival rate): J. R. Jackson, "Networks of waiting lines", *Operations Research*
  5(4):518-521 (1957); Gross et al. (2008), §5.2.

All rates are per second and all times in seconds, like the simulation clock.
"""

from __future__ import annotations

import math

import numpy as np

from tinybots.errors import InputError

__all__ = [
    "erlang_b",
    "erlang_c",
    "mm1_w",
    "mm1_wq",
    "mmc_l",
    "mmc_lq",
    "mmc_prob_wait_exceeds",
    "mmc_w",
    "mmc_wq",
    "utilisation",
]


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value)):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if value <= 0:
        raise InputError(f"{name} must be > 0, got {value!r}")


def _check_nonnegative(name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value)):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise InputError(f"{name} must be >= 0, got {value!r}")


def _check_servers(c: int) -> None:
    if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1:
        raise InputError(f"c (number of servers) must be an integer >= 1, got {c!r}")


def _check_stable(lam: float, mu: float, c: int) -> float:
    """Validate an M/M/c and return its utilisation; raise when it has no steady state."""
    _check_positive("lam (arrival rate, per s)", lam)
    _check_positive("mu (service rate per server, per s)", mu)
    _check_servers(c)
    rho = lam / (c * mu)
    if rho >= 1:
        raise InputError(
            f"unstable queue: utilisation rho = lam / (c * mu) = {lam!r} / ({c!r} * {mu!r}) = "
            f"{rho:.4g} must be < 1 for a steady state (lower lam, or raise mu or c)"
        )
    return rho


def utilisation(lam: float, mu: float, c: int = 1) -> float:
    """Server utilisation ``rho = lam / (c mu)`` of an M/M/c queue.

    Parameters
    ----------
    lam : float
        Arrival rate, per second (> 0).
    mu : float
        Service rate of one server, per second (> 0); the mean service time is ``1 / mu`` s.
    c : int, default 1
        Number of servers (>= 1).

    Returns
    -------
    float
        Long-run fraction of time a server is busy (dimensionless). Values >= 1 are returned
        as is: this function does not require stability.

    Raises
    ------
    InputError
        If ``lam`` or ``mu`` is not a finite positive number or ``c`` is not an integer >= 1.

    Examples
    --------
    >>> utilisation(8.0, 5.0, 2)
    0.8
    """
    _check_positive("lam (arrival rate, per s)", lam)
    _check_positive("mu (service rate per server, per s)", mu)
    _check_servers(c)
    return lam / (c * mu)


def erlang_b(c: int, a: float) -> float:
    """Erlang B blocking probability of an M/M/c/c loss system with offered load ``a``.

    Computed with the recursion ``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))``
    (Gross et al. 2008, §2.5), which never forms ``a**c / c!`` and so stays finite for large c.

    Parameters
    ----------
    c : int
        Number of servers (>= 1).
    a : float
        Offered load ``lam / mu`` in Erlangs (> 0).

    Returns
    -------
    float
        Probability an arrival finds all ``c`` servers busy and is lost, in (0, 1).

    Raises
    ------
    InputError
        If ``c`` is not an integer >= 1 or ``a`` is not a finite positive number.

    Examples
    --------
    >>> round(erlang_b(1, 1.0), 12)  # a / (1 + a)
    0.5
    """
    _check_servers(c)
    _check_positive("a (offered load, Erlangs)", a)
    b = 1.0
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(lam: float, mu: float, c: int) -> float:
    """Erlang C: probability that an arrival to a stable M/M/c queue has to wait.

    ``C(c, a) = B / (1 - rho (1 - B))`` with ``a = lam / mu``, ``rho = a / c`` and ``B`` the
    Erlang B value (Kleinrock 1975, eq. 3.40; Gross et al. 2008, §2.3). For ``c = 1`` it equals
    ``rho``.

    Parameters
    ----------
    lam : float
        Arrival rate, per second (> 0).
    mu : float
        Service rate of one server, per second (> 0).
    c : int
        Number of servers (>= 1).

    Returns
    -------
    float
        P(wait > 0), in (0, 1).

    Raises
    ------
    InputError
        On a non-positive rate, ``c < 1``, or ``rho >= 1`` (no steady state; the message
        gives lam, mu and c).

    Examples
    --------
    >>> round(erlang_c(0.5, 1.0, 1), 12)
    0.5
    >>> round(erlang_c(1.0, 1.0, 2), 12)  # a = 1, c = 2: 1/3
    0.333333333333
    """
    rho = _check_stable(lam, mu, c)
    b = erlang_b(c, lam / mu)
    return b / (1.0 - rho * (1.0 - b))


def mmc_wq(lam: float, mu: float, c: int) -> float:
    """Mean waiting time in queue (before service) of a stable M/M/c queue, in seconds.

    ``Wq = C(c, a) / (c mu - lam)`` (Gross et al. 2008, eq. 2.30).

    Parameters
    ----------
    lam, mu, c
        As in :func:`erlang_c`.

    Returns
    -------
    float
        Mean wait before service starts, seconds (averaged over all arrivals, including
        those that do not wait).

    Raises
    ------
    InputError
        As :func:`erlang_c`.

    Examples
    --------
    >>> round(mmc_wq(0.5, 1.0, 1), 12)  # M/M/1: rho / (mu - lam)
    1.0
    """
    return erlang_c(lam, mu, c) / (c * mu - lam)


def mmc_lq(lam: float, mu: float, c: int) -> float:
    """Time-average number waiting in queue of a stable M/M/c queue: ``Lq = lam Wq``.

    Parameters
    ----------
    lam, mu, c
        As in :func:`erlang_c`.

    Returns
    -------
    float
        Mean queue length (excluding those in service), dimensionless.

    Raises
    ------
    InputError
        As :func:`erlang_c`.

    Examples
    --------
    >>> round(mmc_lq(0.5, 1.0, 1), 12)  # M/M/1: rho**2 / (1 - rho)
    0.5
    """
    return lam * mmc_wq(lam, mu, c)


def mmc_w(lam: float, mu: float, c: int) -> float:
    """Mean sojourn time (wait + service) of a stable M/M/c queue: ``W = Wq + 1/mu``, seconds.

    Parameters
    ----------
    lam, mu, c
        As in :func:`erlang_c`.

    Returns
    -------
    float
        Mean time from arrival to departure, seconds.

    Raises
    ------
    InputError
        As :func:`erlang_c`.

    Examples
    --------
    >>> round(mmc_w(0.5, 1.0, 1), 12)  # M/M/1: 1 / (mu - lam)
    2.0
    """
    return mmc_wq(lam, mu, c) + 1.0 / mu


def mmc_l(lam: float, mu: float, c: int) -> float:
    """Time-average number in system of a stable M/M/c queue: ``L = lam W = Lq + lam/mu``.

    Parameters
    ----------
    lam, mu, c
        As in :func:`erlang_c`.

    Returns
    -------
    float
        Mean number in system (waiting + in service), dimensionless.

    Raises
    ------
    InputError
        As :func:`erlang_c`.

    Examples
    --------
    >>> round(mmc_l(0.5, 1.0, 1), 12)  # M/M/1: rho / (1 - rho)
    1.0
    """
    return lam * mmc_w(lam, mu, c)


def mmc_prob_wait_exceeds(lam: float, mu: float, c: int, t_s: float) -> float:
    """P(Wq > t) of a stable FIFO M/M/c queue: ``C(c, a) exp(-(c mu - lam) t)``.

    Source: Gross et al. (2008), eq. 2.36; Kleinrock (1975), eq. 3.43 in distribution form.

    Parameters
    ----------
    lam, mu, c
        As in :func:`erlang_c`.
    t_s : float
        Waiting-time threshold, seconds (>= 0).

    Returns
    -------
    float
        Probability an arrival waits more than ``t_s`` seconds before service.

    Raises
    ------
    InputError
        As :func:`erlang_c`, or if ``t_s`` is negative or not finite.

    Examples
    --------
    >>> round(mmc_prob_wait_exceeds(0.5, 1.0, 1, 0.0), 12)
    0.5
    """
    _check_nonnegative("t_s (waiting-time threshold, s)", t_s)
    return erlang_c(lam, mu, c) * math.exp(-(c * mu - lam) * t_s)


def mm1_wq(lam: float, mu: float) -> float:
    """Mean wait in queue of a stable M/M/1 queue: ``rho / (mu - lam)``, seconds.

    Closed form (Kleinrock 1975, eq. 3.26); equals ``mmc_wq(lam, mu, 1)``.

    Parameters
    ----------
    lam : float
        Arrival rate, per second (> 0).
    mu : float
        Service rate, per second (> lam).

    Returns
    -------
    float
        Mean wait before service, seconds.

    Raises
    ------
    InputError
        On a non-positive rate or ``lam >= mu``.

    Examples
    --------
    >>> round(mm1_wq(0.8, 1.0), 12)  # 0.8 / 0.2
    4.0
    """
    rho = _check_stable(lam, mu, 1)
    return rho / (mu - lam)


def mm1_w(lam: float, mu: float) -> float:
    """Mean sojourn time of a stable M/M/1 queue: ``1 / (mu - lam)``, seconds.

    Closed form (Kleinrock 1975, eq. 3.26).

    Parameters
    ----------
    lam, mu
        As in :func:`mm1_wq`.

    Returns
    -------
    float
        Mean time in system, seconds.

    Raises
    ------
    InputError
        On a non-positive rate or ``lam >= mu``.

    Examples
    --------
    >>> mm1_w(1.0, 2.0)
    1.0
    """
    _check_stable(lam, mu, 1)
    return 1.0 / (mu - lam)
