"""The naive reference for the pipeline benchmark: four SimPy stages, one ``Store`` each.

Deliberately the cheap-but-naive shape a first SimPy model of the fraud pipeline would take:
ingestor → enricher → detector → alert, a ``simpy.Store`` in front of every stage, one process
per pod doing ``get`` → ``timeout(service)`` → ``put`` for every single record, and nothing else —
no features, no model, no bus semantics, no telemetry beyond a completion count. Pod counts and
mean service times per record are taken from a scenario (``fixed_s + per_record_s``, i.e. the
mean of a poll of one record) so that both systems do the same queueing work on the same
arrival times. Service times are exponential and drawn before the run (outside the timed part),
which favours the reference.

Run alone: ``python benchmarks/naive_pipeline.py --n 200000`` (Poisson arrivals).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

__all__ = ["NaiveStage", "NaiveResult", "DEFAULT_STAGES", "stages_from_scenario", "run_naive"]

ProcessGenerator = Generator[simpy.Event, Any, None]


@dataclass(frozen=True)
class NaiveStage:
    """One stage of the naive pipeline: ``pods`` servers, exponential service of the given mean."""

    name: str
    pods: int
    mean_service_s: float


@dataclass(frozen=True)
class NaiveResult:
    """Outcome of one naive run.

    Attributes
    ----------
    n_arrivals : int
        Records fed in.
    n_completed : int
        Records that left the last stage (equals ``n_arrivals``: the run goes to completion).
    sim_end_s : float
        Simulated time of the last completion, seconds.
    mean_latency_s : float
        Mean arrival-to-completion time, seconds.
    wall_run_s : float
        Wall-clock seconds spent inside ``env.run`` only.
    """

    n_arrivals: int
    n_completed: int
    sim_end_s: float
    mean_latency_s: float
    wall_run_s: float

    @property
    def tx_per_wall_s(self) -> float:
        """Simulated transactions per wall-clock second of ``env.run``."""
        return self.n_arrivals / self.wall_run_s


DEFAULT_STAGES: tuple[NaiveStage, ...] = (
    NaiveStage("transaction_ingestor", 2, 0.01),
    NaiveStage("feature_enricher", 1, 0.001),
    NaiveStage("fraud_detector", 1, 0.001),
    NaiveStage("alert_service", 1, 0.001),
)
"""Fallback shape (the scenario model's field defaults) when no scenario is given."""


def stages_from_scenario(scenario: Any) -> tuple[NaiveStage, ...]:
    """Pod counts and mean per-record service times of a ``sim.scenario.Scenario``.

    Servers per stage = ``replicas × concurrency``; mean service per record =
    ``service.fixed_s + service.per_record_s`` (a poll of one record).
    """
    deps = scenario.deployments
    names = ("transaction_ingestor", "feature_enricher", "fraud_detector", "alert_service")
    out = []
    for name in names:
        spec = getattr(deps, name)
        mean_s = spec.service.fixed_s + spec.service.per_record_s
        out.append(NaiveStage(name, spec.replicas * spec.concurrency, mean_s))
    return tuple(out)


def _source(
    env: simpy.Environment, arrivals_s: Sequence[float], out: simpy.Store
) -> ProcessGenerator:
    for i, t in enumerate(arrivals_s):
        if t > env.now:
            yield env.timeout(t - env.now)
        yield out.put((i, t))


def _pod(
    env: simpy.Environment, inbox: simpy.Store, outbox: simpy.Store | None,
    service: Iterator[float], done: list[float],
) -> ProcessGenerator:
    while True:
        record = yield inbox.get()
        yield env.timeout(next(service))
        if outbox is None:
            done.append(env.now - record[1])
        else:
            yield outbox.put(record)


def run_naive(
    arrivals_s: Sequence[float] | np.ndarray, stages: Sequence[NaiveStage], seed: int = 0
) -> NaiveResult:
    """Run the naive pipeline on the given arrival times until every record has completed.

    Parameters
    ----------
    arrivals_s : sequence of float, shape (n,)
        Non-decreasing arrival times, seconds of simulated time.
    stages : sequence of NaiveStage
        The stages in order (four for the benchmark; any number >= 1 works).
    seed : int
        Seed of the local generator drawing the service times.

    Returns
    -------
    NaiveResult
        Counts, simulated end time, mean latency, and the wall time of ``env.run`` alone.

    Raises
    ------
    ValueError
        On empty ``stages``, arrivals that decrease, or a stage with ``pods < 1``.
    """
    arr = np.asarray(arrivals_s, dtype=float)
    if not stages or any(s.pods < 1 for s in stages):
        raise ValueError("stages: need at least one stage, each with pods >= 1")
    if arr.size and np.any(np.diff(arr) < 0):
        raise ValueError("arrivals_s must be non-decreasing")
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    stores = [simpy.Store(env) for _ in stages]
    done: list[float] = []
    env.process(_source(env, arr.tolist(), stores[0]))
    for k, stage in enumerate(stages):
        service = iter(rng.exponential(stage.mean_service_s, size=arr.size).tolist())
        outbox = stores[k + 1] if k + 1 < len(stages) else None
        for _ in range(stage.pods):
            env.process(_pod(env, stores[k], outbox, service, done))
    t0 = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t0
    mean_lat = float(np.mean(done)) if done else float("nan")
    return NaiveResult(arr.size, len(done), float(env.now), mean_lat, wall)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: run the reference alone on Poisson arrivals and print its speed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000, help="number of transactions")
    p.add_argument("--rate", type=float, default=50.0, help="Poisson arrival rate, per s")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    arrivals = np.cumsum(rng.exponential(1.0 / a.rate, size=a.n))
    r = run_naive(arrivals, DEFAULT_STAGES, seed=a.seed + 1)
    print(
        f"naive_reference: {r.n_completed}/{r.n_arrivals} completed, "
        f"sim_end_s={r.sim_end_s:.1f}, mean_latency_s={r.mean_latency_s:.4f}, "
        f"env.run wall_s={r.wall_run_s:.2f}, tx_per_wall_s={r.tx_per_wall_s:,.0f}"
    )


if __name__ == "__main__":
    main()
