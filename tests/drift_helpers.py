"""A small bank for the drift-monitoring tests: 1000 customers, a live window of ``days`` event
days starting on day 60 (so the training window's 30-day features are full), a day ~45 s of
processing, enough replicas that the pipeline keeps up."""

from __future__ import annotations

from typing import Any

from sim import load_preset
from sim.scenario import Scenario


def drift_scenario(seed: int = 0, days: float = 8.0, **changes: Any) -> Scenario:
    """The scenario, with dotted ``changes`` (``"labels.coverage": 0.5``)."""
    d = load_preset("small").model_dump()
    d["seed"] = seed
    d["workload"].update(live_start_day=60, live_duration_s=days * 86400.0, speedup=2000.0)
    d["workload"]["bank"].update(n_customers=1000, n_terminals=2000)
    d["max_duration_s"] = 5000.0
    for name in ("feature_enricher", "fraud_detector", "alert_service"):
        d["deployments"][name]["replicas"] = 3
    d["monitoring"]["drift"] = True
    for path, value in changes.items():
        cur = d
        *head, last = path.split(".")
        for p in head:
            cur = cur[p]
        cur[last] = value
    return Scenario.model_validate(d)
