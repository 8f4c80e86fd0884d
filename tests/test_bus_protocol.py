"""The bus's narrow protocol (sim.bus.client) and each record's delivery attempt (issue 8,
items 4 and 5): pods and services use only the protocol, a fake bus implementing only it drives
a Deployment, and a poll's Fetched says which records are redelivered."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import simpy

from sim.bus import ConsumerGroup, Fetched, Member, Topic
from sim.pods import Deployment
from sim.scenario import DeploymentSpec, ServiceTimeSpec

ROOT = Path(__file__).resolve().parents[1]


def _det(fixed=0.0, per=1.0):
    return ServiceTimeSpec(distribution="deterministic", fixed_s=fixed, per_record_s=per)


def _group(n_records, partitions=1, delivery="at_least_once"):
    env = simpy.Environment()
    topic = Topic(env, "t", partitions)
    for p in range(partitions):
        topic.append(p, [i for i in range(n_records) if i % partitions == p])
    group = ConsumerGroup(env, "g", topic, delivery=delivery)
    member = Member("m")
    group.join(member)
    return env, topic, group, member


# -- item 4: delivery attempts ---------------------------------------------------------------
def test_first_delivery_is_attempt_one():
    _, _, g, m = _group(5)
    f = g.poll(m, 3)
    assert f.attempts == [1, 1, 1] and f.redelivered == 0 and g.redelivered == 0


def test_a_rewind_redelivers_with_attempt_two_then_three():
    _, _, g, m = _group(6)
    first = g.poll(m, 3)
    assert g.rewind(first)  # at-least-once: delivered again
    again = g.poll(m, 5)  # the 3 redelivered, then 2 first deliveries
    assert again.records == [0, 1, 2, 3, 4]
    assert again.attempts == [2, 2, 2, 1, 1]
    assert again.redelivered == 3 and again.attempt(0) == 2 and again.attempt(4) == 1
    assert g.rewind(again)
    third = g.poll(m, 10)
    assert third.attempts == [3, 3, 3, 2, 2, 1]
    assert g.redelivered == 3 + 5


def test_attempts_are_per_group_and_partition():
    env, topic, g, m = _group(8, partitions=2)
    other = ConsumerGroup(env, "other", topic)
    om = Member("o")
    other.join(om)
    f = g.poll(m, 8)
    g.rewind(f)
    assert g.poll(m, 8).attempts == [2] * 8
    assert other.poll(om, 8).attempts == [1] * 8  # another group: first delivery
    assert other.redelivered == 0


def test_at_most_once_never_redelivers():
    _, _, g, m = _group(6, delivery="at_most_once")
    f = g.poll(m, 3)
    assert not g.rewind(f)  # committed at poll: lost, not redelivered
    assert g.poll(m, 10).attempts == [1, 1, 1] and g.redelivered == 0


class _AttemptsHandler:
    def __init__(self):
        self.finished: list[tuple[list[int], list[int]]] = []
        self.dropped: list[list[int]] = []

    def begin(self, records, pod):
        return list(records)

    def finish(self, rows, start_s, pod, fetched):
        self.finished.append((list(fetched.records), fetched.attempts))

    def crashed(self, pod, lost, records):
        pass

    def drop(self, records, reason):
        self.dropped.append(list(records))

    def release(self):
        pass


def _crashed_deployment(delivery):
    env = simpy.Environment()
    topic = Topic(env, "t", 1)
    topic.append(0, list(range(8)))
    group = ConsumerGroup(env, "g", topic, delivery=delivery)
    spec = DeploymentSpec(replicas=1, max_poll_records=4, service=_det(0.0, 1.0),
                          delivery=delivery)
    handler = _AttemptsHandler()
    dep = Deployment(env, "d", spec, group, handler, np.random.default_rng(0))
    dep.start()
    env.run(until=2.0)  # the first batch (4 s of work) is in progress
    dep.crash(0, restart_s=1.0)
    env.run(until=100)
    return handler, group


def test_a_crash_under_at_least_once_redelivers_with_attempt_two():
    handler, group = _crashed_deployment("at_least_once")
    assert handler.finished[0] == ([0, 1, 2, 3], [2, 2, 2, 2])
    assert handler.finished[1] == ([4, 5, 6, 7], [1, 1, 1, 1])
    assert group.redelivered == 4


def test_a_crash_under_at_most_once_never_redelivers():
    handler, group = _crashed_deployment("at_most_once")
    assert handler.dropped == [[0, 1, 2, 3]]
    assert handler.finished == [([4, 5, 6, 7], [1, 1, 1, 1])]
    assert group.redelivered == 0


# -- item 5: the protocol is sufficient ------------------------------------------------------
class FakeBus:
    """A bus implementing only sim.bus.Consumer: one queue, no partitions, no offsets but a
    cursor and a commit mark (as a stand-in for a real broker's client)."""

    topic_name = "fake"

    def __init__(self, env, records):
        self.env = env
        self.records = list(records)
        self.cursor = 0
        self.committed = 0
        self.joined: list[str] = []
        self.calls: list[str] = []

    def join(self, member):
        self.joined.append(member.name)

    def leave(self, member):
        self.joined.remove(member.name)

    crash = leave  # a fake broker that notices a crash at once

    def paused(self, member):
        return 0.0

    def ready(self, member, min_records=1, max_wait_s=0.0):
        self.calls.append("ready")
        while self.cursor >= len(self.records):
            yield self.env.timeout(1.0)

    def poll(self, member, max_records):
        self.calls.append("poll")
        if self.cursor >= len(self.records):
            return None
        lo = self.cursor
        self.cursor = min(len(self.records), lo + max_records)
        return Fetched(self.records[lo : self.cursor], [(0, lo, self.cursor)])

    def commit(self, fetched):
        self.committed = max(self.committed, fetched.ranges[-1][2])
        return True

    def rewind(self, fetched):
        self.cursor = min(self.cursor, self.committed)
        return True


def test_a_fake_bus_with_only_the_protocol_drives_a_deployment():
    env = simpy.Environment()
    bus = FakeBus(env, range(10))
    spec = DeploymentSpec(replicas=2, max_poll_records=3, service=_det(0.0, 0.5),
                          fetch_min_records=2, fetch_max_wait_s=0.1)
    handler = _AttemptsHandler()
    dep = Deployment(env, "d", spec, bus, handler, np.random.default_rng(0))
    dep.start()
    env.run(until=3.0)
    dep.crash(1, restart_s=0.0)
    env.run(until=30.0)
    assert sorted(r for recs, _ in handler.finished for r in recs) == list(range(10))
    assert bus.committed == 10 and len(bus.joined) == 2 and "ready" in bus.calls


_ALLOWED = {"BusClient", "Consumer", "Producer", "Fetched", "Member"}
_FAST_PATH_TWINS = {"ingress_schedule.py": {"ScheduledFeed", "Topic"},
                    "label_feed.py": {"ScheduledFeed", "Topic"}}
"""The precomputed twins build a ScheduledFeed on the simulated Topic: they may name both."""
_INTERNALS = {
    "paused_until", "logs", "ends", "position", "committed", "scheduled", "capacity_records",
    "n_partitions", "partitions", "members", "generation", "cursor", "waiting", "delivery",
    "wait_for_records", "fetch", "append", "append_many", "wait", "wake", "notify_space",
    "topic", "groups", "available", "sync", "lag", "backlog", "end_offset",
}
_BUS_OBJECT = re.compile(r"(\w+_)?(group|bus|topic|member)(_\w+)?")
"""Names of the bus's objects as the pods and services hold them (``self.group``,
``topic_out``, ``member``...)."""


def _modules():
    for folder in ("pods", "services"):
        yield from sorted((ROOT / "sim" / folder).glob("*.py"))


def test_pods_and_services_import_only_the_protocol_from_the_bus():
    bad = []
    for path in _modules():
        allowed = _ALLOWED | _FAST_PATH_TWINS.get(path.name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sim.bus"):
                if node.module != "sim.bus":
                    bad.append(f"{path.name}: from {node.module}")
                bad += [f"{path.name}: {a.name}" for a in node.names if a.name not in allowed]
            elif isinstance(node, ast.Import):
                bad += [f"{path.name}: import {a.name}" for a in node.names
                        if a.name.startswith("sim.bus")]
    assert not bad, bad


def test_pods_and_services_reach_into_no_bus_internals():
    bad = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in _INTERNALS:
                owner = ast.unparse(node.value).split(".")[-1]
                if _BUS_OBJECT.fullmatch(owner):
                    bad.append(f"{path.name}:{node.lineno}: {owner}.{node.attr}")
    assert not bad, bad
