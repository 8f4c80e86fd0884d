"""A record delivered again while its first delivery is still being served (an SQS visibility
timeout, a RabbitMQ consumer timeout, a Kafka max-poll-interval eviction) is served once: the
copy is a counted duplicate, every hop has one span, and the hops' times follow each other
(found by the break-it trial of issue 9)."""

from __future__ import annotations

import pytest

from sim import load_preset, run, with_changes
from sim.scenario import on_bus

SLOW = [("workload.speedup", 2000.0), ("workload.live_duration_s", 28800.0),
        ("deployments.feature_enricher.replicas", 2),
        ("deployments.feature_enricher.service.fixed_s", 0.5)]
KINDS = {
    "sqs": [("bus.sqs.visibility_timeout_s", 1)],
    "rabbitmq": [("bus.rabbitmq.consumer_timeout_s", 1.0)],
    "kafka": [("bus.kafka.max_poll_interval_s", 1.0)],
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_copy_delivered_while_the_first_is_served_is_served_once(kind: str) -> None:
    sc = on_bus(load_preset("small"), kind)
    for path, value in SLOW + KINDS[kind]:
        sc = with_changes(sc, path, value)
    res = run(sc, progress=False)
    tx, sp = res.transactions, res.spans
    assert res.summary_dict()["duplicates"] > 0  # copies were delivered
    assert not sp["span_id"].duplicated().any()
    assert (sp["queue_wait_s"] >= 0).all()
    both = tx.dropna(subset=["enrich_end_s", "detect_start_s"])
    assert (both["enrich_end_s"] <= both["detect_start_s"]).all()
