"""One customer's transaction stream, draw for draw as in the handbook's simulator.

The handbook (Le Borgne et al., 2022, Chapter 3, "Transaction data simulator") seeds numpy's
legacy ``RandomState`` and Python's ``random`` with the customer id, then for each day draws a
Poisson count and, per transaction, a normal time of day (dropped when outside (0, 86400) s),
a normal amount (redrawn once from a uniform when negative) and a terminal with
``random.choice``, as in Le Borgne et al. (2022), Chapter 3, "Transaction data simulator".

Calling ``RandomState.poisson``/``normal`` once per draw costs about a microsecond each. This
module instead takes the legacy generator's uniform doubles in blocks
(``RandomState.random_sample`` yields exactly the doubles that the legacy Poisson, Gaussian and
uniform samplers consume) and replays the legacy samplers on them in plain Python:

* Poisson, ``lam < 10``: multiply uniforms until the product is ``<= exp(-lam)``; the count is
  the number of factors minus one (numpy ``legacy_random_poisson``, multiplication method).
* Gaussian: Marsaglia's polar method on ``2u - 1`` pairs, rejecting ``r2 >= 1`` or ``r2 == 0``,
  returning ``f * x2`` and caching ``f * x1`` for the next call (numpy ``legacy_gauss``);
  ``normal(loc, scale) = loc + scale * gauss``.
* Uniform: ``low + (high - low) * u``.

Only the standard library and numpy are imported, so worker processes start quickly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence

import numpy as np

DAY_S = 86_400
"""Seconds per day."""
TIME_MEAN_S = 43_200.0
"""Mean time of day of a transaction (noon), in seconds (handbook: 86400 / 2)."""
TIME_SD_S = 20_000.0
"""Standard deviation of the time of day, in seconds (handbook)."""
_BLOCK = 512  # doubles per refill; a handbook customer uses about 1,500
_POISSON_MULT_MAX_LAM = 10.0

DayRows = tuple[list[int], list[int], list[float]]
"""One customer-day: (seconds since day 0, terminal id, unrounded amount), in draw order."""


def _double_source(rs: np.random.RandomState) -> Callable[[], float]:
    """Return a function giving the legacy generator's next uniform double in [0, 1)."""

    def blocks() -> Iterator[float]:
        while True:
            yield from rs.random_sample(_BLOCK).tolist()

    return blocks().__next__


def _gauss_source(nxt: Callable[[], float]) -> Callable[[], float]:
    """Return a function giving legacy standard normal draws taken from the doubles ``nxt``.

    Marsaglia's polar method, drawing a new pair only on every other call (the legacy
    generator's cached second value); the generator is lazy, so uniforms drawn between two
    calls interleave exactly as in numpy.
    """

    def pairs() -> Iterator[float]:
        while True:
            x1 = 2.0 * nxt() - 1.0
            x2 = 2.0 * nxt() - 1.0
            r2 = x1 * x1 + x2 * x2
            if r2 >= 1.0 or r2 == 0.0:
                continue
            f = math.sqrt(-2.0 * math.log(r2) / r2)
            yield f * x2
            yield f * x1

    return pairs().__next__


class LegacyDraws:
    """The scalar legacy ``RandomState`` samplers the handbook uses, replayed in Python.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.RandomState``.
    rs : numpy.random.RandomState, optional
        A generator to re-seed and use instead of building a new one (building one costs about
        0.4 ms, re-seeding 5 us). The caller must not use it elsewhere while these draws are
        in use.

    Notes
    -----
    Equal, draw for draw, to calling ``RandomState(seed).poisson(lam)`` (for ``lam < 10``),
    ``.normal(loc, scale)`` and ``.uniform(low, high)`` in the same order (tested in
    ``tests/test_generator.py``).

    Examples
    --------
    >>> import numpy as np
    >>> d, rs = LegacyDraws(7), np.random.RandomState(7)
    >>> [d.poisson(2.5), d.normal(0.0, 1.0)] == [rs.poisson(2.5), rs.normal(0.0, 1.0)]
    True
    """

    def __init__(self, seed: int, rs: np.random.RandomState | None = None) -> None:
        if rs is None:
            rs = np.random.RandomState(seed)
        else:
            rs.seed(seed)
        self.next_double = _double_source(rs)
        self.gauss = _gauss_source(self.next_double)

    def poisson(self, lam: float) -> int:
        """Poisson count with mean ``lam``; ``0 <= lam < 10`` (legacy multiplication method)."""
        if not 0.0 <= lam < _POISSON_MULT_MAX_LAM:
            raise ValueError(f"lam must be in [0, {_POISSON_MULT_MAX_LAM}) here, got {lam}")
        if lam == 0.0:
            return 0
        enlam = math.exp(-lam)
        nxt = self.next_double
        count = 0
        prod = nxt()
        while prod > enlam:
            count += 1
            prod *= nxt()
        return count

    def normal(self, loc: float, scale: float) -> float:
        """Normal draw, ``loc + scale * gauss``."""
        return loc + scale * self.gauss()

    def uniform(self, low: float, high: float) -> float:
        """Uniform draw on [low, high), ``low + (high - low) * u``."""
        return low + (high - low) * self.next_double()


