"""Drift statistics: PSI and the two-sample KS test between a reference and a current sample,
and a streaming change detector (river) on an error stream.

- :func:`psi`: the Population Stability Index on quantile bins of the reference,
  ``PSI = Σ (c_i − r_i) ln(c_i / r_i)`` over the bins' shares (a share of 0 is replaced by
  ``eps``). Under no drift, with B bins and samples of sizes N and M, its mean is about
  ``(B − 1) (1/N + 1/M)`` (PSI is the symmetrised Kullback-Leibler divergence, to first order a
  χ² statistic with B − 1 degrees of freedom): 9 × (1/100 + 1/100) = 0.18 for 10 bins on 100 vs
  100 values, so the usual alarm at 0.1 - 0.25 needs windows of thousands. The formula is first
  order: simulated means are ≈ 5 % higher at N = M = 100 and within ≈ 2 % once each bin expects
  40 or more values of each sample. Discrete data (counts, flags) merge quantile edges, leaving
  B' < B bins, and the mean is then about ``(B' − 1) (1/N + 1/M)``.
- :func:`ks`: ``scipy.stats.ks_2samp`` (statistic, p-value); under no drift the p-value is
  uniform on [0, 1] for continuous data of sizes whose ratio is not a simple fraction (with
  N = M the statistic takes only N values, so the p-values are a step distribution with
  P(p ≤ α) ≤ α), and conservative for discrete data (ties, e.g. counts: fewer rejections than α).
- :class:`StreamDetector`: river's ``drift.ADWIN`` (Bifet & Gavaldà 2007) or
  ``drift.PageHinkley`` (Page 1954), fed one value at a time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tinybots.errors import InputError

__all__ = ["psi", "ks", "StreamDetector", "psi_noise_mean"]


def psi_noise_mean(n: int, m: int, bins: int = 10) -> float:
    """Mean PSI of two samples of sizes ``n`` and ``m`` from one distribution: (bins − 1) ×
    (1/n + 1/m).

    >>> round(psi_noise_mean(100, 100), 2)
    0.18
    """
    return (bins - 1) * (1.0 / n + 1.0 / m)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """Population Stability Index of ``current`` against ``reference``.

    Bin edges are the reference's quantiles at 1/bins, ..., (bins−1)/bins (duplicates merged,
    so a feature with few distinct values gets fewer bins); values are counted with
    right-closed bins, the outer bins open-ended.

    Parameters
    ----------
    reference, current : array-like of float, shape (n,) and (m,)
        Values; NaN and ±inf are dropped (a change in the share of missing values is not
        seen by PSI: monitor it apart).
    bins : int
        Number of quantile bins (>= 2).
    eps : float
        Share used in place of an empty bin's 0.

    Returns
    -------
    float
        PSI >= 0 (0: identical shares).

    Raises
    ------
    InputError
        An empty sample (after dropping NaN), ``bins`` < 2 or ``eps`` outside (0, 1).

    Examples
    --------
    >>> x = np.arange(1000.0)
    >>> psi(x, x)
    0.0
    >>> round(psi(x, x + 500), 2)  # shifted by half the range
    4.35
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise InputError(f"bins: must be an integer >= 2, got {bins!r}")
    if not 0.0 < eps < 1.0:
        raise InputError(f"eps: must be in (0, 1), got {eps!r}")
    ref, cur = _finite(reference), _finite(current)
    if len(ref) == 0 or len(cur) == 0:
        raise InputError(f"psi: needs non-empty samples, got {len(ref)} and {len(cur)} values")
    edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))
    r = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1)
    c = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1)
    rs = np.maximum(r / len(ref), eps)
    cs = np.maximum(c / len(cur), eps)
    return float(np.sum((cs - rs) * np.log(cs / rs)))


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, two-sided, method
    ``auto``: exact below 10,000 values per sample): ``(statistic, p_value)``. NaN and ±inf are
    dropped. With ties (discrete data) scipy's exact method gives up and the asymptotic
    p-value is used, silently here (the test is then conservative).

    Raises
    ------
    InputError
        An empty sample.
    """
    from scipy.stats import ks_2samp

    ref, cur = _finite(reference), _finite(current)
    if len(ref) == 0 or len(cur) == 0:
        raise InputError(f"ks: needs non-empty samples, got {len(ref)} and {len(cur)} values")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation unsuccessful",
                                RuntimeWarning)
        res = ks_2samp(ref, cur)
    return float(res.statistic), float(res.pvalue)


def _finite(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


@dataclass
class StreamDetector:
    """A streaming change detector from river: ``kind`` ``adwin`` (``ADWIN(delta=delta)``) or
    ``page_hinkley`` (``PageHinkley(threshold=threshold)``); river's defaults are delta 0.002
    and threshold 50.

    ``update(x)`` feeds one value and returns True when a change is detected at it (river's
    ``drift_detected`` after that value, also readable as :attr:`drift_detected`).

    Raises
    ------
    InputError
        An unknown ``kind``, ``delta`` outside (0, 1) or ``threshold`` <= 0.

    Examples
    --------
    river's documented stream (``drift.ADWIN`` docstring): 1,000 draws from {0, 1}, then 1,000
    from range(4, 8); ADWIN detects the change at index 1023.

    >>> import random
    >>> rng = random.Random(12345)
    >>> stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    >>> det = StreamDetector("adwin")
    >>> [i for i, x in enumerate(stream) if det.update(x)][:1]
    [1023]
    """

    kind: Literal["adwin", "page_hinkley"] = "adwin"
    delta: float = 0.002
    threshold: float = 50.0

    def __post_init__(self) -> None:
        from river import drift

        if not 0.0 < self.delta < 1.0:
            raise InputError(f"detector.delta: must be in (0, 1), got {self.delta!r}")
        if not self.threshold > 0.0:
            raise InputError(f"detector.threshold: must be > 0, got {self.threshold!r}")
        if self.kind == "adwin":
            self._detector = drift.ADWIN(delta=self.delta)
        elif self.kind == "page_hinkley":
            self._detector = drift.PageHinkley(threshold=self.threshold)
        else:
            raise InputError(f"detector.kind: must be adwin or page_hinkley, got {self.kind!r}")
        self.n = 0

    def update(self, x: float) -> bool:
        """Feed one value; True when the detector signals a change at it."""
        self._detector.update(float(x))
        self.n += 1
        return self.drift_detected

    @property
    def drift_detected(self) -> bool:
        """True when the last value fed signalled a change (read-only, as in river)."""
        return bool(self._detector.drift_detected)
