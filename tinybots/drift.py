"""Drift statistics: PSI and the two-sample KS test between a reference and a current sample,
and a streaming change detector (river) on an error stream.

- :func:`psi`: the Population Stability Index on quantile bins of the reference,
  ``PSI = Σ (c_i − r_i) ln(c_i / r_i)`` over the bins' shares (a share of 0 is replaced by
  ``eps``). Under no drift, with B bins and samples of sizes N and M, its mean is about
  ``(B − 1) (1/N + 1/M)`` (it is a symmetrised χ² divergence): 9 × (1/100 + 1/100) = 0.18 for
  10 bins on 100 vs 100 values, so the usual alarm at 0.1 - 0.25 needs windows of thousands.
- :func:`ks`: ``scipy.stats.ks_2samp`` (statistic, p-value); under no drift the p-value is
  uniform on [0, 1] for continuous data (conservative for discrete data, e.g. counts).
- :class:`StreamDetector`: river's ``drift.ADWIN`` (Bifet & Gavaldà 2007) or
  ``drift.PageHinkley`` (Page 1954), fed one value at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        Finite values (NaN are dropped).
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
        An empty sample (after dropping NaN) or ``bins`` < 2.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if bins < 2:
        raise InputError(f"bins: must be >= 2, got {bins}")
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
    ``auto``): ``(statistic, p_value)``. NaN are dropped.

    Raises
    ------
    InputError
        An empty sample.
    """
    from scipy.stats import ks_2samp

    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        raise InputError(f"ks: needs non-empty samples, got {len(ref)} and {len(cur)} values")
    res = ks_2samp(ref, cur)
    return float(res.statistic), float(res.pvalue)


@dataclass
class StreamDetector:
    """A streaming change detector from river: ``kind`` ``adwin`` (``ADWIN(delta=delta)``) or
    ``page_hinkley`` (``PageHinkley(threshold=threshold)``); river's defaults are delta 0.002
    and threshold 50.

    ``update(x)`` feeds one value and returns True when a change is detected at it.
    """

    kind: str = "adwin"
    delta: float = 0.002
    threshold: float = 50.0

    def __post_init__(self) -> None:
        from river import drift

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
        return bool(self._detector.drift_detected)
