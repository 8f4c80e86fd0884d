"""Faults: declarative specs in the scenario (``sim.scenario.faults``), expanded into
occurrences (``sim.faults.schedule``) and applied by processes here that act through the
deployments' public methods (never a private field): ``sim.faults.pods`` drives pod crashes,
crash loops and deployment outages and logs every occurrence's start and end;
``sim.faults.processing`` wires poison records and network delays into the handlers."""

from __future__ import annotations

from sim.faults.pods import POD_KINDS, run_faults

__all__ = ["POD_KINDS", "run_faults"]
