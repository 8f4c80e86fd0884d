"""Wiring and running the pipeline: ``build(scenario) -> System`` and ``run(...) -> Results``.

``build`` creates the environment, the workload, the topics and consumer groups, the
deployments and their bots (training the model and warming the feature store when the
scenario's last stage needs them) without advancing time, and returns the :class:`System`
whole. ``run`` starts the processes and advances time. What reads and writes which topic comes
from ``sim.topology``; which fast paths apply comes from ``sim.engine`` (see
``docs/architecture.md``).

Horizon: the run ends as soon as every transaction of the workload has arrived and reached a
final outcome (the pipeline has drained), or at ``max_duration_s`` of processing time, whichever
comes first. At the cap, transactions that arrived but have no outcome are ``in_flight`` with the
stage where they are; transactions scheduled after the cap never arrived and are not counted as
generated, but as ``not_arrived``, and the summary's ``cut_short`` is True (``tinybots run``
warns). A run in which nothing can arrive before the cap is an ``InputError``.
(``env.run(until=...)`` does not process events scheduled exactly at the cap; what the
precomputed ingress and label feed have due exactly at the cap is played.)
Conservation is checked at the end of every run (``sim.record.ledger.ConservationError``).

Randomness: ``SeedSequence(scenario.seed).spawn`` gives one Generator per name in
:data:`sim.topology.STREAMS` (arrivals, content, one per deployment's service times, faults),
so changing a deployment never changes the transaction stream.
"""

from __future__ import annotations

import gc
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from sim.budget import check_fits
from sim.bus import ConsumerGroup, Topic
from sim.bus.availability import Availability, attach, broker_faults
from sim.bus.factory import make_consumer, make_topics
from sim.engine import Paths, choose_paths
from sim.faults import run_faults
from sim.faults.processing import wire_processing_faults
from sim.faults.schedule import FaultWindows, Occurrence, occurrences, poison_rows
from sim.pods import Deployment, Handler, Ingress, ScheduledIngress, feed_arrivals
from sim.pods.autoscaler import start_autoscalers
from sim.pods.cluster import Cluster
from sim.record.drops import wire_drops
from sim.record.incidents import IncidentLog
from sim.record.ledger import Ledger
from sim.record.monitor import Monitor
from sim.record.results import Results
from sim.scenario import Scenario
from sim.services import IngestorService, LabelTable, label_publisher
from sim.services.resilient_call import ResilientCaller
from sim.services.wiring import consumer_handlers, feature_store_call
from sim.topology import LABEL_FEED, PIPELINE, STAGES, STREAMS, Stage, row_of
from sim.workload import TxTable, build_workload
from tinybots.errors import InputError

__all__ = ["System", "build", "run", "start", "streams", "validated"]

_STAGE_OF = {v: k for k, v in STAGES.items()}
IngressLike = Ingress | ScheduledIngress


def streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent Generator per name in :data:`sim.topology.STREAMS`
    (``SeedSequence(seed).spawn``, in that order)."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, children, strict=True)}


@dataclass(eq=False)
class System:
    """A wired, not yet started pipeline (see :func:`build`); every part is there from the start.

    Attributes
    ----------
    topics : dict of str to Topic
        By topic name (:data:`sim.topology.TOPICS`).
    groups, deployments : dict of str to ConsumerGroup / Deployment
        By deployment key (:data:`sim.topology.SERVICES`), for the consumer services in the run.
    ingress : Ingress or ScheduledIngress
        The transaction-ingestor (event-driven or precomputed: :attr:`paths`).
    cluster : sim.pods.cluster.Cluster
        The node pools (unlimited when the scenario has none).
    labels : LabelTable or None
        The labels to publish (None when only the ingestor runs).
    models : list of dict
        Rows of the ``models`` frame.
    faults : list of sim.faults.schedule.Occurrence
        The fault occurrences of the run (random faults drawn over ``[0, min(max_duration_s,
        last arrival))``), the ``faults`` frame's rows.
    windows : sim.faults.schedule.FaultWindows
        The run's fault occurrences (drawn once from the ``faults`` stream).
    callers : list of ResilientCaller
        The modelled dependency calls (the enricher's feature-store call; empty: none).
    """

    scenario: Scenario
    env: simpy.Environment
    paths: Paths
    table: TxTable
    ledger: Ledger
    topics: dict[str, Topic]
    groups: dict[str, ConsumerGroup]
    ingress: IngressLike
    deployments: dict[str, Deployment]
    monitor: Monitor
    rngs: dict[str, np.random.Generator]
    incidents: IncidentLog
    cluster: Cluster
    labels: LabelTable | None = None
    models: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Occurrence] = field(default_factory=list)
    windows: FaultWindows = field(default_factory=lambda: FaultWindows([]))
    callers: list[ResilientCaller] = field(default_factory=list)
    build_wall_s: float = 0.0
    started: bool = False
    broker: Availability | None = None  # the broker faults' windows (sim.bus.availability)
    orchestrator: Any = None  # the retraining loop (sim.services.orchestrator; None: none)


