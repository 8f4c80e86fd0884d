"""The feature-enricher's feature-store call as a modelled remote dependency (issue 11, items
1 and 2): no call by default; a call adds its latency to the enricher; a slow feature store
with a timeout opens the breaker and it recovers; the breaker lowers the enricher's p99;
fallback rows are degraded and scored; without fallback the batch is dead-lettered or
polled again (nothing lost)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim import build, run
from sim.scenario import Scenario, load_preset
from sim.scenario.resilience import feature_store_spec

_BREAKER = {"sliding_window_size": 10, "minimum_number_of_calls": 5,
            "wait_duration_in_open_state_s": 5.0,
            "permitted_number_of_calls_in_half_open_state": 2,
            "slow_call_duration_threshold_s": 0.2}


def _small(seed: int = 0, **changes) -> Scenario:
    d = load_preset("small").model_dump()
    d["seed"] = seed
    for key, value in changes.items():
        d[key] = value
    return Scenario.model_validate(d)


def _slow_store(seed: int, breaker: bool, fallback: str = "cached_features",
                dead_letter: bool = False, kind: str = "slow_dependency") -> Scenario:
    """small with a 2-server feature store 30x slower (or failing) from 20 s to 40 s, calls
    timed out after 0.3 s and retried up to 3 attempts."""
    sc = _small(seed)
    d = sc.model_dump()
    d["dependencies"] = {"feature_store": {
        "servers": 2, "service": {"distribution": "exponential", "fixed_s": 0.02,
                                  "per_record_s": 0.005}}}
    fault = {"kind": kind, "at_s": 20.0, "duration_s": 20.0}
    fault.update({"factor": 30.0} if kind == "slow_dependency" else {"error_rate": 1.0})
    d["faults"] = [fault]
    res = {"timeout_s": 0.3, "retry": {"max_attempts": 3}, "fallback": fallback,
           "dead_letter": dead_letter}
    if breaker:
        res["breaker"] = _BREAKER
    d["deployments"]["feature_enricher"]["resilience"] = res
    return Scenario.model_validate(d)


def _enricher_p99(r) -> float:
    """p99 of the enricher's time per record from reaching its input (queue wait + service)."""
    sp = r.spans[r.spans["service"] == "feature_enricher"]
    return float(np.percentile(sp["queue_wait_s"] + sp["service_s"], 99))


def test_default_runs_make_no_call():
    sc = load_preset("small")
    assert feature_store_spec(sc) is None
    s = build(sc)
    assert s.callers == [] and s.deployments["feature_enricher"].handler.caller is None
    r = run(sc, progress=False)
    summary = r.summary_dict()
    assert summary["degraded"] == summary["dependency_retries"] == summary["breaker_opens"] == 0
    assert not r.transactions["degraded"].any() and r.breaker.empty
    assert not r.metrics["name"].eq("tinybots_dependency_calls_total").any()


def test_a_call_adds_its_modelled_latency_to_the_enricher():
    call_s = 0.2 + 2 * 0.0005  # deterministic service, network each way
    excess = []
    for seed in (1, 2, 3):
        sc = _small(seed, dependencies={"feature_store": {"service": {
            "distribution": "deterministic", "fixed_s": 0.2, "per_record_s": 0.0}}})
        r = run(sc, progress=False)
        sp = r.spans[r.spans["service"] == "feature_enricher"]
        polls = sp.groupby(["pod", "start_s"], observed=True)["service_s"].agg(["size", "first"])
        enricher = sc.deployments.feature_enricher.service  # its own poll time, mean
        excess += (polls["first"] - enricher.fixed_s - enricher.per_record_s * polls["size"]
                   ).tolist()
        calls = r.metrics[r.metrics["name"] == "tinybots_dependency_calls_total"]
        assert calls[calls["labels"].str.endswith("outcome=ok")]["value"].max() == len(polls)
    mean, half = np.mean(excess), 2.0 * np.std(excess, ddof=1) / np.sqrt(len(excess))
    assert abs(mean - call_s) < max(half, 0.01), (mean, half)  # 8 servers: no queueing


def test_a_slow_store_times_out_opens_the_breaker_and_it_recovers():
    r = run(_slow_store(0, breaker=True), progress=False)
    s = r.summary_dict()
    calls = r.metrics[r.metrics["name"] == "tinybots_dependency_calls_total"]
    last = calls.groupby("labels")["value"].max()
    assert last[last.index.str.endswith("outcome=timeout")].iloc[0] > 0
    assert last[last.index.str.endswith("outcome=breaker_open")].iloc[0] > 0
    assert s["breaker_opens"] >= 1 and s["dependency_retries"] > 0
    moves = list(zip(r.breaker["from_state"], r.breaker["to_state"], strict=True))
    assert moves[0] == ("CLOSED", "OPEN")
    assert ("OPEN", "HALF_OPEN") in moves and moves[-1] == ("HALF_OPEN", "CLOSED")
    assert r.breaker["time_s"].is_monotonic_increasing
    assert r.breaker["time_s"].iloc[0] >= 20.0  # not before the slowdown
    state = r.metrics[r.metrics["name"] == "tinybots_breaker_state"]
    assert set(state["value"]) <= {0.0, 1.0, 2.0} and state["value"].iloc[-1] == 0.0


def test_fallback_rows_are_degraded_and_scored():
    r = run(_slow_store(0, breaker=True), progress=False)
    tx = r.transactions
    deg = tx[tx["degraded"]]
    assert len(deg) == r.summary_dict()["degraded"] > 0
    assert (deg["outcome"] == "completed").all() and np.isfinite(deg["score"]).all()
    assert (deg["enrich_end_s"] >= 20.0).all()  # only during (or just after) the slowdown
    assert r.summary_dict()["completed"] == r.summary_dict()["generated"]


def test_without_fallback_failed_rows_are_dead_lettered_with_their_reason():
    r = run(_slow_store(0, breaker=False, fallback="none", dead_letter=True,
                        kind="failing_dependency"), progress=False)
    s, tx = r.summary_dict(), r.transactions
    dead = tx[tx["outcome"] == "dead_lettered"]
    assert s["dead_lettered"] == len(dead) > 0 and s["degraded"] == 0
    assert set(dead["reason"]) == {"feature_store error after 3 attempts"}
    assert (dead["attempts"] == 3).all()  # the call's attempts (ConsumerStage.dead_letter)
    dl = r.dead_letters  # the enricher's dead-letter topic holds exactly those rows
    assert set(dl["row"]) == set(dead["row"]) and (dl["topic"] == "transactions.dlq").all()
    assert s["completed"] + s["dead_lettered"] == s["generated"]


def test_without_fallback_nor_dead_letter_the_batch_is_polled_again():
    r = run(_slow_store(0, breaker=False, fallback="none", kind="failing_dependency"),
            progress=False)
    s = r.summary_dict()
    assert s["redelivered"] > 0 and s["lost"] == s["dead_lettered"] == 0
    assert s["completed"] == s["generated"] and not s["cut_short"]  # nothing lost


@pytest.mark.slow
def test_the_breaker_lowers_the_enricher_p99_in_a_slow_store():
    """Paired over 5 seeds (common random numbers): p99 with the breaker minus without, its
    Student-t 95 % confidence interval entirely below 0."""
    diff = []
    for seed in range(5):
        on = _enricher_p99(run(_slow_store(seed, breaker=True), progress=False))
        off = _enricher_p99(run(_slow_store(seed, breaker=False), progress=False))
        diff.append(on - off)
    d = np.array(diff)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert d.mean() + half < 0, (d.tolist(), d.mean(), half)
