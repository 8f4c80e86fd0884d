"""Conservation across random clusters (issue 10): autoscalers (HPA on CPU, KEDA on lag, the
ingestor's HPA), pod start-up, termination grace periods, node pools with or without a Cluster
Autoscaler, and step / spike bursts, under at-least-once delivery.

Every transaction that arrived is completed, in flight, shed, dead-lettered or lost; nothing is
lost (a pod removed by a scale-down gives its uncommitted batch back to the group, which
delivers it again), and every completed transaction was served exactly once by each stage (a
record delivered again after being served is a counted duplicate, never a second span).

Most examples run a synthetic Poisson workload through the ingestor and the feature-enricher
(no model: fast); about one in five runs the ``small`` preset's bank through the whole pipeline.
Each run is guarded against runaways: a cap on the SimPy events it may process and on its wall
time, so an event storm fails that example at once instead of hanging the suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import build, load_preset, run
from sim.record.ledger import Outcome
from sim.record.results import Results
from sim.scenario import Scenario
from sim.system import System
from sim.topology import PIPELINE, STAGES, row_of
from tinybots.errors import InputError

MAX_EVENTS = 200_000
"""SimPy events one example may process (the largest seen is about a tenth of it)."""
MAX_WALL_S = 20.0
"""Wall time one example may take (they average well under a second)."""

SYNTHETIC_CONSUMERS = ["feature_enricher", "label_feed"]
PIPELINE_CONSUMERS = ["feature_enricher", "fraud_detector", "alert_service", "label_feed",
                      "monitoring_service"]
SLOW_POLL_S = [0.01, 1.0, 4.0]
"""Fixed cost of a poll (s): long ones make a scale-down find batches in hand."""


class Runaway(AssertionError):
    """A run processed more events or took more wall time than any sane example."""


def run_guarded(
    sc: Scenario, before: Callable[[System], None] | None = None
) -> tuple[Results, int]:
    """``run(sc)`` with the event and wall-time caps; returns the Results and the event count.

    The cap counts every ``env.step`` (the one place SimPy processes an event), so an event
    storm at one instant of simulated time is caught as surely as a long simulated run.
    ``before(system)`` is called between build and run (e.g. to add a driver process).
    """
    s = build(sc)
    if before is not None:
        before(s)
    env = s.env
    count = [0]
    t0 = time.perf_counter()
    step = simpy.Environment.step.__get__(env)

    def counted_step() -> None:
        count[0] += 1
        if count[0] % 10_000 == 0 and time.perf_counter() - t0 > MAX_WALL_S:
            raise Runaway(f"wall time above {MAX_WALL_S:g} s at t={env.now:.3f} "
                          f"after {count[0]} events")
        if count[0] > MAX_EVENTS:
            raise Runaway(f"more than {MAX_EVENTS} SimPy events (t={env.now:.3f})")
        step()

    env.step = counted_step  # type: ignore[method-assign]
    checked = check_committed_means_served_at_release(s)
    res = run(s, progress=False)
    assert checked, "the topics were never released: the committed offsets went unchecked"
    return res, count[0]


def committed_unserved(s: System) -> list[tuple[str, int, int]]:
    """``(deployment, partition, row)`` of every row below its stage's committed offset that
    the stage never served and that has no outcome: a record the group will never deliver
    again (at-least-once commits a record only after it was served)."""
    led = s.ledger
    led.close()  # the per-stage end times of the stages before the last
    out = []
    for name, group in s.groups.items():
        stage = row_of(name).stage
        if stage is None or getattr(group, "committed", None) is None:
            continue  # a side consumer
        topic = group.topic
        topic.sync()
        for p, log in enumerate(topic.logs):
            for r in log[: group.committed[p]]:
                if led.outcome[r] == Outcome.PENDING and np.isnan(led.end[stage, r]):
                    out.append((name, p, r))
    return out


def check_committed_means_served_at_release(s: System) -> list[bool]:
    """Check :func:`committed_unserved` is empty when ``run`` releases the topics (their logs
    are gone afterwards); the returned list gets a True once checked."""
    done: list[bool] = []
    first = next(iter(s.topics.values()))
    release = first.release

    def check_then_release() -> None:
        stranded = committed_unserved(s)
        assert not stranded, f"committed, never served: {stranded[:8]} ({len(stranded)})"
        done.append(True)
        release()

    first.release = check_then_release  # type: ignore[method-assign]
    return done


def _autoscaling(draw: st.DrawFn, *, lag: bool) -> dict:
    """An HPA (CPU) or, where ``lag``, sometimes a KEDA (lag) autoscaler with short periods."""
    kind = draw(st.sampled_from(["hpa", "keda"])) if lag else "hpa"
    low = draw(st.integers(0 if kind == "keda" else 1, 2))
    high = draw(st.integers(max(low, 1), 4))
    spec: dict = {
        "kind": kind,
        "min_replicas": low,
        "max_replicas": high,
        "sync_period_s": draw(st.floats(2.0, 10.0)),
        "behavior": {
            "scale_up_stabilization_s": draw(st.sampled_from([0.0, 0.0, 5.0])),
            "scale_down_stabilization_s": draw(st.sampled_from([0.0, 5.0, 20.0])),
            "scale_up_period_s": draw(st.floats(2.0, 15.0)),
            "scale_down_period_s": draw(st.floats(2.0, 15.0)),
        },
    }
    if kind == "hpa":
        spec["hpa"] = {
            "target_utilization": draw(st.floats(0.3, 0.9)),
            "cpu_initialization_s": draw(st.sampled_from([0.0, 10.0, 300.0])),
            "initial_readiness_delay_s": draw(st.sampled_from([0.0, 5.0, 30.0])),
        }
    else:
        spec["keda"] = {
            "lag_threshold": draw(st.integers(1, 20)),
            "activation_lag_threshold": draw(st.integers(0, 3)),
            "allow_idle_consumers": draw(st.booleans()),
            "polling_interval_s": draw(st.floats(1.0, 10.0)),
        }
        if low == 0:  # the cooldown is the wait before scaling to zero
            spec["keda"]["cooldown_s"] = draw(st.sampled_from([0.0, 5.0, 30.0]))
    return spec


def _pool(draw: st.DrawFn) -> dict | None:
    """None (an unlimited cluster) or one CPU pool of 1-3 nodes, with or without a CA."""
    if draw(st.booleans()):
        return None
    nodes = draw(st.integers(1, 3))
    pool: dict = {"nodes": nodes, "cpu": float(draw(st.integers(1, 4)))}
    if draw(st.booleans()):
        pool["autoscaler"] = {
            "min_nodes": draw(st.integers(0, nodes)),
            "max_nodes": draw(st.integers(nodes, 5)),
            "node_startup_s": draw(st.floats(0.0, 30.0)),
            "scan_interval_s": draw(st.floats(2.0, 10.0)),
            "scale_down_unneeded_s": draw(st.sampled_from([0.0, 10.0, 60.0])),
        }
    return pool


def _bursts(draw: st.DrawFn, window_s: float) -> list[dict]:
    return [
        {
            "kind": draw(st.sampled_from(["step", "spike"])),
            "start_s": draw(st.floats(0.0, 0.8 * window_s)),
            "duration_s": draw(st.floats(2.0, 60.0)),
            "multiplier": draw(st.floats(0.5, 6.0)),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]


def _synthetic(draw: st.DrawFn) -> dict:
    """The ingestor and the feature-enricher on a synthetic Poisson workload (no model)."""
    live_s = draw(st.floats(20.0, 60.0))
    rate = draw(st.floats(0.2, 8.0))
    return {
        "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": rate,
                     "live_duration_s": live_s, "speedup": 1.0,
                     "bursts": _bursts(draw, live_s)},
        "last_stage": "feature_enricher",
        "topics": {"transactions": {"partitions": draw(st.integers(2, 6))}},
        "deployments": {
            "transaction_ingestor": {"replicas": 1,
                                     "service": {"per_record_s": draw(st.floats(0.005, 0.1))}},
            "feature_enricher": {"service": {"fixed_s": draw(st.sampled_from(SLOW_POLL_S)),
                                             "per_record_s": draw(st.floats(0.02, 0.3))}},
        },
        "monitoring_interval_s": 2.0,
        "max_duration_s": draw(st.floats(120.0, 300.0)),
    }


def _pipeline(draw: st.DrawFn) -> dict:
    """The ``small`` preset's bank through the whole pipeline, replayed fast."""
    base = load_preset("small").model_dump(mode="json")
    speedup = draw(st.sampled_from([800.0, 1500.0, 2500.0]))
    base["workload"]["speedup"] = speedup
    base["workload"]["bursts"] = _bursts(draw, base["workload"]["live_duration_s"] / speedup)
    base["max_duration_s"] = draw(st.floats(60.0, 200.0))
    return base


