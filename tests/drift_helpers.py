"""A small bank for the drift-monitoring tests: 1000 customers, a live window of ``days`` event
days starting on day 60 (so the training window's 30-day features are full), a day ~45 s of
processing, enough replicas that the pipeline keeps up at the day's peak hour."""

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
    # the day's peak hour is ~80 tx/s of processing: 6 ingestors and enrichers (20 tx/s each)
    # keep up, so the pipeline's latency stays well under a second (with 1 ingestor the
    # backlog grew by ~50 s a day and delayed every check by as much)
    d["topics"]["transactions"]["partitions"] = 6
    for name, n in (("transaction_ingestor", 6), ("feature_enricher", 6), ("fraud_detector", 3),
                    ("alert_service", 3)):
        d["deployments"][name]["replicas"] = n
    d["monitoring"]["drift"] = True
    for path, value in changes.items():
        cur = d
        *head, last = path.split(".")
        for p in head:
            cur = cur[p]
        cur[last] = value
    return Scenario.model_validate(d)
