"""Theory tier: the analytic queueing references of ``sim.analysis`` (theory, networks, stats)
are themselves right.

Checked against closed forms derived independently of the Erlang B recursion (M/M/1, M/M/2,
the factorial-sum Erlang C), exact small-case values, monotonicity and pooling, bad input, the
Student-t interval's coverage, and a ciw simulation of a two-stage tandem network.
"""

from __future__ import annotations

import doctest
import math
import random

import numpy as np
import pytest
from scipy import integrate, stats

import sim.analysis.networks as net
import sim.analysis.stats as ci
import sim.analysis.theory as th
from tinybots.errors import InputError


def _erlang_c_direct(lam: float, mu: float, c: int) -> float:
    """Textbook factorial-sum Erlang C (Kleinrock 1975, eq. 3.40), for small c only."""
    a, rho = lam / mu, lam / (c * mu)
    top = a**c / math.factorial(c) / (1.0 - rho)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_doctests_pass() -> None:
    results = [doctest.testmod(m, verbose=False) for m in (th, net, ci)]
    assert sum(r.attempted for r in results) >= 10 and sum(r.failed for r in results) == 0


@pytest.mark.parametrize("lam, mu", [(0.1, 1.0), (0.5, 1.0), (0.9, 1.0), (3.0, 4.0), (0.99, 1.0)])
def test_single_server_matches_mm1_closed_forms(lam: float, mu: float) -> None:
    rho = lam / mu
    assert th.erlang_c(lam, mu, 1) == pytest.approx(rho, rel=1e-12)
    assert th.mmc_wq(lam, mu, 1) == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert th.mm1_wq(lam, mu) == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert th.mmc_lq(lam, mu, 1) == pytest.approx(rho**2 / (1 - rho), rel=1e-12)
    assert th.mmc_w(lam, mu, 1) == pytest.approx(1 / (mu - lam), rel=1e-12)
    assert th.mm1_w(lam, mu) == pytest.approx(1 / (mu - lam), rel=1e-12)
    assert th.mmc_l(lam, mu, 1) == pytest.approx(rho / (1 - rho), rel=1e-12)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.8, 0.95])
def test_two_servers_match_mm2_closed_form(rho: float) -> None:
    # M/M/2: Lq = 2 rho^3 / (1 - rho^2) (Gross et al. 2008, §2.3 worked case c = 2).
    mu = 1.5
    lam = 2 * mu * rho
    assert th.mmc_lq(lam, mu, 2) == pytest.approx(2 * rho**3 / (1 - rho**2), rel=1e-12)
    assert th.erlang_c(lam, mu, 2) == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-12)


def test_exact_small_cases() -> None:
    # a = 2 Erlangs on c = 3 servers: C = (8/6 * 3) / (1 + 2 + 2 + 4) = 4/9.
    assert th.erlang_c(2.0, 1.0, 3) == pytest.approx(4 / 9, rel=1e-12)
    # Erlang B for a = 2, c = 3: (8/6) / (1 + 2 + 2 + 8/6) = 4/19.
    assert th.erlang_b(3, 2.0) == pytest.approx(4 / 19, rel=1e-12)
    assert th.utilisation(8.0, 5.0, 2) == pytest.approx(0.8)


@pytest.mark.parametrize("c", [1, 2, 3, 4, 8, 16])
@pytest.mark.parametrize("rho", [0.05, 0.5, 0.8, 0.9, 0.99])
def test_recursion_agrees_with_factorial_sum(c: int, rho: float) -> None:
    mu = 0.7
    lam = rho * c * mu
    assert th.erlang_c(lam, mu, c) == pytest.approx(_erlang_c_direct(lam, mu, c), rel=1e-10)


def test_large_c_stays_finite() -> None:
    # a**c / c! overflows a float for c = 500; the recursion must not.
    p = th.erlang_c(480.0, 1.0, 500)
    assert 0.0 < p < 1.0
    assert math.isfinite(th.mmc_wq(480.0, 1.0, 500))


def test_monotone_in_load_and_servers() -> None:
    mu = 1.0
    wq_by_rho = [th.mmc_wq(r * 4 * mu, mu, 4) for r in np.linspace(0.05, 0.98, 40)]
    assert np.all(np.diff(wq_by_rho) > 0), "Wq must grow with the arrival rate"
    lam = 3.5
    wq_by_c = [th.mmc_wq(lam, mu, c) for c in range(4, 12)]
    assert np.all(np.diff(wq_by_c) < 0), "Wq must fall as servers are added"
    pc = [th.erlang_c(lam, mu, c) for c in range(4, 12)]
    assert np.all(np.diff(pc) < 0) and all(0 < p < 1 for p in pc)


@pytest.mark.parametrize("c", [2, 4, 8])
def test_pooled_queue_beats_separate_queues(c: int) -> None:
    # One shared queue for c servers waits less than c separate M/M/1 queues at lam/c each.
    mu, rho = 1.0, 0.8
    lam = rho * c * mu
    assert th.mmc_wq(lam, mu, c) < th.mm1_wq(lam / c, mu)


def test_littles_law_helpers_round_trip() -> None:
    assert net.littles_l(4.0, 0.5) == pytest.approx(2.0)
    assert net.littles_w(4.0, net.littles_l(4.0, 0.5)) == pytest.approx(0.5)
    assert net.littles_l(2.0, th.mmc_w(2.0, 1.0, 3)) == pytest.approx(th.mmc_l(2.0, 1.0, 3))


