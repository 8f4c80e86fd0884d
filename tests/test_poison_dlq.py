"""Poison records, retries of failed processing and the dead-letter topic per consumer
(issue 11: "attempts per record never exceed the maximum; back-off delays follow the formula;
the dead-letter topic holds exactly the poison records, each with its reason")."""

from __future__ import annotations

import numpy as np
import pytest

from sim import run
from sim.faults.schedule import occurrences, poison_rows
from sim.scenario import Scenario, load_preset, on_bus, with_changes
from sim.system import build, streams

SERVICE_S = 0.02  # the deterministic service time of one record (fixed 0.01 + 0.01 per record)


def _poisoned(deployment: str = "feature_enricher", *, rate: float = 0.05, retry=None,
              dead_letter: bool = True, **dep) -> Scenario:
    """small with a poison window over the whole run at ``deployment``; that deployment polls
    one record at a time with a deterministic service time (:data:`SERVICE_S`)."""
    d = load_preset("small").model_dump()
    d["faults"] = [{"kind": "poison", "deployment": deployment, "rate": rate,
                    "reason": "bad_schema"}]
    d["deployments"][deployment].update(
        max_poll_records=1,
        service={"distribution": "deterministic", "fixed_s": 0.01, "per_record_s": 0.01},
        resilience={"retry": retry, "dead_letter": dead_letter}, **dep)
    return Scenario.model_validate(d)


def _expected_poison(sc: Scenario, arrival_s: np.ndarray) -> dict[str, dict[int, str]]:
    """The poison rows drawn as ``sim.system`` is documented to draw them, recomputed here."""
    rngs = streams(sc.seed)
    occ = occurrences(sc.faults, rngs["faults"], min(sc.max_duration_s, float(arrival_s[-1])))
    return poison_rows(arrival_s, occ, rngs["faults"].spawn(1)[0])


def _conserved(s: dict) -> bool:
    return s["generated"] == (s["completed"] + s["in_flight"] + s["shed"]
                              + s["dead_lettered"] + s["lost"])


@pytest.mark.parametrize("deployment", ["feature_enricher", "fraud_detector", "alert_service"])
def test_the_dead_letter_topic_holds_exactly_the_poison_records(deployment):
    sc = _poisoned(deployment, retry={"max_attempts": 3, "jitter": "full"})
    r = run(sc, progress=False)
    s, tx, dl = r.summary_dict(), r.transactions, r.dead_letters
    poison = _expected_poison(sc, tx["arrival_s"].to_numpy())[deployment]
    assert s["cut_short"] is False and len(poison) > 3
    assert set(dl["row"]) == set(poison) and len(dl) == len(poison)  # each once
    assert (dl["topic"] == f"{sc_topic(deployment)}.dlq").all()
    assert (dl["service"] == deployment).all()
    assert all(dl["reason"] == [poison[row] for row in dl["row"]])
    assert (dl["reason"] == "poison: bad_schema").all()
    assert (dl["attempts"] == 3).all()
    # the ledger agrees: dead-lettered at that stage with the reason and the attempts
    bad = tx.set_index("row").loc[sorted(poison)]
    assert (bad["outcome"] == "dead_lettered").all()
    assert (bad["outcome_stage"] == deployment).all()
    assert (bad["reason"] == "poison: bad_schema").all() and (bad["attempts"] == 3).all()
    good = tx[~tx["row"].isin(poison)]
    assert (good["outcome"] == "completed").all() and (good["attempts"] == 1).all()
    assert s["dead_lettered"] == len(poison) and s["lost"] == 0 and _conserved(s)
    assert s["retries"] == 2 * len(poison)
    inc = r.incidents[r.incidents["kind"] == "records_dead_lettered"]
    assert len(inc) == len(poison)  # one per batch of one record
    assert inc["detail"].str.contains(f"{sc_topic(deployment)}.dlq").all()


def sc_topic(deployment: str) -> str:
    from sim.topology import row_of

    return row_of(deployment).topic_in or ""


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
def test_attempts_never_exceed_the_maximum(max_attempts):
    r = run(_poisoned(retry={"max_attempts": max_attempts, "jitter": "full",
                             "base_wait_s": 0.05}), progress=False)
    s, tx, dl = r.summary_dict(), r.transactions, r.dead_letters
    assert len(dl) > 0
    assert tx["attempts"].max() == max_attempts and (dl["attempts"] == max_attempts).all()
    assert s["retries"] == (max_attempts - 1) * len(dl)


def test_without_retry_a_poison_record_gets_one_attempt():
    r = run(_poisoned(retry=None), progress=False)
    assert len(r.dead_letters) > 0 and (r.dead_letters["attempts"] == 1).all()
    assert r.summary_dict()["retries"] == 0


def _time_in_retries(max_attempts: int, jitter: str = "none") -> np.ndarray:
    """Per dead letter, its time from the first attempt's start to the dead letter, less the
    attempts' service times: the back-off waits, summed."""
    retry = {"max_attempts": max_attempts, "base_wait_s": 0.3, "multiplier": 3.0,
             "max_wait_s": 2.0, "jitter": jitter}
    dl = run(_poisoned(retry=retry), progress=False).dead_letters
    assert len(dl) > 3
    return (dl["time_s"] - dl["first_attempt_s"]).to_numpy() - max_attempts * SERVICE_S


