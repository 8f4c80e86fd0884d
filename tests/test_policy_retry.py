"""Retry back-off and jitter (Brooker, AWS 2015), gRPC's retry throttling (gRFC A6) and
resilience4j's semaphore bulkhead, against their documented rules."""

from __future__ import annotations

import doctest
import math
from statistics import NormalDist

import numpy as np
import pytest

from sim.policies import bulkhead as bulkhead_module
from sim.policies import retry as retry_module
from sim.policies.bulkhead import Bulkhead
from sim.policies.retry import RetryBudget, RetryPolicy

N = 10_000
Z_999 = NormalDist().inv_cdf(1 - 0.001 / 2)  # two-sided 99.9 %: 3.29


def test_defaults_are_resilience4j_s():
    p = RetryPolicy()
    assert (p.max_attempts, p.base_wait_s, p.multiplier, p.jitter) == (3, 0.5, 2.0, "full")
    b = Bulkhead()
    assert (b.max_concurrent_calls, b.max_wait_s, b.in_use, b.available) == (25, 0.0, 0, 25)


def test_no_jitter_doubles_from_half_a_second_up_to_the_cap():
    p = RetryPolicy(max_attempts=6, jitter="none", max_wait_s=30.0)
    assert [p.delay_s(k) for k in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    capped = RetryPolicy(max_attempts=6, jitter="none", max_wait_s=3.0)
    assert [capped.delay_s(k) for k in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert RetryPolicy(jitter="none", multiplier=1.5).delay_s(3) == 0.5 * 1.5 ** 2
    assert RetryPolicy(jitter="none", multiplier=1.0).delay_s(4) == 0.5  # a fixed wait
    assert RetryPolicy(jitter="none", max_wait_s=30.0).delay_s(5000) == 30.0  # no overflow


def _draws(policy: RetryPolicy, attempt: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([policy.delay_s(attempt, rng) for _ in range(N)])


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_full_jitter_is_uniform_between_zero_and_the_capped_backoff(attempt):
    p = RetryPolicy(max_attempts=6, jitter="full", max_wait_s=5.0)
    cap = min(5.0, 0.5 * 2 ** (attempt - 1))
    d = _draws(p, attempt, seed=100 + attempt)
    assert d.min() >= 0.0 and d.max() <= cap
    half_width = Z_999 * (cap / math.sqrt(12)) / math.sqrt(N)  # sd of U(0, cap) is cap/sqrt 12
    assert abs(d.mean() - cap / 2) < half_width
    assert d.min() < 0.01 * cap and d.max() > 0.99 * cap  # the whole range, not a fixed point


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_equal_jitter_keeps_at_least_half_the_backoff(attempt):
    p = RetryPolicy(max_attempts=6, jitter="equal", max_wait_s=5.0)
    cap = min(5.0, 0.5 * 2 ** (attempt - 1))
    d = _draws(p, attempt, seed=200 + attempt)
    assert d.min() >= cap / 2 and d.max() <= cap
    half_width = Z_999 * (cap / 2 / math.sqrt(12)) / math.sqrt(N)  # cap/2 + U(0, cap/2)
    assert abs(d.mean() - 0.75 * cap) < half_width


def test_the_same_seed_gives_the_same_delays_and_another_seed_others():
    p = RetryPolicy(max_attempts=6)

    def run(seed):
        rng = np.random.default_rng(seed)
        return [p.delay_s(k, rng) for k in range(1, 6)]

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_should_retry_stops_at_max_attempts():
    p = RetryPolicy(max_attempts=3)
    assert [p.should_retry(k) for k in (1, 2, 3, 4)] == [True, True, False, False]
    assert not RetryPolicy(max_attempts=1).should_retry(1)  # retries off


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"max_attempts": 0}, "max_attempts"),
    ({"max_attempts": 2.5}, "max_attempts"),
    ({"base_wait_s": -0.1}, "base_wait_s"),
    ({"max_wait_s": math.inf}, "max_wait_s"),
    ({"multiplier": 0.5}, "multiplier"),
    ({"jitter": "decorrelated"}, "jitter"),
])
def test_retry_policy_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        RetryPolicy(**kwargs)


def test_attempts_are_one_based_and_jitter_needs_a_generator():
    p = RetryPolicy()
    for call in (p.should_retry, p.backoff_s, p.delay_s):
        with pytest.raises(ValueError, match="^attempt: "):
            call(0)
    with pytest.raises(ValueError, match="^rng: "):
        p.delay_s(1)


def test_retry_policy_is_frozen():
    with pytest.raises(AttributeError):
        RetryPolicy().max_attempts = 5  # type: ignore[misc]


def test_budget_failures_drain_it_to_the_threshold_and_retries_stop():
    b = RetryBudget(max_tokens=10, token_ratio=0.1)
    assert b.tokens == 10.0 and b.allow_retry()
    allowed = []
    for _ in range(5):
        b.on_failure()
        allowed.append((b.tokens, b.allow_retry()))
    # 9, 8, 7, 6 are above 10 / 2; 5 is not (strictly greater is needed)
    assert allowed == [(9.0, True), (8.0, True), (7.0, True), (6.0, True), (5.0, False)]
    for _ in range(10):
        b.on_failure()
    assert b.tokens == 0.0 and not b.allow_retry()  # floored at 0


def test_budget_successes_refill_it_and_retries_resume_after_51():
    b = RetryBudget(max_tokens=10, token_ratio=0.1)
    for _ in range(10):
        b.on_failure()
    for n in range(1, 51):
        b.on_success()
        assert not b.allow_retry(), n  # 0.1 n <= 5 up to n = 50, exactly at 5.0
    assert b.tokens == 5.0  # exact: thousandths of a token, no float drift
    b.on_success()
    assert b.tokens == 5.1 and b.allow_retry()
    for _ in range(100):
        b.on_success()
    assert b.tokens == 10.0  # capped at max_tokens


def test_budget_one_failure_undoes_ten_successes():
    b = RetryBudget(max_tokens=10, token_ratio=0.1)
    for _ in range(5):
        b.on_failure()
    for _ in range(10):
        b.on_success()
    b.on_failure()
    assert b.tokens == 5.0 and not b.allow_retry()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": 1001}, "max_tokens"),
    ({"max_tokens": math.nan}, "max_tokens"),
    ({"token_ratio": 0}, "token_ratio"),
    ({"token_ratio": 0.0005}, "token_ratio"),
    ({"token_ratio": math.inf}, "token_ratio"),
])
def test_budget_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        RetryBudget(**kwargs)


def test_bulkhead_rejects_the_26th_concurrent_call_and_accepts_after_an_exit():
    b = Bulkhead()
    assert all(b.try_enter() for _ in range(25))
    assert (b.in_use, b.available) == (25, 0)
    assert not b.try_enter()  # the 26th: BulkheadFullException in resilience4j
    assert b.in_use == 25  # a rejected call takes no permit
    b.exit()
    assert b.try_enter() and not b.try_enter()


def test_bulkhead_of_zero_rejects_everything_and_exit_needs_an_entry():
    assert not Bulkhead(max_concurrent_calls=0).try_enter()
    with pytest.raises(ValueError, match="^exit: "):
        Bulkhead().exit()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"max_concurrent_calls": -1}, "max_concurrent_calls"),
    ({"max_concurrent_calls": 2.0}, "max_concurrent_calls"),
    ({"max_wait_s": -1.0}, "max_wait_s"),
])
def test_bulkhead_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        Bulkhead(**kwargs)


@pytest.mark.parametrize("module", [retry_module, bulkhead_module])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
