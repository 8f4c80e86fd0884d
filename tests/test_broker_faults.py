"""Broker outage and partition unavailability (issue 11, item 1): no produce to and no fetch
from what is down; producers hold the records (their buffer, to its bound, then block or shed)
or block; everything drains afterwards (at-least-once: nothing lost); a queue bus has no
partition to take down."""

from __future__ import annotations

import pytest
import simpy

from sim import run
from sim.bus import ConsumerGroup, Member, Topic
from sim.bus.availability import Availability
from sim.engine import choose_paths
from sim.record.results import Results
from sim.scenario import Scenario, load_preset, on_bus
from sim.system import build
from tinybots.errors import describe_validation_error

T0, T1 = 10.0, 30.0  # the fault window of every scenario here (s)
OUTAGE = {"kind": "broker_outage", "at_s": T0, "duration_s": T1 - T0, "topics": ["transactions"]}
PART1 = {"kind": "partition_unavailable", "at_s": T0, "duration_s": T1 - T0,
         "topic": "transactions", "partition": 1}
SHED_REASON = "producer buffer full (broker unavailable)"


def _scenario(faults: list[dict], *, kind: str = "kafka", producer: dict | None = None,
              enricher: dict | None = None) -> Scenario:
    """small (168 transactions over 72 s, 3 partitions on Kafka) with ``faults``, the
    ingestor's producer settings and the enricher's fields changed."""
    base = load_preset("small")
    d = (base if kind == "kafka" else on_bus(base, kind)).model_dump()
    d["faults"] = faults
    if producer is not None:
        d["deployments"]["transaction_ingestor"]["producer"] = producer
    if enricher is not None:
        d["deployments"]["feature_enricher"].update(enricher)
    return Scenario.model_validate(d)


def _probed(sc: Scenario, times: list[float]) -> tuple[Results, list[list[int]]]:
    """Run ``sc``, reading the records produced to ``transactions`` so far (per partition on
    Kafka, published on a queue bus) at each of ``times``."""
    s = build(sc)
    seen: list[list[int]] = []

    def probe():
        for t in times:
            yield s.env.timeout(t - s.env.now)
            topic = s.topics["transactions"]
            seen.append([topic.end_offset(p) for p in range(topic.n_partitions)])

    s.env.process(probe())
    return run(s, progress=False), seen


def _served_in_window(r: Results) -> int:
    tx = r.transactions
    return int(((tx["enrich_start_s"] > T0) & (tx["enrich_start_s"] < T1)).sum())


def _drained(r: Results) -> None:
    s = r.summary_dict()
    assert s["lost"] == 0 and s["in_flight"] == 0
    assert s["completed"] + s["shed"] + s["dead_lettered"] == s["generated"] > 0


# -- the bus itself ------------------------------------------------------------------------
def test_a_group_fetches_nothing_from_a_partition_down_and_is_woken_when_it_is_back():
    env = simpy.Environment()
    topic = Topic(env, "t", 2)
    group = ConsumerGroup(env, "g", topic)
    member = Member("m")
    group.join(member)
    topic.availability = down = Availability(env, {"t": topic})
    topic.append_many([1, 2, 3], [0, 1, 1])
    down.begin("t", 1)
    assert group.available(member) == 1 and topic.room(1) == 0
    first = group.poll(member, 10)
    assert first is not None and first.records == [1]
    assert group.poll(member, 10) is None and group.available(member) == 0
    woken = group.wait_for_records(member)
    env.run(until=5.0)
    assert not woken.triggered  # nothing new: partition 1's records are out of reach
    down.end("t", 1)
    assert woken.triggered and group.poll(member, 10).records == [2, 3]
    assert down.unavailable_s == {"t": 5.0}


def test_a_plain_send_to_a_partition_down_appends_the_others_and_waits_for_it():
    env = simpy.Environment()
    topic = Topic(env, "t", 2)  # unbounded: a send is immediate when everything is up
    topic.availability = down = Availability(env, {"t": topic})
    down.begin("t", 0)
    blocking = topic.send([10, 11, 12], [0, 1, 0])
    assert blocking is not None
    done = env.process(blocking)
    env.run(until=3.0)
    assert topic.ends == [0, 1] and not done.triggered
    down.end("t", 0)
    env.run(until=3.1)
    assert topic.ends == [2, 1] and topic.logs[0] == [10, 12] and done.triggered


# -- whole runs ----------------------------------------------------------------------------
def test_a_broker_outage_of_transactions_holds_every_produce_and_fetch_then_drains():
    r, seen = _probed(_scenario([OUTAGE]), [T0 + 0.01, T1 - 0.01, T1 + 10.0])
    assert seen[0] == seen[1] and sum(seen[2]) > sum(seen[1])  # nothing appended in it
    assert _served_in_window(r) == 0  # the enricher serves nothing new
    _drained(r)
    s = r.summary_dict()
    assert s["shed"] == 0 and s["completed"] == s["generated"]  # held, not dropped
    inc = r.incidents[r.incidents["kind"].str.startswith("broker_")]
    assert inc[["time_s", "kind", "target"]].values.tolist() == [
        [T0, "broker_unavailable", "transactions"], [T1, "broker_available", "transactions"]]


def test_without_the_outage_the_same_window_is_served():
    """The contrast the outage test needs: on the same seed the enricher works in the
    window."""
    r = run(_scenario([]), progress=False)
    assert _served_in_window(r) > 10