def customer_days(
    customer_id: int,
    mean_amount: float,
    std_amount: float,
    mean_nb_tx_per_day: float,
    terminals: Sequence[int],
    nb_days: int,
    *,
    pick_terminals: bool = True,
    rs: np.random.RandomState | None = None,
) -> Iterator[DayRows]:
    """Yield one customer's transactions day by day, in the handbook's draw order.

    Parameters
    ----------
    customer_id : int
        Seeds both ``RandomState`` (numpy draws) and ``random.Random`` (terminal choice).
    mean_amount, std_amount : float
        Parameters of the normal amount (currency units).
    mean_nb_tx_per_day : float
        Poisson mean of the daily count, in [0, 4) for handbook profiles.
    terminals : sequence of int
        Reachable terminal ids, ascending (the list ``random.choice`` indexes into). When empty,
        the numpy draws still happen but no transaction is kept (as in the handbook).
    nb_days : int
        Number of days to yield.
    pick_terminals : bool, default True
        If False, skip the terminal draw and yield terminal id -1 (the numpy stream, and so the
        times and amounts, are unchanged); used to get the times cheaply.
    rs : numpy.random.RandomState, optional
        Re-seeded and used for the numpy draws (see :class:`LegacyDraws`); only for callers
        that finish this generator before reusing ``rs``.

    Yields
    ------
    (seconds, terminal_ids, amounts) : tuple of three lists
        Kept transactions of the day in draw order: seconds since day 0 midnight (int,
        ``day * 86400 + time of day``, the time of day in (0, 86400)), terminal id, amount
        before rounding to cents.
    """
    draws = LegacyDraws(customer_id, rs)
    nxt, gauss, poisson = draws.next_double, draws.gauss, draws.poisson
    getrandbits = random.Random(customer_id).getrandbits
    n_terms = len(terminals)
    k_bits = n_terms.bit_length()
    two_mean = mean_amount * 2
    t_mean, t_sd, day_s = TIME_MEAN_S, TIME_SD_S, DAY_S
    for day in range(nb_days):
        offset = day * day_s
        times: list[int] = []
        terms: list[int] = []
        amounts: list[float] = []
        for _ in range(poisson(mean_nb_tx_per_day)):
            t = int(t_mean + t_sd * gauss())
            if not 0 < t < day_s:
                continue  # dropped: nothing else is drawn for it
            amount = mean_amount + std_amount * gauss()
            if amount < 0:
                amount = 0.0 + two_mean * nxt()
            if n_terms == 0:
                continue
            times.append(t + offset)
            amounts.append(amount)
            if pick_terminals:  # random.choice(terminals): getrandbits(k) until below n
                r = getrandbits(k_bits)
                while r >= n_terms:
                    r = getrandbits(k_bits)
                terms.append(terminals[r])
            else:
                terms.append(-1)
        yield times, terms, amounts


ChunkArgs = tuple[list[int], list[float], list[float], list[float], list[list[int]], int, bool]
"""(customer ids, mean amounts, std amounts, Poisson means, reachable lists, nb_days, pick)."""


def generate_chunk(args: ChunkArgs) -> tuple[np.ndarray, ...]:
    """All transactions of a chunk of customers, concatenated by customer in draw order.

    Parameters
    ----------
    args : ChunkArgs
        One tuple (picklable, for worker processes): customer ids, their mean_amount,
        std_amount and mean_nb_tx_per_day, their reachable terminal lists, nb_days and
        ``pick_terminals`` (see :func:`customer_days`).

    Returns
    -------
    (seconds, days, customer_ids, terminal_ids, amounts) : five numpy.ndarray, shape (n,)
        TX_TIME_SECONDS (int64, seconds since day 0 midnight), TX_TIME_DAYS, CUSTOMER_ID,
        TERMINAL_ID (int64) and the amount rounded to cents as ``numpy.round(a, 2)`` (float64).
    """
    ids, means, stds, lams, reach, nb_days, pick = args
    secs: list[int] = []
    term: list[int] = []
    amounts: list[float] = []
    per_day: list[int] = []  # rows per (customer, day), customer-major
    rs = np.random.RandomState(0)  # re-seeded for each customer, who is finished before the next
    for cid, mean, std, lam, terminals in zip(ids, means, stds, lams, reach, strict=True):
        for times, terms, amts in customer_days(
            cid, mean, std, lam, terminals, nb_days, pick_terminals=pick, rs=rs
        ):
            secs.extend(times)
            term.extend(terms)
            amounts.extend(amts)
            per_day.append(len(times))
    counts = np.array(per_day, dtype=np.int64).reshape(len(ids), nb_days)
    return (
        np.array(secs, dtype=np.int64),
        np.repeat(np.tile(np.arange(nb_days, dtype=np.int64), len(ids)), counts.ravel()),
        np.repeat(np.asarray(ids, dtype=np.int64), counts.sum(axis=1)),
        np.array(term, dtype=np.int64),
        np.round(np.array(amounts, dtype=np.float64), 2),
    )
