"""Conservation across random scenarios mixing bounds, overflow policies, rebalance protocols,
bus kinds and crashes (issue 9): every transaction that arrived is completed, in flight, shed,
dead-lettered or lost, and under at-least-once nothing is lost except to retention.

Each example runs the ``small`` preset's pipeline (all four stages, the label feed and the
monitoring-service) on a drawn bus, so the real model and features run on every kind.
"""

from __future__ import annotations

import pytest
from conservation_checks import run_accounted
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import load_preset
from sim.scenario import Scenario, on_bus
from sim.scenario.faults import deployments_in_run
from sim.topology import PIPELINE, SERVICES, TOPICS

CONSUMERS = [row.deployment for row in SERVICES if row.topic_in is not None
             and row.deployment in deployments_in_run("alert_service")]  # not the orchestrator
TOPIC_KEYS = ["transactions", "features_ready", "fraud_scores", "labels"]


def _bounded(draw: st.DrawFn) -> dict:
    spec: dict = {}
    if draw(st.booleans()):
        spec["capacity_records"] = draw(st.integers(1, 40))
        spec["overflow"] = draw(st.sampled_from(["block", "shed"]))
    return spec


@st.composite
def bus_scenarios(draw: st.DrawFn) -> tuple[Scenario, bool]:
    """A scenario and whether every consumer is at-least-once."""
    kind = draw(st.sampled_from(["kafka", "sqs", "rabbitmq"]))
    base = on_bus(load_preset("small"), kind).model_dump(mode="json")
    base["seed"] = draw(st.integers(0, 10_000))
    base["workload"]["speedup"] = draw(st.sampled_from([200.0, 800.0, 2000.0]))
    base["max_duration_s"] = draw(st.floats(20.0, 200.0))
    for key in TOPIC_KEYS:
        base["topics"][key].update(_bounded(draw))
    ing = base["deployments"]["transaction_ingestor"]
    ing["queue_limit"] = draw(st.one_of(st.none(), st.integers(0, 30)))
    ing["overflow"] = draw(st.sampled_from(["block", "shed"]))
    all_alo = True
    for name in CONSUMERS:
        d = base["deployments"][name]
        d["replicas"] = draw(st.integers(1, 3))
        d["concurrency"] = draw(st.integers(1, 2))
        d["max_poll_records"] = draw(st.integers(1, 50))
        d["delivery"] = draw(st.sampled_from(["at_least_once", "at_least_once", "at_most_once"]))
        all_alo &= d["delivery"] == "at_least_once"
        if draw(st.booleans()):
            d["producer"] = {
                "buffer_records": draw(st.one_of(st.none(), st.integers(0, 50))),
                "overflow": draw(st.sampled_from(["block", "shed"])),
            }
    if kind == "kafka":
        strategy = draw(st.sampled_from(["range", "round_robin", "sticky", "cooperative_sticky"]))
        protocol = "eager"
        if strategy == "cooperative_sticky":
            protocol = draw(st.sampled_from(["eager", "cooperative"]))
        base["bus"]["kafka"] = {
            "assignment_strategy": strategy,
            "rebalance_protocol": protocol,
            "rebalance_pause_s": draw(st.floats(0.0, 2.0)),
            "session_timeout_s": draw(st.floats(6.0, 60.0)),
            "max_poll_interval_s": draw(st.floats(1.0, 30.0)),
            "auto_offset_reset": draw(st.sampled_from(["latest", "earliest"])),
        }
    elif kind == "sqs":
        base["bus"]["sqs"] = {
            "queue_type": draw(st.sampled_from(["standard", "fifo"])),
            "visibility_timeout_s": draw(st.integers(1, 30)),
            "wait_time_s": draw(st.integers(0, 20)),
            "max_messages": draw(st.integers(1, 10)),
            "max_receive_count": draw(st.one_of(st.none(), st.integers(1, 5))),
        }
    else:
        base["bus"]["rabbitmq"] = {
            "prefetch_count": draw(st.integers(1, 50)),
            "delivery_limit": draw(st.one_of(st.none(), st.integers(1, 5))),
            "consumer_timeout_s": draw(st.floats(1.0, 60.0)),
        }
    faults = []
    for _ in range(draw(st.integers(0, 3))):
        dep = draw(st.sampled_from(CONSUMERS))
        faults.append({
            "deployment": dep,
            "at_s": draw(st.floats(0.0, min(60.0, base["max_duration_s"] * 0.99))),
            "pod": draw(st.integers(0, base["deployments"][dep]["replicas"] - 1)),
            "restart_s": draw(st.floats(0.0, 10.0)),
        })
    base["faults"] = faults
    return Scenario.from_dict(base), all_alo


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(bus_scenarios())
def test_every_transaction_is_accounted_for_on_every_bus(drawn: tuple[Scenario, bool]) -> None:
    res = run_accounted(*drawn)  # run() raises ConservationError on a mismatch
    if res is None:
        return
    tx = res.transactions
    where = {r.deployment for r in PIPELINE} | set(TOPICS)
    assert set(tx.loc[tx.outcome.isin(["lost", "dead_lettered"]), "outcome_stage"]) <= where
