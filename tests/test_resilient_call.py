"""The SimPy driver of a dependency call (sim.services.resilient_call) on a tiny environment:
attempts bounded by max_attempts, back-offs that follow the policy's formula, timeouts whose
abandoned calls still hold the server, an open breaker that keeps calls off the server, a full
bulkhead, and a retry budget that stops retries."""

from __future__ import annotations

import numpy as np
import simpy

from sim.faults.schedule import FaultWindows, occurrences
from sim.policies.retry import RetryPolicy
from sim.scenario.deployments import DependencySpec
from sim.scenario.faults import FailingDependency, SlowDependency
from sim.scenario.resilience import ResilienceSpec
from sim.services.dependency import DependencyServer
from sim.services.resilient_call import ResilientCaller, breaker_frame


def _caller(resilience: dict, faults=(), servers=4, fixed_s=0.1, seed=1):
    env = simpy.Environment()
    windows = FaultWindows(occurrences(list(faults), np.random.default_rng(0), 1e6))
    spec = DependencySpec(servers=servers, network_s=0.0,
                          service={"distribution": "deterministic", "fixed_s": fixed_s,
                                   "per_record_s": 0.0})
    server = DependencyServer(env, spec, np.random.default_rng(seed), windows)
    caller = ResilientCaller(env, server, ResilienceSpec.model_validate(resilience),
                             np.random.default_rng(seed + 1))
    return env, server, caller


def _calls(env, caller, starts, n=1):
    """Start one logical call at each time of ``starts``; their results, in start order."""
    out: dict[int, object] = {}

    def one(i, t):
        yield env.timeout(t)
        out[i] = yield from caller.call(n)

    for i, t in enumerate(starts):
        env.process(one(i, t))
    env.run()
    return [out[i] for i in range(len(starts))]


_FAILING = [FailingDependency(kind="failing_dependency", at_s=0.0, duration_s=1e6,
                              error_rate=1.0)]


def test_attempts_never_exceed_max_attempts():
    env, server, caller = _caller({"retry": {"max_attempts": 3}}, _FAILING)
    results = _calls(env, caller, [float(t) for t in range(20)])
    assert all(not r.ok and r.attempts == 3 for r in results)
    assert server.calls["error"] == caller.counts["error"] == 60  # 3 per call, never more
    assert caller.retries == 40
    assert results[0].reason == "feature_store error after 3 attempts"


def test_one_attempt_without_retry():
    env, server, caller = _caller({}, _FAILING)
    results = _calls(env, caller, [0.0, 1.0])
    assert [r.attempts for r in results] == [1, 1] and caller.retries == 0


def test_backoff_delays_follow_the_formula():
    retry = {"max_attempts": 5, "base_wait_s": 0.2, "multiplier": 3.0, "max_wait_s": 2.0}
    for jitter in ("full", "equal", "none"):
        env, _, caller = _caller({"retry": {**retry, "jitter": jitter}}, _FAILING, seed=5)
        _calls(env, caller, [0.0, 0.05, 7.0, 20.0])
        assert len(caller.backoffs) == 4 * 4  # four calls, four back-offs each
        policy = RetryPolicy(5, 0.2, 3.0, 2.0, jitter)  # the same policy, the same stream
        replay = np.random.default_rng(6)
        for _, attempt, delay in caller.backoffs:
            assert delay == policy.delay_s(attempt, replay)
            cap = min(2.0, 0.2 * 3.0 ** (attempt - 1))
            lo = {"full": 0.0, "equal": cap / 2, "none": cap}[jitter]
            assert lo <= delay <= cap
        if jitter != "none":  # the draws are spread, not all at the cap
            assert len({round(d, 9) for _, _, d in caller.backoffs}) > 4


def test_a_timed_out_call_is_still_served_and_holds_its_slot():
    slow = [SlowDependency(kind="slow_dependency", at_s=0.0, duration_s=1e6, factor=10.0)]
    env, server, caller = _caller({"timeout_s": 0.5}, slow, servers=1, fixed_s=0.1)
    results = _calls(env, caller, [0.0, 0.1])
    assert [r.reason for r in results] == ["feature_store timeout after 1 attempt"] * 2
    assert caller.counts["timeout"] == 2
    assert server.wasted == 2 and server.calls["ok"] == 2  # served to the end, 1 s each
    assert env.now == 2.0  # the second waited for the first's wasted second: FIFO slot


def test_an_open_breaker_keeps_calls_off_the_server():
    breaker = {"sliding_window_size": 4, "minimum_number_of_calls": 4,
               "wait_duration_in_open_state_s": 100.0}
    env, server, caller = _caller({"breaker": breaker}, _FAILING)
    results = _calls(env, caller, [float(t) for t in range(10)])
    assert server.calls["error"] == 4  # the four that opened it
    assert caller.counts["breaker_open"] == 6 and caller.breaker_opens == 1
    assert [r.reason for r in results[4:]] == ["circuit breaker open"] * 6
    frame = breaker_frame([caller])
    assert frame[["from_state", "to_state"]].values.tolist() == [["CLOSED", "OPEN"]]


def test_a_full_bulkhead_rejects_or_waits():
    env, server, caller = _caller({"bulkhead": {"max_concurrent_calls": 1}})
    results = _calls(env, caller, [0.0, 0.05])
    assert [r.ok for r in results] == [True, False] and results[1].reason == "bulkhead full"
    env, server, caller = _caller({"bulkhead": {"max_concurrent_calls": 1, "max_wait_s": 1.0}})
    results = _calls(env, caller, [0.0, 0.05, 0.06])
    assert all(r.ok for r in results) and server.calls["ok"] == 3
    assert caller.bulkhead is not None and caller.bulkhead.in_use == 0


def test_a_retry_budget_stops_retries():
    res = {"retry": {"max_attempts": 10, "base_wait_s": 0.0,
                     "budget": {"max_tokens": 4.0, "token_ratio": 0.1}}}
    env, server, caller = _caller(res, _FAILING)
    results = _calls(env, caller, [0.0, 5.0])
    # 4 tokens: two failures leave 2 = max / 2, no retry after that
    assert [r.attempts for r in results] == [2, 1]
    assert caller.retries == 1
