"""Bad bus input is a one-line error naming the field (issue 9): through ``tinybots run`` (exit
2, nothing written) and through ``Scenario.from_dict``."""

from __future__ import annotations

import pytest
from cli_errors import cli_error_line

from sim.scenario import Scenario, load_preset, on_bus, with_changes
from tinybots.errors import InputError

BAD = [
    # an SQS-only block on a Kafka bus
    ({"bus": {"kind": "kafka", "sqs": {"visibility_timeout_s": 10}}}, "bus.sqs"),
    # an SQS-only field inside the Kafka block
    ({"bus": {"kafka": {"visibility_timeout_s": 10}}}, "bus.kafka.visibility_timeout_s"),
    # a bound of 0
    ({"topics": {"transactions": {"capacity_records": 0}}}, "topics.transactions.capacity_records"),
    # a retention no longer than a poll of its consumer
    ({"topics": {"features_ready": {"retention_s": 0.5}},
      "deployments": {"fraud_detector": {"fetch_max_wait_s": 2.0}}},
     "topics.features_ready.retention_s"),
    # ... or than serving one record
    ({"topics": {"transactions": {"retention_s": 0.5}},
      "deployments": {"feature_enricher": {"service": {"fixed_s": 1.0}}}},
     "topics.transactions.retention_s"),
    # a deterministic poll that always outlasts max.poll.interval.ms (an eviction livelock)
    ({"bus": {"kafka": {"max_poll_interval_s": 1}}, "deployments": {"feature_enricher": {
        "service": {"distribution": "deterministic", "fixed_s": 3.0}}}},
     "bus.kafka.max_poll_interval_s"),
    # SQS keeps messages at least 60 s
    ({"bus": {"kind": "sqs"}, "topics": {"labels": {"retention_s": 30}}},
     "topics.labels.retention_s"),
    # an unknown assignment strategy
    ({"bus": {"kafka": {"assignment_strategy": "sticky_range"}}},
     "bus.kafka.assignment_strategy"),
    # cooperative rebalancing needs the cooperative-sticky assignor
    ({"bus": {"kafka": {"rebalance_protocol": "cooperative"}}}, "rebalance_protocol"),
    # partitions on a queue
    ({"bus": {"kind": "rabbitmq"}, "topics": {"transactions": {"partitions": 4}}},
     "topics.transactions.partitions"),
    # fractional SQS seconds, a visibility timeout of 0, more than 10 messages per receive
    ({"bus": {"kind": "sqs", "sqs": {"wait_time_s": 2.5}}}, "bus.sqs.wait_time_s"),
    ({"bus": {"kind": "sqs", "sqs": {"visibility_timeout_s": 0}}}, "bus.sqs.visibility_timeout_s"),
    ({"bus": {"kind": "sqs", "sqs": {"max_messages": 11}}}, "bus.sqs.max_messages"),
    ({"bus": {"kind": "rabbitmq", "rabbitmq": {"prefetch_count": 0}}},
     "bus.rabbitmq.prefetch_count"),
    ({"bus": {"kind": "kafka", "kafka": {"session_timeout_s": 1}}}, "bus.kafka.session_timeout_s"),
    ({"bus": {"kind": "nats"}}, "bus.kind"),
    ({"topics": {"fraud_scores": {"overflow": "drop"}}}, "topics.fraud_scores.overflow"),
    ({"deployments": {"feature_enricher": {"producer": {"buffer_records": -1}}}},
     "deployments.feature_enricher.producer.buffer_records"),
    ({"deployments": {"transaction_ingestor": {"overflow": "wait"}}},
     "deployments.transaction_ingestor.overflow"),
]


@pytest.mark.parametrize(("data", "field"), BAD, ids=[f for _, f in BAD])
def test_bad_bus_input_is_one_line_naming_the_field(data, field, tmp_path, capsys, monkeypatch):
    line = cli_error_line(data, tmp_path, capsys, monkeypatch)
    assert field in line, line
    with pytest.raises(ValueError, match=field.split(".")[-1]):
        Scenario.from_dict(data)


def test_moving_a_preset_to_another_bus_points_to_on_bus():
    with pytest.raises(ValueError, match="on_bus"):
        with_changes(load_preset("default"), "bus.kind", "sqs")
    sc = on_bus(load_preset("default"), "sqs")
    assert sc.bus.kind == "sqs" and sc.topics.transactions.partitions == 1
    back = on_bus(sc, "kafka")
    assert back.topics.transactions.partitions == 6 and back.bus.settings.assignment_strategy
    with pytest.raises(InputError, match="bus.kind"):
        on_bus(sc, "kinesis")
    with pytest.raises(InputError, match="on_bus"):  # the SQS block of a Kafka scenario
        with_changes(load_preset("small"), "bus.sqs.queue_type", "fifo")
