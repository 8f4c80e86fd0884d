"""workload.bursts act: the multiplier m(t), Poisson thinning, a replay's extra and dropped rows."""

from __future__ import annotations

import numpy as np
import pytest

from sim.bursts import peak_multiplier, rate_multiplier
from sim.scenario import BurstSpec, WorkloadSpec, load_preset
from sim.workload import build_workload, poisson_arrivals
from tinybots.errors import InputError

SEEDS = range(12)
COLUMNS = ("tx_id", "customer_id", "terminal_id", "amount", "event_time_s", "fraud", "arrival_s")


def synthetic(**changes) -> WorkloadSpec:
    """A tiny synthetic Poisson workload: 20 arrivals/s over 1000 s of processing time."""
    base = dict(kind="poisson", content="synthetic", rate_per_s=20.0, live_duration_s=1000.0)
    return WorkloadSpec(**{**base, **changes})


def rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    a, c = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(a), np.random.default_rng(c)


def count(arrival: np.ndarray, lo: float, hi: float) -> int:
    return int(((arrival >= lo) & (arrival < hi)).sum())


def within_ci(samples: list[float], expected: float, z: float = 3.0) -> bool:
    """``expected`` lies within ``z`` standard errors of the replications' mean."""
    x = np.asarray(samples, dtype=float)
    return abs(x.mean() - expected) <= z * x.std(ddof=1) / np.sqrt(len(x))


# --- m(t), hand-computed ---------------------------------------------------------------------


def test_step_multiplies_over_its_half_open_window():
    b = [BurstSpec(kind="step", start_s=10, duration_s=10, multiplier=3)]
    assert rate_multiplier(b, [9.99, 10.0, 15.0, 19.99, 20.0]).tolist() == [1, 3, 3, 3, 1]


def test_spike_ramps_to_its_multiplier_at_the_middle_and_back():
    b = [BurstSpec(kind="spike", start_s=0, duration_s=100, multiplier=5)]
    assert rate_multiplier(b, [0, 25, 50, 75, 100, 150]).tolist() == [1, 3, 5, 3, 1, 1]
    dip = [BurstSpec(kind="spike", start_s=0, duration_s=100, multiplier=0.5)]
    assert rate_multiplier(dip, [25, 50]).tolist() == [0.75, 0.5]


def test_overlapping_bursts_multiply():
    b = [
        BurstSpec(kind="step", start_s=0, duration_s=10, multiplier=2),
        BurstSpec(kind="step", start_s=5, duration_s=10, multiplier=3),
        BurstSpec(kind="spike", start_s=20, duration_s=20, multiplier=3),  # 2 at 25, 3 at 30
        BurstSpec(kind="step", start_s=30, duration_s=20, multiplier=0.5),
    ]
    got = rate_multiplier(b, np.array([2.0, 7.0, 12.0, 17.0, 25.0, 30.0, 35.0, 45.0]))
    assert got.tolist() == [2, 6, 3, 1, 2, 1.5, 1, 0.5]
    assert peak_multiplier(b) == 6.0


def test_peak_multiplier_bounds_the_multiplier_everywhere():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 120, 24001)
    for _ in range(50):
        bursts = [
            BurstSpec(
                kind=rng.choice(["step", "spike"]),
                start_s=float(rng.uniform(0, 100)),
                duration_s=float(rng.uniform(1, 40)),
                multiplier=float(rng.uniform(0.2, 5)),
            )
            for _ in range(3)
        ]
        assert rate_multiplier(bursts, t).max() <= peak_multiplier(bursts) + 1e-12


# --- Poisson ---------------------------------------------------------------------------------


def test_no_bursts_draws_exactly_as_the_diurnal_thinning_alone():
    """The pre-burst algorithm, verbatim: the same arrivals and the same number of draws."""
    for spec in (synthetic(), synthetic(diurnal_amplitude=0.5, period_s=400.0)):
        rng_ref, rng_new = np.random.default_rng(7), np.random.default_rng(7)
        horizon, a = spec.live_duration_s / spec.speedup, spec.diurnal_amplitude
        n = rng_ref.poisson(spec.rate_per_s * (1.0 + a) * horizon)
        ref = np.sort(rng_ref.uniform(0.0, horizon, size=n))
        if a > 0:
            phase = 2 * np.pi * (ref - spec.peak_time_s) / spec.period_s
            ref = ref[rng_ref.uniform(size=n) < (1.0 + a * np.cos(phase)) / (1.0 + a)]
        np.testing.assert_array_equal(poisson_arrivals(spec, rng_new), ref)
        assert rng_new.uniform() == rng_ref.uniform()


def test_poisson_step_triples_the_window_and_leaves_the_rest():
    burst = BurstSpec(kind="step", start_s=400, duration_s=100, multiplier=3)
    inside, outside, inside_base = [], [], []
    for seed in SEEDS:
        t = build_workload(synthetic(bursts=(burst,)), *rngs(seed)).arrival_s
        base = build_workload(synthetic(), *rngs(seed)).arrival_s
        inside.append(count(t, 400, 500))
        outside.append(len(t) - count(t, 400, 500))
        inside_base.append(count(base, 400, 500))
        assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 1000
    assert within_ci(inside, 3 * 20.0 * 100)
    assert within_ci(inside_base, 20.0 * 100)
    assert within_ci(outside, 20.0 * 900)


