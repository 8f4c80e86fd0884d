"""The simulator's fast paths equal the plain NumPy calls they replace (bit for bit).

Each test compares a hot-path shortcut with the straightforward call on random inputs:
block-drawn service-time factors vs scalar ``rng.exponential()`` / ``rng.lognormal``; the
monitoring percentiles vs ``numpy.percentile``; the ledger's fresh-row dedup vs ``np.unique``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.pods import ServiceTime
from sim.record.ledger import Ledger
from sim.record.monitor import percentiles_linear
from sim.scenario import ServiceTimeSpec
from sim.topology import Stage


@pytest.mark.parametrize("kind", ["exponential", "lognormal"])
def test_block_drawn_service_times_equal_scalar_draws(kind):
    spec = ServiceTimeSpec(distribution=kind, fixed_s=0.01, per_record_s=0.134, cv=0.3)
    st_ = ServiceTime(spec, np.random.default_rng(7))
    sizes = [k % 13 for k in range(3 * ServiceTime._BLOCK + 5)]  # crosses block refills
    got = [st_.draw(n) for n in sizes]
    rng = np.random.default_rng(7)
    sigma = float(np.sqrt(np.log1p(0.3**2)))

    def factor() -> float:
        if kind == "exponential":
            return rng.exponential()
        return rng.lognormal(-0.5 * sigma * sigma, sigma)

    want = [(0.01 + 0.134 * n) * factor() for n in sizes]
    assert got == want


@pytest.mark.parametrize("kind", ["exponential", "lognormal", "deterministic"])
def test_draw_many_equals_successive_draws(kind):
    spec = ServiceTimeSpec(distribution=kind, fixed_s=0.01, per_record_s=0.134, cv=0.3)
    a, b = (ServiceTime(spec, np.random.default_rng(3)) for _ in range(2))
    for count, n in [(5, 1), (2000, 3), (0, 1), (1030, 1), (7, 2)]:  # crosses block refills
        assert a.draw_many(count, n) == [b.draw(n) for _ in range(count)]
    assert a.draw(1) == b.draw(1)  # same stream state afterwards


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=1, max_size=200
    )
)
def test_percentiles_linear_equal_numpy(values):
    x = np.asarray(values)
    want = np.percentile(x, [50, 95, 99]).tolist()
    assert percentiles_linear(np.sort(x).tolist(), (50, 95, 99)) == want


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 49), min_size=0, max_size=400), st.integers(0, 49), st.integers(0, 49)
)
def test_fresh_rows_are_sorted_distinct_pending_unserved(rows, served, settled):
    from sim.record.ledger import Outcome

    led = Ledger(np.zeros(50), Stage.ALERT)
    led.served(Stage.ENRICHER, np.array([served]), 0.0, 1.0, "pod")
    led.finish(np.array([settled]), Outcome.LOST, Stage.INGESTOR, "test")
    arr = np.asarray(rows, dtype=np.int64)
    got = led.fresh(Stage.ENRICHER, rows)
    dropped = (arr == served) | (arr == settled)
    assert got == np.unique(arr[~dropped]).tolist()
    assert led.duplicates == len(rows) - len(got)  # served, settled, or repeated in the poll
    assert len(led.fresh(Stage.DETECTOR, [served])) == int(served != settled)  # per stage


def test_lingering_wait_wakes_only_when_min_records_are_available():
    import simpy

    from sim.bus import ConsumerGroup, Member, Topic

    env = simpy.Environment()
    topic = Topic(env, "t", 2)
    group = ConsumerGroup(env, "g", topic)
    member = Member("m")
    group.join(member)
    ev = group.wait_for_records(member, 3)
    topic.append(0, [10])
    topic.append(1, [11])
    assert not ev.triggered  # 2 available < 3: no wake-up
    topic.append(1, [12])
    assert ev.triggered
    plain = group.wait_for_records(member)  # min 1: any append wakes
    topic.append(0, [13])
    assert plain.triggered


def test_callback_ingress_server_waits_for_a_blocked_produce():
    """A server whose ``serve`` returns a generator (producer back-pressure) takes its next
    request only after that generator has finished; FIFO order is kept."""
    import simpy

    from sim.pods import Ingress
    from sim.scenario import IngestorSpec

    env = simpy.Environment()
    starts: list[tuple[int, float]] = []

    def serve(row, start, end, server):
        starts.append((row, start))

        def blocked():
            yield env.timeout(5.0)  # the downstream partition is full for 5 s

        return blocked() if row == 0 else None

    spec = IngestorSpec(
        replicas=1, service=ServiceTimeSpec(distribution="deterministic", per_record_s=1.0)
    )
    ing = Ingress(env, spec, np.random.default_rng(0), serve, lambda r, why: None)
    ing.start()
    for i in range(3):
        ing.submit(i)
    env.run(until=100)
    assert starts == [(0, 0.0), (1, 6.0), (2, 7.0)]  # 1 s service, 5 s blocked, then 1 s each
    assert ing.busy.integral() == pytest.approx(3.0)  # blocked time is not service time