def test_a_full_producer_buffer_sheds_with_the_reason_and_counts_it():
    r = run(_scenario([OUTAGE], producer={"buffer_records": 5, "overflow": "shed"}),
            progress=False)
    tx, s = r.transactions, r.summary_dict()
    shed = tx[tx["reason"] == SHED_REASON]
    assert s["shed"] == len(shed) > 0 and (shed["outcome"] == "shed").all()
    # every request the ingestor finished in the window went to its buffer: 5 kept, the rest
    # shed (the ingestor is not held back)
    ended = int(((tx["ingest_end_s"] >= T0) & (tx["ingest_end_s"] < T1)).sum())
    assert len(shed) == ended - 5
    assert shed["ingest_end_s"].between(T0, T1).all()
    _drained(r)


def test_an_unbounded_producer_buffer_holds_the_outage_and_loses_nothing():
    r, seen = _probed(_scenario([OUTAGE], producer={"buffer_records": None}),
                      [T0 + 0.01, T1 - 0.01, T1 + 0.01])
    s, tx = r.summary_dict(), r.transactions
    ended = int(((tx["ingest_end_s"] >= T0) & (tx["ingest_end_s"] < T1)).sum())
    assert seen[0] == seen[1] and sum(seen[2]) - sum(seen[1]) >= ended > 10  # flushed at T1
    assert s["shed"] == 0 and s["completed"] == s["generated"]
    _drained(r)


def test_an_unavailable_partition_blocks_only_itself():
    r, seen = _probed(_scenario([PART1], producer={"buffer_records": None}),
                      [T0 + 0.01, T1 - 0.01])
    assert seen[1][1] == seen[0][1]  # nothing appended to partition 1
    assert seen[1][0] > seen[0][0] and seen[1][2] > seen[0][2]  # the others flow
    tx = r.transactions
    inside = tx[(tx["enrich_start_s"] > T0) & (tx["enrich_start_s"] < T1)]
    parts = set((inside["customer_id"] % 3).tolist())
    assert parts and 1 not in parts
    _drained(r)
    inc = r.incidents[r.incidents["kind"].str.startswith("broker_")]
    assert inc["target"].tolist() == ["transactions:1"] * 2


@pytest.mark.parametrize("kind", ["kafka", "sqs", "rabbitmq"])
def test_consumers_fetch_nothing_during_an_outage_though_records_wait(kind: str):
    """A slow enricher (one record a second) has a backlog when the outage starts: it still
    takes nothing."""
    slow = {"max_poll_records": 1, "service": {"distribution": "deterministic", "fixed_s": 1.0,
                                                "per_record_s": 0.0}}
    s = build(_scenario([OUTAGE], kind=kind, enricher=slow))
    lag: list[int] = []

    def probe():
        yield s.env.timeout(T0 + 1.0 - s.env.now)
        lag.append(s.groups["feature_enricher"].lag())

    s.env.process(probe())
    r = run(s, progress=False)
    assert lag[0] > 5
    assert _served_in_window(r) <= 1  # (a batch polled just before T0 may start at T0)
    tx = r.transactions
    assert not ((tx["enrich_start_s"] > T0 + 1.0) & (tx["enrich_start_s"] < T1)).any()
    _drained(r)


@pytest.mark.parametrize("kind", ["sqs", "rabbitmq"])
def test_a_broker_outage_on_a_queue_bus_holds_the_queue_then_drains(kind: str):
    r, seen = _probed(_scenario([OUTAGE], kind=kind), [T0 + 0.01, T1 - 0.01, T1 + 10.0])
    assert seen[0] == seen[1] and seen[2] > seen[1]
    assert _served_in_window(r) == 0
    _drained(r)
    assert r.summary_dict()["completed"] == r.summary_dict()["generated"]


@pytest.mark.parametrize("kind", ["sqs", "rabbitmq"])
def test_partition_unavailable_on_a_queue_bus_is_one_line_naming_the_field(kind: str):
    with pytest.raises(ValueError) as bad:
        _scenario([PART1], kind=kind)
    line = describe_validation_error(bad.value)
    assert "\n" not in line and line.startswith("faults[0].kind: "), line
    assert "kafka" in line and kind in line


def test_a_broker_fault_on_a_producers_topic_takes_its_event_path():
    paths = choose_paths(_scenario([OUTAGE]))
    assert not paths.scheduled_ingress and "broker fault" in paths.reasons["ingress"]
    assert paths.scheduled_labels  # the labels topic is not hit
    assert choose_paths(_scenario([])).scheduled_ingress


def test_random_broker_outages_follow_the_fault_schedule_and_lose_nothing():
    """``rate_per_h``: windows drawn from the faults stream over the arrivals; each is one
    ``broker_unavailable`` incident per topic, and the run still drains."""

    fault = {"kind": "broker_outage", "rate_per_h": 120.0, "duration_s": 3.0}
    s = build(_scenario([fault]))
    occ = s.faults  # drawn once, in build
    assert len(occ) >= 1 and all(o.start_s < s.table.arrival_s[-1] for o in occ)
    r = run(s, progress=False)
    inc = r.incidents
    down = inc[inc["kind"] == "broker_unavailable"]
    assert len(down) == 4 * len(occ)  # every topic of the bus
    assert sorted(set(down["time_s"])) == sorted({o.start_s for o in occ})
    _drained(r)