Script = list[tuple[float, str, int]]
"""Manual scalings ``(at_s, deployment, replicas)``, as ``kubectl scale`` would do (on an
autoscaled deployment its autoscaler takes over again at its next sync)."""


def _script(draw: st.DrawFn, consumers: list[str], window_s: float) -> Script:
    """0-4 manual scalings within the arrivals' window, each deployment's last one to >= 1
    replica (so the run can drain)."""
    script = sorted(
        (draw(st.floats(0.5, window_s)), draw(st.sampled_from(consumers)), draw(st.integers(0, 3)))
        for _ in range(draw(st.sampled_from([0, 2, 4, 6])))
    )
    last = {name: i for i, (_, name, _) in enumerate(script)}
    return [(t, name, max(n, 1) if last[name] == i else n)
            for i, (t, name, n) in enumerate(script)]


def scripted(script: Script) -> Callable[[System], None]:
    """A ``before`` hook for :func:`run_guarded` that plays ``script`` in a SimPy process."""

    def add(s: System) -> None:
        def driver():
            for at_s, name, n in script:
                yield s.env.timeout(max(0.0, at_s - s.env.now))
                s.deployments[name].scale_to(n)

        s.env.process(driver())

    return add


@st.composite
def cluster_scenarios(draw: st.DrawFn) -> tuple[Scenario, Script]:
    """A scenario mixing autoscalers, start-up, grace periods, node pools and bursts, and a
    script of manual scalings."""
    full = draw(st.integers(0, 4)) == 0
    base = _pipeline(draw) if full else _synthetic(draw)
    base["seed"] = draw(st.integers(0, 10_000))
    deps = base["deployments"]
    consumers = PIPELINE_CONSUMERS if full else SYNTHETIC_CONSUMERS
    scaled = draw(st.lists(st.sampled_from(consumers), min_size=1, max_size=3, unique=True))
    pool = _pool(draw)
    for name in consumers:
        d = deps.setdefault(name, {})
        d["delivery"] = "at_least_once"
        d["startup_s"] = draw(st.floats(0.0, 20.0))
        d["concurrency"] = draw(st.integers(1, 2))
        d["termination_grace_period_s"] = draw(
            st.one_of(st.sampled_from([0.0, 0.5]), st.floats(0.0, 30.0)))
        if name == "feature_enricher" or name in scaled:
            d["max_poll_records"] = draw(st.integers(1, 20))
        if name in scaled:
            if full:  # batches that outlast a scale-down (and sometimes its grace period)
                d["service"] = {**d.get("service", {}),
                                "fixed_s": draw(st.sampled_from(SLOW_POLL_S))}
            a = _autoscaling(draw, lag=True)
            d["autoscaling"] = a
            d["replicas"] = draw(st.integers(max(a["min_replicas"], 1), a["max_replicas"]))
    ing = deps.setdefault("transaction_ingestor", {})
    if draw(st.integers(0, 3)) == 0:
        a = _autoscaling(draw, lag=False)
        ing["autoscaling"] = a
        ing["replicas"] = draw(st.integers(a["min_replicas"], a["max_replicas"]))
    if pool is not None:
        base["cluster"] = {"node_pools": {"cpu": pool}}
        for name in [*consumers, "transaction_ingestor"]:
            deps[name]["resources"] = {
                "cpu": min(pool["cpu"], draw(st.sampled_from([0.25, 0.25, 0.5, 1.0, 2.0])))
            }
    protocol = draw(st.sampled_from(["eager", "cooperative"]))
    strategy = "cooperative_sticky" if protocol == "cooperative" else draw(
        st.sampled_from(["range", "round_robin", "sticky", "cooperative_sticky"]))
    base["bus"] = {"kind": "kafka", "kafka": {
        "assignment_strategy": strategy,
        "rebalance_protocol": protocol,
        "rebalance_pause_s": draw(st.floats(0.0, 3.0)),
        "session_timeout_s": draw(st.floats(6.0, 45.0)),
    }}
    base["engine"] = {"fast_paths": draw(st.sampled_from(["auto", "auto", "off"]))}
    w = base["workload"]
    window_s = w["live_duration_s"] / w["speedup"]
    stages = [r.deployment for r in PIPELINE if r.deployment in consumers]
    return Scenario.from_dict(base), _script(draw, stages, window_s)


