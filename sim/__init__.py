"""sim: the world the tinybots live in.

SimPy processes that give the bots time, queues, pods and faults: the Kafka-like bus
(``sim.bus``), deployments and pods (``sim.pods``), the transaction-ingestor played from a
precomputed FCFS schedule (``sim.pods.ingress_schedule``), the services of the fraud pipeline
(``sim.services``), the scenario model (``sim.scenario``), ``build`` / ``run``
(``sim.system``) and its tidy ``Results`` (``sim.record.results``).

A one-stage M/M/c scenario (the transaction-ingestor alone: Poisson arrivals, exponential
service, ``c`` pods sharing one FIFO, no bank and no model)::

    from sim import Scenario, run
    sc = Scenario.from_dict({
        "last_stage": "transaction_ingestor",
        "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": 8.0,
                     "live_duration_s": 2000.0},          # arrivals over [0, 2000) s
        "deployments": {"transaction_ingestor": {
            "replicas": 3,                                  # c servers (x concurrency, default 1)
            "service": {"distribution": "exponential", "per_record_s": 0.25}}},  # 1/mu = 0.25 s
        "seed": 1})
    res = run(sc, progress=False)
    tx = res.transactions
    wait_s = tx["ingest_start_s"] - tx["arrival_s"]        # time in queue (Wq samples)
    sojourn_s = tx["ingest_end_s"] - tx["arrival_s"]       # time in system (W samples)

(also ``load_preset("ingestor_mmc")``). The run ends when the last arrival has been served; the
queue starts empty, so discard a warm-up prefix for steady-state estimates. Time-weighted
integrals: ``build(sc)`` then ``run(system)``; ``system.ingress.depth.integral()`` is the area
under the queue length.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tinybots.lazy import lazy_exports

if TYPE_CHECKING:
    from sim.record.results import Results as Results
    from sim.scenario import Scenario as Scenario
    from sim.scenario import load_preset as load_preset
    from sim.scenario import preset_names as preset_names
    from sim.scenario import with_changes as with_changes
    from sim.system import System as System
    from sim.system import build as build
    from sim.system import run as run

# Public names and their modules, imported on first use (PEP 562): ``import sim`` (and so the
# ``tinybots`` console script, whose entry point is ``sim.cli:main``) loads no pandas or
# scikit-learn until a name is used, so a Ctrl-C in the first second reaches ``main``.
_EXPORTS = {
    "Results": "record.results",
    "Scenario": "scenario",
    "load_preset": "scenario",
    "preset_names": "scenario",
    "with_changes": "scenario",
    "System": "system",
    "build": "system",
    "run": "system",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
