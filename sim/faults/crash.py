"""Scheduled pod crashes: a process that crashes each ``PodCrash`` of the scenario on time.

As in SimPy's machine-shop example, the fault is its own process and acts through the
deployment's public :meth:`sim.pods.Deployment.crash` (which interrupts the pod's consumers).
A crash of a deployment that is not part of the run (``last_stage`` before it) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import simpy

from sim.pods.deployment import Deployment
from sim.process import ProcessGenerator
from sim.scenario import PodCrash

__all__ = ["pod_crashes"]


def pod_crashes(
    env: simpy.Environment, crashes: Sequence[PodCrash], deployments: Mapping[str, Deployment]
) -> ProcessGenerator:
    """Crash each pod of ``crashes`` at its ``at_s`` (in time order); a SimPy process body."""
    for crash in sorted(crashes, key=lambda c: c.at_s):
        if crash.at_s > env.now:
            yield env.timeout(crash.at_s - env.now)
        dep = deployments.get(crash.deployment)
        if dep is not None:
            dep.crash(crash.pod, crash.restart_s)