def check_accounting(res: Results) -> None:
    """Conservation, nothing lost, and each completed transaction served once per stage."""
    s = res.summary_dict()
    outcomes = ("completed", "in_flight", "shed", "dead_lettered", "lost")
    assert s["generated"] == sum(s[k] for k in outcomes), s
    tx = res.transactions
    assert len(tx) == s["generated"]
    lost = tx.loc[tx.outcome == "lost", "reason"].unique()
    assert s["lost"] == 0, f"lost under at-least-once: {list(lost)}"
    assert s["labels_lost"] == 0
    assert s["duplicates"] >= 0
    if not s["cut_short"]:
        assert s["in_flight"] == 0
    sp = res.spans
    last = res.scenario.last_stage
    stages = [r.deployment for r in PIPELINE][: list(STAGES.values()).index(last) + 1]
    per_stage = sp[sp.service.isin(stages)].groupby(["service", "trace_id"], observed=True).size()
    assert (per_stage == 1).all(), per_stage[per_stage > 1].head()
    done = tx.loc[tx.outcome == "completed", "row"].to_numpy()
    final = np.sort(sp.loc[sp.service == last, "trace_id"].to_numpy())
    assert np.array_equal(final, np.sort(done))  # completed once each, and only they


def check_replicas_bounds(res: Results) -> None:
    """Every applied scaling decision lies in its deployment's min..max replicas."""
    inc = res.incidents[res.incidents.kind == "scaling_decision"]
    for target, detail in zip(inc.target, inc.detail, strict=True):
        a = getattr(res.scenario.deployments, target).autoscaling
        applied = int(dict(p.split("=", 1) for p in detail.split() if "=" in p)["applied"])
        assert a.min_replicas <= applied <= a.max_replicas, (target, detail)


@pytest.mark.slow
@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(cluster_scenarios())
def test_scaling_never_loses_a_transaction_under_at_least_once(
    drawn: tuple[Scenario, Script],
) -> None:
    sc, script = drawn
    try:
        res, _ = run_guarded(sc, scripted(script))  # run() raises ConservationError
    except InputError as exc:  # nothing arrives before the cap
        assert str(exc).startswith(("max_duration_s:", "workload.rate_per_s:")), exc
        return
    check_accounting(res)
    check_replicas_bounds(res)


def test_the_guard_stops_an_event_storm() -> None:
    """A process that yields zero-delay timeouts for ever trips the event cap at once."""
    sc = Scenario.from_dict({
        "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": 1.0,
                     "live_duration_s": 5.0},
        "last_stage": "transaction_ingestor",
        "max_duration_s": 10.0,
    })

    def storm(s: System) -> None:  # as a bug would: a process that never lets time pass
        def forever():
            while True:
                yield s.env.timeout(0)

        s.env.process(forever())

    with pytest.raises(Runaway, match="SimPy events"):
        run_guarded(sc, before=storm)