def validated(scenario: Scenario) -> Scenario:
    """``scenario`` validated again (``model_copy(update=...)`` skips pydantic's validation).

    Raises
    ------
    InputError
        A field is out of range or the fields are inconsistent: one line naming the fields.
    """
    from pydantic import ValidationError

    from tinybots.errors import describe_validation_error

    try:
        return Scenario.model_validate(scenario.model_dump(warnings=False))
    except ValidationError as exc:
        raise InputError(f"scenario: {describe_validation_error(exc)}") from None


def build(scenario: Scenario, *, progress: bool = False) -> System:
    """Wire topics, deployments and bots for ``scenario`` (no time passes).

    ``scenario`` is validated again first (:func:`validated`). With ``progress``, a status line
    on stderr before each slow step (the bank, the feature store, the model).

    Raises
    ------
    InputError
        An invalid scenario (e.g. a ``model_copy`` with a bad value), a run that would not fit
        in memory (``sim.budget``), a live window without transactions, or a workload whose
        first arrival comes after ``max_duration_s``.
    """
    t0 = time.perf_counter()
    scenario = validated(scenario)
    check_fits(scenario)  # refuse a run that would exhaust memory, before generating
    say = _status if progress else _silent
    env = simpy.Environment()
    rngs = streams(scenario.seed)
    paths = choose_paths(scenario)
    last = _STAGE_OF[scenario.last_stage]
    say(_workload_status(scenario))
    table = build_workload(
        scenario.workload, rngs["arrivals"], rngs["content"], with_history=last > Stage.INGESTOR,
        rng_drift=rngs["drift"],
    )
    _check_first_arrival(scenario, table)
    horizon_s = min(scenario.max_duration_s, float(table.arrival_s[-1]) if len(table) else 0.0)
    occ = occurrences(scenario.faults, rngs["faults"], horizon_s)
    poison = poison_rows(table.arrival_s, occ, rngs["faults"].spawn(1)[0])  # right after occ
    ledger = Ledger(table.arrival_s, last)
    incidents = IncidentLog(env)
    topics = make_topics(env, scenario)
    broker = attach(env, scenario, topics)
    ing = IngestorService(table, ledger, topics[PIPELINE[Stage.INGESTOR].topic_out or ""])
    spec = scenario.deployments.transaction_ingestor
    rng = rngs[PIPELINE[Stage.INGESTOR].deployment]
    cluster = Cluster(env, scenario.cluster, incidents)
    ingress: IngressLike = (
        ScheduledIngress(env, spec, rng, ing) if paths.scheduled_ingress
        else Ingress(env, spec, rng, ing.serve, ing.shed, incidents, cluster)
    )
    handlers: dict[str, Handler] = {}
    models: list[dict[str, Any]] = []
    labels, trained = None, None
    if last > Stage.INGESTOR:
        handlers, labels, trained = consumer_handlers(
            scenario, table, ledger, topics, last, ing.errors, say, rngs["label_delays"]
        )
        if trained is not None:
            models.append(trained.info)
    windows = FaultWindows(occ)
    callers = feature_store_call(env, scenario, rngs, windows, handlers)
    groups, deployments = {}, {}
    for name, handler in handlers.items():
        row = row_of(name)
        group = make_consumer(env, scenario, topics[row.topic_in or ""], row, incidents)
        groups[name] = group
        deployments[name] = Deployment(
            env, name, getattr(scenario.deployments, name), group, handler, rngs[name], incidents,
            cluster,
        )
    wire_processing_faults(env, scenario, ing, deployments, windows, poison, rngs["retries"],
                           incidents)
    from sim.services.retrain_wiring import build_orchestrator

    orchestrator = build_orchestrator(env, scenario, table, ledger, deployments, trained, occ,
                                      rngs, incidents, say)
    wire_drops(topics, groups, deployments, ledger, incidents)
    monitored: dict[str, Any] = {Ingress.name: ingress, **deployments}
    monitor = Monitor(env, ledger, list(groups.values()), monitored, ingress, cluster,
                      callers=callers)
    # Settle the cyclic GC's debt from building (data generation, training, warm-up allocate
    # ~10^5 tracked objects): otherwise a full collection (~0.15 s on the default preset) fires
    # early in the run and is billed to env.run. No effect on results.
    gc.collect()
    return System(
        scenario, env, paths, table, ledger, topics, groups, ingress, deployments, monitor,
        rngs, incidents, cluster, labels, models, occ, windows, callers,
        build_wall_s=time.perf_counter() - t0, broker=broker, orchestrator=orchestrator,
    )


