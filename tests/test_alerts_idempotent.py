"""The alert-service pages each transaction at most once (issue 11: "an idempotent
alert-service: a duplicate delivery never pages an investigator twice")."""

from __future__ import annotations

from sim import run
from sim.scenario import Scenario, load_preset


def _crashing_alert_service() -> Scenario:
    """small, every scored transaction alerted, an alert-service whose 2 s batches are cut
    by three crashes: the batches in hand are delivered again (at-least-once)."""
    d = load_preset("small").model_dump()
    d["deployments"]["alert_service"].update(
        max_poll_records=20,
        service={"distribution": "deterministic", "fixed_s": 2.0, "per_record_s": 0.0})
    d["alerts"] = {"threshold": 0.0, "cards_per_day": 100_000}
    d["faults"] = [{"deployment": "alert_service", "at_s": t, "pod": 0, "restart_s": 1.0}
                   for t in (10.5, 30.5, 50.5)]
    return Scenario.model_validate(d)


def test_a_redelivered_transaction_is_not_paged_again():
    r = run(_crashing_alert_service(), progress=False)
    s = r.summary_dict()
    assert s["redelivered"] > 0  # the crashes did hit batches in hand
    assert s["lost"] == 0 and s["completed"] == s["generated"]
    pages = r.metrics[r.metrics["name"] == "tinybots_alerts_total"]["value"].max()
    assert pages == s["alerts"] == int(r.transactions["alerted"].sum())