def test_jackson_tandem_is_sum_of_stages() -> None:
    stages = [(2, 1.0), (1, 3.0), (4, 0.6)]
    expected = sum(th.mmc_w(1.5, mu, c) for c, mu in stages)
    assert net.jackson_tandem_w(1.5, stages) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: th.erlang_c(2.0, 1.0, 2), ["lam", "mu", "2.0", "rho", "< 1"]),
        (lambda: th.mmc_wq(5.0, 1.0, 4), ["5.0", "1.0", "4", "rho"]),
        (lambda: th.mm1_wq(1.0, 1.0), ["rho", "lam"]),
        (lambda: th.erlang_c(-1.0, 1.0, 2), ["lam", "> 0"]),
        (lambda: th.erlang_c(1.0, 0.0, 2), ["mu", "> 0"]),
        (lambda: th.erlang_c(1.0, 1.0, 0), ["c", ">= 1"]),
        (lambda: th.erlang_c(1.0, 1.0, 2.5), ["c", "integer"]),
        (lambda: th.erlang_c(float("nan"), 1.0, 2), ["lam", "finite"]),
        (lambda: th.mmc_prob_wait_exceeds(1.0, 1.0, 2, -1.0), ["t_s", ">= 0"]),
        (lambda: net.littles_l(-1.0, 1.0), ["lam", ">= 0"]),
        (lambda: net.littles_w(0.0, 1.0), ["lam", "> 0"]),
        (lambda: net.jackson_tandem_w(1.0, []), ["stages", "empty"]),
        (lambda: net.jackson_tandem_w(1.0, [(1, 2.0), (1, 0.5)]), ["stages[1]", "rho"]),
        (lambda: ci.mean_ci([1.0]), ["at least 2"]),
        (lambda: ci.mean_ci([1.0, float("inf")]), ["finite"]),
        (lambda: ci.mean_ci([1.0, 2.0], confidence=1.0), ["confidence", "(0, 1)"]),
    ],
)
def test_bad_input_names_the_field(call, words: list[str]) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert isinstance(info.value, ValueError)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_prob_wait_exceeds_integrates_to_wq() -> None:
    # E[Wq] = integral_0^inf P(Wq > t) dt.
    lam, mu, c = 3.2, 1.0, 4
    ts = np.linspace(0.0, 60.0, 60001)
    tail = np.array([th.mmc_prob_wait_exceeds(lam, mu, c, t) for t in ts[::100]])
    integral = integrate.trapezoid(tail, ts[::100])
    assert integral == pytest.approx(th.mmc_wq(lam, mu, c), rel=1e-3)
    assert th.mmc_prob_wait_exceeds(lam, mu, c, 0.0) == pytest.approx(th.erlang_c(lam, mu, c))


def test_mean_ci_matches_scipy_interval() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(3.0, 2.0, size=25)
    m, lo, hi = ci.mean_ci(x, 0.9)
    slo, shi = stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert m == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx((slo, shi), rel=1e-12)


def test_mean_ci_has_its_nominal_coverage() -> None:
    # 4000 intervals, each over n = 20 replications of a skewed (exponential) quantity.
    rng = np.random.default_rng(20240601)
    n_trials = 4000
    # Each replication value is itself an average of many waits: use means of 50 draws.
    reps = rng.exponential(2.0, size=(n_trials, 20, 50)).mean(axis=2)
    hits = 0
    for row in reps:
        _, lo, hi = ci.mean_ci(row)
        hits += lo <= 2.0 <= hi
    cover = hits / n_trials
    se = math.sqrt(0.95 * 0.05 / n_trials)
    assert abs(cover - 0.95) < 4 * se, cover


def _ciw_tandem_sojourns(lam: float, stages, horizon: float, warmup: float, seed: int):
    ciw = pytest.importorskip("ciw")
    n = len(stages)
    routing = [[1.0 if j == i + 1 else 0.0 for j in range(n)] for i in range(n)]
    net = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=lam)] + [None] * (n - 1),
        service_distributions=[ciw.dists.Exponential(rate=mu) for _, mu in stages],
        number_of_servers=[c for c, _ in stages],
        routing=routing,
    )
    # ciw seeds global state (random + ciw.rng); restore both so no other test is affected.
    saved_random, saved_rng = random.getstate(), ciw.rng
    try:
        ciw.seed(seed)
        sim = ciw.Simulation(net)
        sim.simulate_until_max_time(horizon)
        recs = sim.get_all_records()
    finally:
        random.setstate(saved_random)
        ciw.rng = saved_rng
    first = {r.id_number: r.arrival_date for r in recs if r.node == 1}
    last = {r.id_number: r.exit_date for r in recs if r.node == n}
    margin = 50.0  # arrivals this close to the horizon may not have finished: drop them all
    return np.array(
        [last[i] - t0 for i, t0 in first.items() if warmup <= t0 <= horizon - margin and i in last]
    )


def test_jackson_tandem_against_ciw() -> None:
    lam, stages = 1.4, [(2, 1.0), (1, 2.0)]  # rho = 0.7 at both stages
    expected = net.jackson_tandem_w(lam, stages)
    means = [
        _ciw_tandem_sojourns(lam, stages, horizon=2500.0, warmup=200.0, seed=1000 + r).mean()
        for r in range(10)
    ]
    m, lo, hi = ci.mean_ci(means)
    assert lo <= expected <= hi, (expected, m, lo, hi)
    # The check has teeth: the CI is informative (< 10 % of the value) and excludes the wrong
    # model with two separate M/M/1 queues at lam/2 each in stage 1 (W = 1/0.3 + 1/0.6 = 5 s).
    assert (hi - lo) / 2 < 0.1 * expected
    wrong = th.mm1_w(lam / 2, 1.0) + th.mm1_w(lam, 2.0)
    assert not lo <= wrong <= hi, (wrong, lo, hi)