def _status(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _silent(line: str) -> None:
    pass


def _workload_status(sc: Scenario) -> str:
    """The status line of building the workload (``build(..., progress=True)``)."""
    from sim.workload import bank_days_needed

    w = sc.workload
    if w.kind == "poisson" and w.content == "synthetic":
        return "drawing the synthetic workload..."
    if w.transactions_path is not None:
        return f"reading the transactions {w.transactions_path}..."
    b = w.bank
    return (
        f"loading the bank ({b.n_customers:,} customers, {b.n_terminals:,} terminals, "
        f"{bank_days_needed(w)} days; generated and cached on a first run)..."
    )


def _check_first_arrival(sc: Scenario, table: TxTable, *, strict: bool = False) -> None:
    """Refuse a run in which no transaction arrives before ``max_duration_s`` (``strict``:
    nothing arrived, the first arrival was due at the cap itself)."""
    if not len(table):  # a Poisson workload whose rate draws no arrival at all
        w = sc.workload
        raise InputError(
            f"workload.rate_per_s: no transaction arrives in the run ({w.rate_per_s:g} per s "
            f"over {w.live_duration_s / w.speedup:g} s of processing time); raise "
            "workload.rate_per_s or workload.live_duration_s"
        )
    first = table.arrival_s[0]
    if first > sc.max_duration_s or (strict and first >= sc.max_duration_s):
        raise InputError(
            f"max_duration_s: no transaction arrives before the cap ({sc.max_duration_s:g} s): "
            f"the first arrival is at {first:.6g} s of processing time; raise "
            f"max_duration_s or workload.speedup (now {sc.workload.speedup:g})"
        )


def start(s: System) -> simpy.Event:
    """Start every process of ``s``; returns the event that fires when the pipeline has drained.

    Raises
    ------
    RuntimeError
        ``s`` was started before (build a new System to run again).
    """
    if s.started:
        raise RuntimeError("System already started: build a new one to run again")
    s.started = True
    env, sc = s.env, s.scenario
    done = env.event()
    s.ingress.start()
    for dep in s.deployments.values():
        dep.start()
    if s.labels is not None:
        args = (s.topics[LABEL_FEED.topic_in or ""], s.table.live_start_s, sc.workload.speedup,
                sc.labels.publish_interval_s)
        if s.paths.scheduled_labels:
            s.labels.feed(*args)  # nothing can hold it back: a precomputed feed
        else:  # the publisher process, which a bounded labels topic can hold back
            env.process(label_publisher(env, s.labels, *args))
    if isinstance(s.ingress, Ingress):
        feed_arrivals(env, s.table.arrival_s, s.ledger, s.ingress)
    if s.ledger.settled():  # empty workload
        done.succeed()
    else:
        s.ledger.on_settled = done.succeed
    env.process(s.monitor.run(sc.monitoring_interval_s))
    if s.faults:
        pods = {Ingress.name: s.ingress} if isinstance(s.ingress, Ingress) else {}
        env.process(run_faults(env, s.faults, {**pods, **s.deployments}, s.incidents))
    if s.broker is not None:
        env.process(broker_faults(env, s.faults, s.broker, s.incidents))
    s.cluster.start()
    if s.orchestrator is not None:
        s.orchestrator.start()
    start_autoscalers(env, {Ingress.name: s.ingress, **s.deployments}, s.incidents,
                      {k: g.lag for k, g in s.groups.items()}, sc)
    return done


def _release_transient_state(s: System) -> None:
    """Drop what only the running system needs (topic logs, the feature matrix) before the
    frames are built (after the last monitoring sample), to keep the peak memory of large
    runs down. The system cannot be advanced any further afterwards."""
    for topic in s.topics.values():
        topic.release()
    for dep in s.deployments.values():
        dep.handler.release()


def run(scenario: Scenario | System, *, progress: bool = True) -> Results:
    """Run a scenario (or a built System) to its horizon and return its Results.

    With ``progress``, status lines of the build steps and a progress bar of simulated time
    on stderr; without, nothing is printed. A run that the cap ``max_duration_s`` cut short
    has ``cut_short`` True and counts the transactions that never arrived in ``not_arrived``
    (summary keys, :data:`sim.record.results.SUMMARY_KEYS`).

    Raises
    ------
    InputError
        An invalid scenario (see :func:`build`), or no transaction arrived before
        ``max_duration_s``.
    sim.record.ledger.ConservationError
        The outcome counts do not add up (a bug, never expected).
    """
    t0 = time.perf_counter()
    s = build(scenario, progress=progress) if isinstance(scenario, Scenario) else scenario
    done = start(s)
    cap = s.env.timeout(s.scenario.max_duration_s)
    stop = s.env.any_of([done, cap])
    from sim.record.progress import run_with_progress

    run_with_progress(
        s.env, stop, total_s=float(s.table.arrival_s[-1]) if len(s.table) else 0.0, enabled=progress
    )
    if isinstance(s.ingress, ScheduledIngress):
        s.ingress.finalize()
    if s.ledger.arrived == 0 and s.ledger.n > 0:
        _check_first_arrival(s.scenario, s.table, strict=True)
    s.monitor.sample()
    _release_transient_state(s)
    from sim.record.frames import assemble

    wall = time.perf_counter() - t0 + (s.build_wall_s if isinstance(scenario, System) else 0.0)
    return assemble(s, wall)