def test_poisson_spike_follows_the_ramp_on_the_diurnal_rate():
    burst = BurstSpec(kind="spike", start_s=200, duration_s=200, multiplier=5)
    spec = synthetic(bursts=(burst,), diurnal_amplitude=0.3, period_s=1000.0, peak_time_s=0.0)
    t = np.linspace(200, 400, 200_001)
    diurnal = spec.rate_per_s * (1 + 0.3 * np.cos(2 * np.pi * t / 1000.0))
    rate = diurnal * rate_multiplier([burst], t)
    expected = float(np.trapezoid(rate, t))  # ≈ 3 × the diurnal arrivals of the window
    got = [count(build_workload(spec, *rngs(seed)).arrival_s, 200, 400) for seed in SEEDS]
    assert within_ci(got, expected)


def test_poisson_dip_halves_the_window():
    burst = BurstSpec(kind="step", start_s=0, duration_s=500, multiplier=0.5)
    inside = [count(build_workload(synthetic(bursts=(burst,)), *rngs(s)).arrival_s, 0, 500)
              for s in SEEDS]
    assert within_ci(inside, 0.5 * 20.0 * 500)


def test_a_burst_past_the_end_is_clipped():
    burst = BurstSpec(kind="step", start_s=900, duration_s=5000, multiplier=3)
    t = build_workload(synthetic(bursts=(burst,)), *rngs(0)).arrival_s
    assert t.max() < 1000 and count(t, 900, 1000) > 2 * 20.0 * 100


def test_a_burst_starting_after_the_window_is_refused():
    spec = synthetic(speedup=10.0, bursts=(BurstSpec(start_s=50, duration_s=10, multiplier=2),
                                           BurstSpec(start_s=500, duration_s=10, multiplier=2)))
    with pytest.raises(InputError, match=r"workload\.bursts\[1\]\.start_s.*= 100\b") as exc:
        build_workload(spec, *rngs(0))
    assert "\n" not in str(exc.value)


# --- replay (the small preset's bank) --------------------------------------------------------


@pytest.fixture(scope="module")
def replay() -> WorkloadSpec:
    return load_preset("small").workload  # 14400 s of event time at 200x: 72 s of processing


def replay_pair(spec: WorkloadSpec, burst: BurstSpec, seed: int):
    base = build_workload(spec, *rngs(seed), with_history=False)
    bursted = spec.model_copy(update={"bursts": (burst,)})
    return base, build_workload(bursted, *rngs(seed), with_history=False)


def rows(table, mask) -> dict[str, np.ndarray]:
    return {c: getattr(table, c)[mask] for c in COLUMNS}


def test_replay_step_doubles_the_window_and_keeps_the_rest(replay):
    lo, hi = 10.0, 50.0
    burst = BurstSpec(kind="step", start_s=lo, duration_s=hi - lo, multiplier=2)
    ratios = []
    for seed in range(20):
        base, got = replay_pair(replay, burst, seed)
        out_b = (base.arrival_s < lo) | (base.arrival_s >= hi)
        out_g = (got.arrival_s < lo) | (got.arrival_s >= hi)
        for col, values in rows(base, out_b).items():
            np.testing.assert_array_equal(rows(got, out_g)[col], values, err_msg=col)
        assert np.all(np.diff(got.arrival_s) >= 0)
        win_b, win_g = ~out_b, ~out_g
        ratios.append(win_g.sum() / win_b.sum())
        # every replayed row of the window is still there, and each extra copies one of them
        content = ("tx_id", "customer_id", "terminal_id", "amount", "fraud")
        seen = set(zip(*(getattr(base, c)[win_b] for c in content), strict=True))
        assert seen == set(zip(*(getattr(got, c)[win_g] for c in content), strict=True))
        extra = win_g & ~np.isin(got.event_time_s, base.event_time_s[win_b])
        np.testing.assert_allclose(
            got.event_time_s[extra], got.live_start_s + got.arrival_s[extra] * replay.speedup
        )
    assert within_ci(ratios, 2.0)


def test_replay_spike_adds_the_ramps_excess(replay):
    burst = BurstSpec(kind="spike", start_s=10, duration_s=40, multiplier=3)  # mean m = 2
    ratios, first_quarter, extras = [], 0, 0
    for seed in range(20):
        base, got = replay_pair(replay, burst, seed)
        extra = len(got) - len(base)
        ratios.append(extra / count(base.arrival_s, 10, 50))
        first_quarter += count(got.arrival_s, 10, 20) - count(base.arrival_s, 10, 20)
        extras += extra
    assert within_ci(ratios, 1.0)
    assert 0.06 < first_quarter / extras < 0.19  # the ramp's excess: 1/8 there (a step: 1/4)


def test_replay_dip_halves_the_window(replay):
    burst = BurstSpec(kind="step", start_s=0, duration_s=72, multiplier=0.5)
    ratios = []
    for seed in range(20):
        base, got = replay_pair(replay, burst, seed)
        assert set(got.event_time_s) <= set(base.event_time_s)  # only replayed rows, fewer
        ratios.append(len(got) / len(base))
    assert within_ci(ratios, 0.5)


def test_replay_with_a_neutral_burst_is_the_plain_replay(replay):
    base, got = replay_pair(replay, BurstSpec(start_s=10, duration_s=20, multiplier=1.0), 3)
    for col, values in rows(base, slice(None)).items():
        np.testing.assert_array_equal(getattr(got, col), values, err_msg=col)
