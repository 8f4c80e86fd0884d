"""Faults: declarative specs in the scenario (``sim.scenario.PodCrash``), applied by processes
here that act through the deployments' public methods (never a private field). The fault
schedule is ``sim.faults.schedule``; poison records and network delays are wired into the
handlers by ``sim.faults.processing``."""

from __future__ import annotations

from sim.faults.crash import pod_crashes

__all__ = ["pod_crashes"]
