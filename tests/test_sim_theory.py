"""Theory tier: one simulated stage against M/M/c (Erlang C) and Little's law, with CIs.

A one-stage scenario — Poisson arrivals at ``lam`` per s, the transaction-ingestor's shared FIFO
served by ``c`` pods with exponential service of rate ``mu`` — is run for ``N_REPS`` independent
replications (distinct root seeds, hence independent SeedSequence streams). Each replication
discards arrivals before a warm-up time and drains the queue after the last arrival, so every
counted transaction has completed (no censoring). The replication means are then compared with
the analytic values of ``sim.analysis`` (theory, networks) through Student-t 95 % confidence
intervals (``sim.analysis.stats``; the validation ladder's rung 1).

Each test can fail for the reason in its name: the CI must contain the Erlang C value and must
exclude the value of a plausible wrong model (c separate M/M/1 queues at ``lam / c`` each for
``c > 1``; deterministic service, M/D/1, for ``c = 1``), and it must be informative (half-width
below a stated fraction of the value).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pytest

import sim.analysis.stats as ci
import sim.analysis.theory as th
from sim import Scenario, run

N_REPS = 20
MU = 1.0  # service rate per pod, per s (mean service 1 s)
# Arrivals per replication by utilisation: heavier traffic relaxes more slowly and needs more.
ARRIVALS = {0.5: 3000, 0.8: 6000, 0.9: 12000}
# The arrival period is cut into 100 monitoring intervals; the measured window is intervals
# 10..95: the first 10 % is warm-up (the run starts empty) and it ends before arrivals stop, so
# both edges are in steady state.
N_INTERVALS, WARMUP_INTERVALS, END_INTERVALS = 100, 10, 95
CASES = [(rho, c) for rho in (0.5, 0.8, 0.9) for c in (1, 2, 4)]


@dataclass(frozen=True)
class Rep:
    """Window statistics of one replication (window = [warm-up end, 95 % of the arrival period]).

    From the transaction records: ``wq_s`` / ``w_s`` mean wait / sojourn of the window's arrivals;
    ``l_items`` / ``lq_items`` time-weighted number in system / waiting (exact integrals of the
    piecewise-constant counts). From the run's own telemetry (the monitoring-service's
    time-weighted integrals, an independent code path): ``lq_tel`` mean queue depth and
    ``busy_tel`` mean number of busy servers over the same window.
    """

    wq_s: float
    w_s: float
    l_items: float
    lq_items: float
    lq_tel: float
    busy_tel: float


def _overlap_sum(t_in: np.ndarray, t_out: np.ndarray, t0: float, t1: float) -> float:
    """Integral over [t0, t1] of the number of intervals [t_in, t_out) covering t."""
    return float(np.clip(np.minimum(t_out, t1) - np.maximum(t_in, t0), 0.0, None).sum())


def record_stats(
    arrival: np.ndarray, start: np.ndarray, end: np.ndarray, t0: float, t1: float
) -> tuple[float, float, float, float]:
    """(Wq, W, L, Lq) over [t0, t1] from per-transaction times (pass all transactions)."""
    span = t1 - t0
    inside = (arrival >= t0) & (arrival < t1)
    return (
        float((start[inside] - arrival[inside]).mean()),
        float((end[inside] - arrival[inside]).mean()),
        _overlap_sum(arrival, end, t0, t1) / span,
        _overlap_sum(arrival, start, t0, t1) / span,
    )


def _telemetry_mean(metrics: pd.DataFrame, name: str, t0: float, t1: float, dt: float) -> float:
    """Mean of per-interval time-weighted values whose interval lies inside [t0, t1]."""
    m = metrics[(metrics["name"] == name) & (metrics["time_s"] > t0 + dt / 2)
                & (metrics["time_s"] < t1 + dt / 2)]
    assert len(m) == round((t1 - t0) / dt), (name, len(m))
    return float(m["value"].mean())


def one_stage_rep(c: int, lam: float, seed: int, n_arrivals: int) -> Rep:
    """Run the one-stage scenario once and measure its steady-state window."""
    duration = n_arrivals / lam
    dt = duration / N_INTERVALS  # monitoring interval; the window is whole intervals
    scenario = Scenario.from_dict({
        "seed": seed,
        "last_stage": "transaction_ingestor",
        "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": lam,
                     "live_duration_s": duration},
        "deployments": {"transaction_ingestor": {
            "replicas": c, "concurrency": 1, "startup_s": 0.0,
            "service": {"distribution": "exponential", "fixed_s": 0.0, "per_record_s": 1.0 / MU},
        }},
        "monitoring_interval_s": dt,
        "max_duration_s": 10 * duration,
    })
    res = run(scenario, progress=False)
    tx = res.transactions
    assert (tx["outcome"] == "completed").all(), "the one-stage run must drain completely"
    t0, t1 = WARMUP_INTERVALS * dt, END_INTERVALS * dt
    wq, w, l_items, lq = record_stats(tx["arrival_s"].to_numpy(), tx["ingest_start_s"].to_numpy(),
                                      tx["ingest_end_s"].to_numpy(), t0, t1)
    util = _telemetry_mean(
        res.metrics[res.metrics["labels"] == "deployment=transaction_ingestor"],
        "tinybots_utilisation", t0, t1, dt,
    )
    lq_tel = _telemetry_mean(res.metrics, "tinybots_ingress_queue_depth_mean", t0, t1, dt)
    return Rep(wq, w, l_items, lq, lq_tel, util * c)


@cache
def replications(rho: float, c: int) -> tuple[Rep, ...]:
    """``N_REPS`` independent replications (distinct root seeds) of the (rho, c) case."""
    lam = rho * c * MU
    return tuple(
        one_stage_rep(c, lam, seed=1_000_000 * c + 1000 * round(100 * rho) + r,
                      n_arrivals=ARRIVALS[rho])
        for r in range(N_REPS)
    )


def _ci(values) -> tuple[float, float, float]:
    return ci.mean_ci(list(values), 0.95)


@pytest.mark.slow
@pytest.mark.parametrize("rho, c", CASES)
def test_mean_wait_ci_contains_erlang_c(rho: float, c: int) -> None:
    lam = rho * c * MU
    expected = th.mmc_wq(lam, MU, c)
    m, lo, hi = _ci(r.wq_s for r in replications(rho, c))
    assert lo <= expected <= hi, f"Wq CI [{lo:.4f}, {hi:.4f}] misses Erlang C {expected:.4f}"
    half = (hi - lo) / 2
    assert half < 0.25 * expected, f"CI half-width {half:.4f} s is not informative"
    # A wrong model must fall outside: c separate queues (c > 1) or deterministic service (c = 1).
    wrong = th.mm1_wq(lam / c, MU) if c > 1 else rho / (2 * MU * (1 - rho))
    assert not lo <= wrong <= hi, f"CI [{lo:.4f}, {hi:.4f}] cannot tell the wrong model {wrong:.4f}"


@pytest.mark.slow
@pytest.mark.parametrize("rho, c", CASES)
def test_littles_law_holds_within_ci(rho: float, c: int) -> None:
    reps = replications(rho, c)
    lam = rho * c * MU
    # Per replication, a time-weighted L over the window against lam * W of the window's
    # arrivals (lam = the scenario's arrival rate): the CI of the ratio must contain 1.
    for label, ratios in (
        ("L(records) / (lam W)", [r.l_items / (lam * r.w_s) for r in reps]),
        ("Lq(records) / (lam Wq)", [r.lq_items / (lam * r.wq_s) for r in reps]),
        ("Lq(telemetry) / (lam Wq)", [r.lq_tel / (lam * r.wq_s) for r in reps]),
        ("L(telemetry) / (lam W)", [(r.lq_tel + r.busy_tel) / (lam * r.w_s) for r in reps]),
    ):
        _, lo, hi = _ci(ratios)
        assert lo <= 1.0 <= hi, f"{label}: CI [{lo:.4f}, {hi:.4f}] excludes 1"
    # The time-weighted L itself against the M/M/c value, and busy servers against c * rho.
    for label, values, expected in (
        ("L", [r.l_items for r in reps], th.mmc_l(lam, MU, c)),
        ("busy servers", [r.busy_tel for r in reps], c * rho),
    ):
        _, lo, hi = _ci(values)
        assert lo <= expected <= hi, f"{label}: CI [{lo:.4f}, {hi:.4f}] misses {expected:.4f}"


def test_record_stats_on_a_hand_made_path() -> None:
    # Two customers: in system [0, 2) and [1, 4), each waiting 1 s. Window [0, 4).
    arrival, start, end = np.array([0.0, 1.0]), np.array([1.0, 2.0]), np.array([2.0, 4.0])
    wq, w, l_items, lq = record_stats(arrival, start, end, 0.0, 4.0)
    assert (wq, w) == (1.0, 2.5)
    assert l_items == pytest.approx((2 + 3) / 4) and lq == pytest.approx(2 / 4)
    # Little's law holds exactly on a path that starts and ends empty: L = (n / T) W.
    assert l_items == pytest.approx(2 / 4 * w)
    # A window cutting the path counts only the overlap: [1, 3) sees 1 + 2 = 3 item-seconds.
    assert record_stats(arrival, start, end, 1.0, 3.0)[2] == pytest.approx(3 / 2)
