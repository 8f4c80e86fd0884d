"""The feature store as a remote dependency: a FIFO server of ``servers`` slots (SimPy).

The feature-enricher calls it once per poll (``sim.services.resilient_call``) when the scenario
models the call (``sim.scenario.resilience.feature_store_spec``). One call of ``n`` records:

1. the request crosses the network: ``network_s`` plus the active ``network_delay`` faults from
   the feature-enricher to the feature store (``FaultWindows.network_delay_s``);
2. it waits for one of ``servers`` slots (a ``simpy.Resource``, FIFO) and holds it for the
   service time ``(fixed_s + per_record_s × n) × F`` (``sim.pods.service_time.ServiceTime`` on
   the ``feature_store`` stream) × the active ``slow_dependency`` factors at its start;
3. it fails with the active ``failing_dependency`` error rate at its start (one uniform draw
   from the same stream, made only while the rate is above 0);
4. the response crosses the network back (the same delay).

A call whose client gave up (a timeout) is still served to completion: its slot stays busy
with wasted work, as a real server keeps working on a request whose client has hung up (an
HTTP/1.1 server or a gRPC server without cancellation propagation). This is what lets a retry
storm keep the server overloaded after the slowdown that started it ends (metastability:
Bronson et al., "Metastable Failures in Distributed Systems", HotOS 2021). With the spec's
``cancel_abandoned`` the client interrupts the abandoned call instead (:meth:`DependencyServer.
call` leaves the queue or frees its slot at once and counts it ``cancelled``), as a gRPC server
that honours the client's cancellation (deadline propagation) stops working on it.

Only the read (the call) is modelled as slow or failing: the enricher's real ``FeatureStore``
update (its write path) always happens, in ``EnricherHandler.compute``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simpy

from sim.faults.schedule import FaultWindows
from sim.pods.service_time import ServiceTime
from sim.process import ProcessGenerator

__all__ = ["DependencyServer"]


class DependencyServer:
    """A remote dependency's server (see the module docstring).

    Parameters
    ----------
    env : simpy.Environment
    spec : sim.scenario.deployments.DependencySpec
        ``servers``, ``service`` (per call), ``network_s`` (each way).
    rng : numpy.random.Generator
        The ``feature_store`` stream (service times and error draws).
    windows : sim.faults.schedule.FaultWindows
        The run's fault windows (slow / failing dependency, network delay).
    name : str
        The dependency (``"feature_store"``), as the faults name it.
    client : str
        The calling deployment (``"feature_enricher"``), as ``network_delay`` faults name it.

    Attributes
    ----------
    slots : simpy.Resource
        The ``servers`` slots, FIFO.
    calls : dict of str to int
        Calls served, by outcome: ``ok``, ``error``.
    wasted : int
        Calls served to completion after their client had given up (timed out).
    cancelled : int
        Abandoned calls stopped before completion (``cancel_abandoned``).
    """

    def __init__(
        self,
        env: simpy.Environment,
        spec: Any,
        rng: np.random.Generator,
        windows: FaultWindows,
        name: str = "feature_store",
        client: str = "feature_enricher",
    ) -> None:
        self.env = env
        self.spec = spec
        self.rng = rng
        self.windows = windows
        self.name = name
        self.client = client
        self.slots = simpy.Resource(env, capacity=spec.servers)
        self.service = ServiceTime(spec.service, rng)
        self.calls = {"ok": 0, "error": 0}
        self.wasted = 0
        self.cancelled = 0

    def network_s(self) -> float:
        """One-way network time of a call starting now (s)."""
        return float(self.spec.network_s) + self.windows.network_delay_s(
            self.client, self.name, self.env.now)

    def call(self, n: int, abandoned: list[bool] | None = None) -> ProcessGenerator:
        """One call of ``n`` records, a SimPy process body; its value is True on success.

        ``abandoned`` (a one-item list the client sets to ``[True]`` when it gives up) lets
        the server count the call as ``wasted``; the call is served either way, unless the
        client interrupts it (``cancel_abandoned``): then it ends at once, its queued request
        withdrawn or its slot freed, counted ``cancelled``, and its value is False.
        """
        env, w = self.env, self.windows
        try:
            yield env.timeout(self.network_s())
            with self.slots.request() as req:
                yield req
                now = env.now
                service_s = self.service.draw(n) * w.slow_factor(self.name, now)
                rate = w.error_rate(self.name, now)
                failed = rate > 0.0 and float(self.rng.random()) < rate
                yield env.timeout(service_s)
        except simpy.Interrupt:
            self.cancelled += 1
            return False
        self.calls["error" if failed else "ok"] += 1
        if abandoned is not None and abandoned[0]:
            self.wasted += 1
        try:
            yield env.timeout(self.network_s())
        except simpy.Interrupt:
            pass  # served already: only the response is dropped
        return not failed
