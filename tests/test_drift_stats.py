"""Theory tests of ``tinybots.drift``: PSI's noise floor, KS p-values under no drift, river's
documented change points.

- PSI with 10 quantile bins between two samples of one continuous distribution has mean
  ≈ 9 (1/N + 1/M) (first order; a χ² with 9 degrees of freedom); checked with a family-wise
  95 % CI over replications for equal and unequal sizes (each bin expecting >= 40 values: the
  first-order formula is then within about 1 %). Discrete data merge bins: the mean follows the bins
  left, B' − 1, instead of 9.
- Two-sample KS p-values are uniform under no drift (KS test of the p-values against U(0, 1),
  Wilson CI on the rejection rate at 0.05) for continuous data; with N = M they are a step
  distribution and with ties the test is conservative.
- river's ``drift.ADWIN`` / ``drift.PageHinkley`` docstrings: ``random.Random(12345)``, 1,000
  draws from {0, 1} then 1,000 from range(4, 8): detections at 1023 and 1006.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.stats import kstest

from tinybots.drift import StreamDetector, ks, psi, psi_noise_mean
from tinybots.errors import InputError

Z95 = 1.959964
Z95_OF_4 = 2.497705  # two-sided 95 % family-wise over 4 cases (Bonferroni: 0.05 / 4 each)


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion k / n."""
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2)) / (1 + Z95**2 / n)
    return centre - half, centre + half


