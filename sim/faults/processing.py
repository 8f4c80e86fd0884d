"""Faults that act on a service's own work, wired into the handlers: poison records and
network delays (``sim.system.build`` calls :func:`wire_processing_faults` once).

- ``poison``: the rows of :func:`sim.faults.schedule.poison_rows` for a consumer deployment
  always fail there (``ConsumerStage.poison``); the deployment then retries, dead-letters or
  seeks back (:class:`sim.pods.retries.ProcessingRetries`, by its ``resilience``).
- ``network_delay`` from a producing service to a consumer of its output topic: the producing
  pod's produce waits the delay (``ConsumerStage.delay_s``, ``IngestorService.delay_s``; when a
  topic has several consumers, the largest delay towards them). The enricher's calls to the
  feature store are ``sim.services`` dependency calls, not wired here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import simpy

from sim.faults.schedule import FaultWindows
from sim.pods.retries import ProcessingRetries
from sim.topology import SERVICES, row_of

__all__ = ["wire_processing_faults"]


def _delay_fn(windows: FaultWindows, source: str) -> Callable[[float], float] | None:
    """The network delay (s) of a produce by ``source`` at a time, towards the consumers of
    its output topic; None when no ``network_delay`` fault has ``source``."""
    out = row_of(source).topic_out
    targets = [r.deployment for r in SERVICES if out is not None and r.topic_in == out]
    if not any(o.kind == "network_delay" and o.fault.source == source for o in windows.occ):
        return None
    return lambda now: max((windows.network_delay_s(source, t, now) for t in targets),
                           default=0.0)


def wire_processing_faults(
    env: simpy.Environment, scenario: Any, ingestor: Any, deployments: Mapping[str, Any],
    windows: FaultWindows, poison: Mapping[str, dict[int, str]], rng: np.random.Generator,
    on_incident: Callable[[str, str, str], None],
) -> None:
    """Give the handlers their poison rows, retries and network delays (see the module)."""
    from sim.services.stage import ConsumerStage

    if ingestor.topic_out is not None:
        ingestor.delay_s = _delay_fn(windows, row_of("transaction_ingestor").deployment)
    for name, dep in deployments.items():
        handler = dep.handler
        if not isinstance(handler, ConsumerStage):
            continue
        handler.on_incident = on_incident
        handler.dead_letter_enabled = getattr(scenario.deployments, name).resilience.dead_letter
        handler.delay_s = _delay_fn(windows, name)
        rows = poison.get(name)
        if rows:
            handler.poison = dict(rows)
            spec = getattr(scenario.deployments, name).resilience
            dep.retries = ProcessingRetries(env, handler, dep.service, spec, rng)
