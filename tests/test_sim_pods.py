"""Unit tests of deployments, pods and the ingress (sim.pods) with stand-in handlers."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from sim.analysis.stats import mean_ci
from sim.bus import ConsumerGroup, Topic
from sim.pods import Deployment, Ingress, ServiceTime
from sim.scenario import DeploymentSpec, IngestorSpec, ServiceTimeSpec


class RecordingHandler:
    """Stand-in for a bot: logs what it sees."""

    def __init__(self, env):
        self.env = env
        self.begun: list[tuple[float, list[int], str]] = []
        self.finished: list[int] = []
        self.dropped: list[tuple[list[int], str]] = []

    def begin(self, records, pod):
        self.begun.append((self.env.now, list(records), pod))
        return list(records)

    def finish(self, rows, start_s, pod, fetched):
        self.finished.extend(rows)
        return
        yield

    def crashed(self, pod, lost, records):
        pass

    def drop(self, records, reason):
        self.dropped.append((list(records), reason))


def _det(fixed=0.0, per=1.0):
    return ServiceTimeSpec(distribution="deterministic", fixed_s=fixed, per_record_s=per)


def _deployment(env, spec, n_records, partitions=2, delivery="at_least_once", pause=0.0,
                session=45.0):
    topic = Topic(env, "t", partitions)
    for p in range(partitions):
        topic.append(p, [i for i in range(n_records) if i % partitions == p])
    group = ConsumerGroup(env, "g", topic, delivery=delivery, rebalance_pause_s=pause,
                          session_timeout_s=session)
    handler = RecordingHandler(env)
    dep = Deployment(env, "d", spec, group, handler, np.random.default_rng(0))
    return dep, handler, group


@pytest.mark.parametrize("kind", ["exponential", "lognormal"])
def test_service_time_mean_matches_spec_within_ci(kind):
    st = ServiceTime(
        ServiceTimeSpec(distribution=kind, fixed_s=0.5, per_record_s=0.1, cv=0.7),
        np.random.default_rng(3),
    )
    batches = [[st.draw(5) for _ in range(500)] for _ in range(20)]
    ci = mean_ci([float(np.mean(b)) for b in batches], confidence=0.99)
    lo, hi = ci[1], ci[2]
    assert st.mean(5) == pytest.approx(1.0)
    assert lo <= st.mean(5) <= hi


def test_pod_consumes_only_after_startup_and_respects_max_poll():
    env = simpy.Environment()
    spec = DeploymentSpec(replicas=1, startup_s=4.0, max_poll_records=3, service=_det(1.0, 0.5))
    dep, h, group = _deployment(env, spec, 7, partitions=1)
    dep.start()
    env.run(until=100)
    assert h.begun[0][0] == pytest.approx(4.0)
    assert [len(r) for _, r, _ in h.begun] == [3, 3, 1]
    # poll k starts when poll k-1 ends: 1 + 0.5 * 3 = 2.5 s per full poll
    assert [t for t, _, _ in h.begun] == pytest.approx([4.0, 6.5, 9.0])
    assert sorted(h.finished) == list(range(7)) and group.lag() == 0


def test_busy_fraction_is_time_weighted():
    env = simpy.Environment()
    spec = DeploymentSpec(replicas=1, max_poll_records=1, service=_det(0.0, 2.0))
    dep, _, _ = _deployment(env, spec, 3, partitions=1)
    dep.start()
    env.run(until=10)
    assert dep.busy.integral() == pytest.approx(6.0)
    assert dep.ready_consumers.integral() == pytest.approx(10.0)


def test_crash_under_at_least_once_redelivers_the_uncommitted_batch():
    env = simpy.Environment()
    spec = DeploymentSpec(replicas=1, max_poll_records=4, service=_det(0.0, 1.0))
    dep, h, group = _deployment(env, spec, 8, partitions=1, session=10.0)
    dep.start()
    env.run(until=2.0)  # first batch (4 s of work) in progress
    dep.crash(0, restart_s=1.0)
    env.run(until=100)
    assert h.dropped == []
    assert h.begun[1][1] == h.begun[0][1]  # the same batch again after the restart...
    # ...once the group noticed the crash (session timeout), not when the pod is back (3 s)
    assert h.begun[1][0] == pytest.approx(2.0 + 10.0)
    assert sorted(set(h.finished)) == list(range(8)) and group.lag() == 0


def test_crash_under_at_most_once_loses_the_batch_in_hand():
    env = simpy.Environment()
    spec = DeploymentSpec(
        replicas=1, max_poll_records=4, service=_det(0.0, 1.0), delivery="at_most_once"
    )
    dep, h, group = _deployment(env, spec, 8, partitions=1, delivery="at_most_once")
    dep.start()
    env.run(until=2.0)
    dep.crash(0, restart_s=1.0)
    env.run(until=100)
    assert h.dropped and h.dropped[0][0] == [0, 1, 2, 3] and "at-most-once" in h.dropped[0][1]
    assert sorted(h.finished) == [4, 5, 6, 7]


def test_rebalance_pause_delays_consumption():
    env = simpy.Environment()
    spec = DeploymentSpec(replicas=2, max_poll_records=10, service=_det(0.0, 0.1))
    dep, h, _ = _deployment(env, spec, 4, partitions=2, pause=5.0)
    dep.start()
    env.run(until=50)
    assert min(t for t, _, _ in h.begun) == pytest.approx(5.0)
    assert {pod for _, _, pod in h.begun} == {"d-0", "d-1"}


def _ingress(env, spec):
    served, shed = [], []

    def serve(row, start, end, server):
        served.append((row, start, end, server))

    ing = Ingress(env, spec, np.random.default_rng(0), serve, lambda r, why: shed.append((r, why)))
    return ing, served, shed


def test_ingress_is_a_shared_fifo_served_by_c_servers():
    env = simpy.Environment()
    ing, served, _ = _ingress(env, IngestorSpec(replicas=2, service=_det(0.0, 1.0)))
    ing.start()

    def arrivals():
        for i in range(5):
            ing.submit(i)
        yield env.timeout(0)

    env.process(arrivals())
    env.run(until=100)
    starts = {row: start for row, start, _, _ in served}
    assert [starts[i] for i in range(5)] == [0.0, 0.0, 1.0, 1.0, 2.0]  # FIFO over 2 servers
    assert ing.depth.integral() == pytest.approx(3 * 1.0 + 1 * 1.0)  # 3 wait 1 s, then 1 waits 1 s


def test_ingress_sheds_at_the_queue_limit():
    env = simpy.Environment()
    spec = IngestorSpec(replicas=1, queue_limit=2, service=_det(0.0, 1.0))
    ing, served, shed = _ingress(env, spec)
    ing.start()

    def arrivals():
        yield env.timeout(0.5)  # the server is idle and waiting
        for i in range(5):
            ing.submit(i)

    env.process(arrivals())
    env.run(until=100)
    assert [r for r, _ in shed] == [3, 4]  # 0 goes to the idle server, 1 and 2 wait
    assert "queue_limit=2" in shed[0][1]
    assert sorted(r for r, *_ in served) == [0, 1, 2]


def test_fetch_linger_waits_for_min_records_or_max_wait():
    env = simpy.Environment()
    spec = DeploymentSpec(
        replicas=1,
        max_poll_records=10,
        fetch_min_records=3,
        fetch_max_wait_s=1.0,
        service=_det(0.0, 0.01),
    )
    dep, h, group = _deployment(env, spec, 0, partitions=1)
    topic = group.topic

    def producer():
        for t, rec in ((2.0, 0), (2.5, 1), (2.7, 2), (10.0, 3)):
            yield env.timeout(t - env.now)
            topic.append(0, [rec])

    dep.start()
    env.process(producer())
    env.run(until=20)
    assert [(t, r) for t, r, _ in h.begun] == [
        (pytest.approx(2.7), [0, 1, 2]),
        (pytest.approx(11.0), [3]),
    ]
