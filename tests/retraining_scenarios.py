"""Small scenarios of the retraining loop (tests/test_retraining*.py): a 1000-customer bank,
``days`` live days at 40 s of processing time per day, a one-day label delay, training windows
that end at the job (``gap_days: 0``: what is known of the latest days), two detector
pods, a scheduled policy every 3 days (jobs at 120, 240, 360 s)."""

from __future__ import annotations

from typing import Any

from sim import load_preset, with_changes

DAY_S = 40.0
"""Processing seconds per event day (speedup 86400 / 40 = 2160)."""


def scenario(days: float = 12.0, **changes: Any):
    sc = load_preset("small")
    base = {
        "workload.bank.n_customers": 1000, "workload.bank.n_terminals": 2000,
        "workload.live_duration_s": days * 86400.0, "workload.speedup": 86400.0 / DAY_S,
        "workload.live_start_hour": 0.0, "labels.delay_days": 1,
        "deployments.transaction_ingestor.service.per_record_s": 0.002,
        "deployments.feature_enricher.service.per_record_s": 0.002,
        "deployments.fraud_detector.service.per_record_s": 0.001,
        "deployments.fraud_detector.replicas": 2, "max_duration_s": 2000.0,
        "retraining.policy": "scheduled", "retraining.every_days": 3.0,
        "retraining.model_load_s": 2.0, "retraining.gap_days": 0,
    }
    for path, value in [*base.items(), *changes.items()]:  # changes in their order
        sc = with_changes(sc, path, value)
    return sc