def test_back_off_waits_follow_the_formula_without_jitter():
    # the wait after failed attempt k is min(max_wait, base × multiplier^(k-1)): 0.3, 0.9, 2
    # (2.7 capped); the waits of runs with 1..4 attempts differ by one term each
    waits = {m: _time_in_retries(m) for m in (1, 2, 3, 4)}
    for w in waits.values():
        assert np.ptp(w) < 1e-9  # every poison record waited the same
    total = [float(waits[m][0]) for m in (1, 2, 3, 4)]
    assert np.diff(total) == pytest.approx([0.3, 0.9, 2.0], abs=1e-9)
    assert total[0] == pytest.approx(0.0, abs=1e-9)


def test_full_jitter_waits_are_drawn_below_the_back_off():
    w = _time_in_retries(4, "full")
    assert (w >= -1e-9).all() and (w <= 0.3 + 0.9 + 2.0 + 1e-9).all()
    assert np.ptp(w) > 0.1  # drawn, not fixed


def test_a_retry_budget_stops_retries_once_drained():
    # gRFC A6: each failed attempt drains a token, a retry needs tokens > max / 2; a budget of
    # 3 tokens with a tiny refill allows one retry of the first poison record (3 -> 2 > 1.5),
    # then none (1, then 0 tokens; the refills add up to far less than a token)
    budget = {"max_tokens": 3.0, "token_ratio": 0.001}
    r = run(_poisoned(rate=0.3, retry={"max_attempts": 5, "jitter": "none",
                                        "base_wait_s": 0.01, "budget": budget}),
            progress=False)
    dl, s = r.dead_letters, r.summary_dict()
    assert len(dl) > 10
    assert dl["attempts"].iloc[0] == 2 and (dl["attempts"].iloc[1:] == 1).all()
    assert s["retries"] == int((dl["attempts"] - 1).sum()) and _conserved(s)


@pytest.mark.parametrize("bus", ["kafka", "rabbitmq", "sqs"])
def test_without_a_dead_letter_topic_a_poison_record_is_never_lost(bus):
    sc = _poisoned(rate=0.02, retry={"max_attempts": 2, "jitter": "none", "base_wait_s": 0.1},
                   dead_letter=False)
    sc = with_changes(on_bus(sc, bus), "max_duration_s", 120.0)
    if bus == "rabbitmq":  # no delivery limit: the broker never dead-letters it either
        sc = with_changes(sc, "bus.rabbitmq.delivery_limit", None)
    r = run(sc, progress=False)
    s, tx = r.summary_dict(), r.transactions
    poison = _expected_poison(sc, tx["arrival_s"].to_numpy())["feature_enricher"]
    assert poison and len(r.dead_letters) == 0
    assert s["lost"] == 0 and s["dead_lettered"] == 0 and _conserved(s)
    bad = tx.set_index("row").loc[sorted(poison)]
    assert (bad["outcome"] == "in_flight").all()  # polled again and again, never served
    assert bad["enrich_end_s"].isna().all()
    assert s["cut_short"] is True and s["sim_time_s"] == pytest.approx(120.0)
    assert s["redelivered"] > 0
    first = tx.set_index("row").loc[min(poison)]
    assert first["attempts"] > 2  # more deliveries than one, 2 attempts each


def test_at_most_once_without_a_dead_letter_topic_loses_the_poison_record_with_its_reason():
    sc = _poisoned(rate=0.05, retry=None, dead_letter=False, delivery="at_most_once")
    r = run(sc, progress=False)
    s, tx = r.summary_dict(), r.transactions
    poison = _expected_poison(sc, tx["arrival_s"].to_numpy())["feature_enricher"]
    bad = tx.set_index("row").loc[sorted(poison)]
    assert (bad["outcome"] == "lost").all()
    assert bad["reason"].str.startswith("poison: bad_schema").all()
    assert s["lost"] == len(poison) and s["in_flight"] == 0 and _conserved(s)


def test_no_poison_no_retry_machinery():
    s = build(load_preset("small"))
    assert all(d.retries is None for d in s.deployments.values())
    assert all(getattr(d.handler, "delay_s", None) is None for d in s.deployments.values())


def test_a_seek_back_that_costs_no_time_still_lets_the_run_advance():
    # zero service time and no back-off: without the pause after a seek-back (Kafka's
    # retry.backoff.ms, 100 ms) the consumer would poll the poison record for ever at one
    # instant and the run would never reach its cap
    import signal

    sc = _poisoned(rate=0.05, retry=None, dead_letter=False)
    d = sc.model_dump()
    d["deployments"]["feature_enricher"]["service"] = {
        "distribution": "deterministic", "fixed_s": 0.0, "per_record_s": 0.0}
    d["max_duration_s"] = 30.0

    def hung(*_args):
        raise TimeoutError("the run did not advance past a seek-back")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        r = run(Scenario.model_validate(d), progress=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    s = r.summary_dict()
    assert s["sim_time_s"] == pytest.approx(30.0) and s["in_flight"] > 0 and s["lost"] == 0
