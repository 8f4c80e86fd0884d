"""Confidence intervals from independent replications (Student's t).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import stats

from tinybots.errors import InputError

__all__ = ["mean_ci"]


def mean_ci(samples: Iterable[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Sample mean and two-sided Student-t confidence interval over independent replications.

    ``mean ± t_{(1+confidence)/2, n-1} s / sqrt(n)`` with ``s`` the sample standard deviation
    (``ddof=1``); the standard interval for the mean of i.i.d. (approximately normal) replication
    averages (e.g. Law, *Simulation Modeling and Analysis*, 5th ed., 2015, §9.4.1).

    Parameters
    ----------
    samples : iterable of float
        One value per independent replication, length n >= 2, all finite.
    confidence : float, default 0.95
        Coverage, in (0, 1).

    Returns
    -------
    (mean, lo, hi) : tuple of float
        Sample mean and the interval's lower and upper ends (same unit as ``samples``).

    Raises
    ------
    InputError
        If fewer than two samples are given, any is not finite, or ``confidence`` is not in
        (0, 1).

    Examples
    --------
    >>> m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    >>> m, round(lo, 4), round(hi, 4)
    (2.0, -0.4841, 4.4841)
    """
    x = np.asarray(list(samples), dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise InputError(f"samples must hold at least 2 values (one per replication), got {x.size}")
    if not np.all(np.isfinite(x)):
        raise InputError("samples must all be finite numbers (found NaN or inf)")
    if not (0.0 < confidence < 1.0):
        raise InputError(f"confidence must be in (0, 1), got {confidence!r}")
    n = x.size
    mean = float(x.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half