def replicate_psi(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    return np.array([psi(r, c) for r, c in zip(ref, cur, strict=True)])


@pytest.mark.parametrize(("n", "m"), [(500, 500), (1000, 1000), (400, 2000), (2000, 500)])
def test_psi_noise_mean_matches_theory_with_a_ci(n: int, m: int) -> None:
    rng = np.random.default_rng([12, n, m])
    reps = 3000
    values = replicate_psi(rng.standard_normal((reps, n)), rng.standard_normal((reps, m)))
    mean, half = values.mean(), Z95_OF_4 * values.std(ddof=1) / np.sqrt(reps)
    theory = psi_noise_mean(n, m)
    assert theory == pytest.approx(9 * (1 / n + 1 / m))
    assert mean - half <= theory <= mean + half, (mean, half, theory)
    # the CI is narrow enough to tell 9 (B - 1) from 10 (B) degrees of freedom
    assert 10 * (1 / n + 1 / m) > mean + half


def test_psi_on_discrete_data_follows_the_bins_left() -> None:
    """Poisson(2) counts: quantile edges merge to 5 - 7 distinct values, 6 - 8 bins."""
    rng = np.random.default_rng(7)
    reps, n = 1000, 1000
    ref, cur = rng.poisson(2.0, (reps, n)), rng.poisson(2.0, (reps, n))
    values = replicate_psi(ref, cur)
    bins_left = np.array([len(np.unique(np.quantile(r.astype(float), np.arange(1, 10) / 10))) + 1
                          for r in ref])
    expected = ((bins_left - 1) * (2 / n)).mean()
    assert values.mean() == pytest.approx(expected, rel=0.1)
    assert values.mean() < 0.8 * psi_noise_mean(n, n)


def test_psi_grows_with_a_real_shift() -> None:
    rng = np.random.default_rng(3)
    ref = rng.standard_normal(5000)
    values = [psi(ref, rng.standard_normal(5000) + shift) for shift in (0.0, 0.1, 0.25, 0.5, 1.0)]
    assert values == sorted(values)
    assert values[0] < 3 * psi_noise_mean(5000, 5000) < values[2]
    assert values[-1] > 0.25  # the conventional "major shift" threshold


def test_psi_of_identical_samples_is_zero() -> None:
    x = np.random.default_rng(4).exponential(size=777)
    assert psi(x, x) == 0.0
    assert psi(x, x.copy()[::-1]) == 0.0  # order does not matter
    assert psi(x, x * 1.5) > 0.0


def test_psi_drops_nan_and_inf() -> None:
    rng = np.random.default_rng(5)
    ref, cur = rng.standard_normal(1000), rng.standard_normal(800) + 0.2
    dirty_ref = np.concatenate([ref, [np.nan] * 50, [np.inf, -np.inf]])
    dirty_cur = np.concatenate([[np.nan] * 300, cur])
    assert psi(dirty_ref, dirty_cur) == psi(ref, cur)
    assert ks(dirty_ref, dirty_cur) == ks(ref, cur)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: psi([], [1.0]), "psi"),
        (lambda: psi([np.nan], [1.0]), "psi"),
        (lambda: psi([1.0], [1.0], bins=1), "bins"),
        (lambda: psi([1.0], [1.0], bins=2.5), "bins"),
        (lambda: psi([1.0], [1.0], eps=0.0), "eps"),
        (lambda: ks([1.0], [np.nan]), "ks"),
        (lambda: StreamDetector("kswin"), "detector.kind"),
        (lambda: StreamDetector("adwin", delta=0.0), "detector.delta"),
        (lambda: StreamDetector("page_hinkley", threshold=-1.0), "detector.threshold"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(call, field: str) -> None:
    with pytest.raises(InputError) as info:
        call()
    text = str(info.value)
    assert text.startswith(field) and "\n" not in text


def ks_pvalues(rng: np.random.Generator, n: int, m: int, reps: int,
               shift: float = 0.0) -> np.ndarray:
    ref, cur = rng.standard_normal((reps, n)), rng.standard_normal((reps, m)) + shift
    return np.array([ks(r, c)[1] for r, c in zip(ref, cur, strict=True)])


@pytest.mark.parametrize(("n", "m"), [(401, 211), (1000, 701)])
def test_ks_pvalues_are_uniform_under_no_drift(n: int, m: int) -> None:
    reps = 1500
    p = ks_pvalues(np.random.default_rng([13, n, m]), n, m, reps)
    assert kstest(p, "uniform").pvalue > 0.01
    low, high = wilson(int((p <= 0.05).sum()), reps)
    assert low <= 0.05 <= high, (low, high)


def test_ks_pvalues_with_equal_sizes_are_a_conservative_step_distribution() -> None:
    """N = M = 500: D takes multiples of 1/500 only, so about 50 p-values occur."""
    reps = 1500
    p = ks_pvalues(np.random.default_rng(14), 500, 500, reps)
    assert len(np.unique(p)) < 100
    assert kstest(p, "uniform").pvalue < 0.01  # a step distribution, not U(0, 1)
    assert wilson(int((p <= 0.05).sum()), reps)[0] <= 0.05  # never liberal


def test_ks_on_discrete_data_is_conservative() -> None:
    rng = np.random.default_rng(15)
    reps = 600
    ref, cur = rng.poisson(2.0, (reps, 300)), rng.poisson(2.0, (reps, 300))
    p = np.array([ks(r, c)[1] for r, c in zip(ref, cur, strict=True)])
    assert wilson(int((p <= 0.05).sum()), reps)[1] < 0.05


def test_ks_power_grows_with_the_shift() -> None:
    rng = np.random.default_rng(16)
    power = [float((ks_pvalues(rng, 1000, 1000, 200, shift) <= 0.05).mean())
             for shift in (0.05, 0.1, 0.2)]
    assert power == sorted(power)
    # a 0.2 sd shift with N = M = 1000: Φ-difference 0.08 against a critical D of 0.061
    assert wilson(int(power[-1] * 200), 200)[0] > 0.8


def river_stream() -> list[int]:
    rng = random.Random(12345)
    return rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)


@pytest.mark.parametrize(("kind", "first"), [("adwin", 1023), ("page_hinkley", 1006)])
def test_stream_detector_reproduces_rivers_documented_change_points(kind: str,
                                                                    first: int) -> None:
    det = StreamDetector(kind)
    hits = [i for i, x in enumerate(river_stream()) if det.update(x)]
    assert hits[0] == first
    assert det.n == 2000
    assert det.drift_detected == (hits[-1] == 1999)


def test_stream_detector_is_quiet_on_a_stationary_stream() -> None:
    rng = random.Random(1)
    stream = rng.choices([0, 1], k=2000)
    for kind in ("adwin", "page_hinkley"):
        det = StreamDetector(kind)
        assert not any(det.update(x) for x in stream), kind
