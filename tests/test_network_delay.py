"""Extra network delay between two services that talk (issue 11's ``network_delay`` fault):
the producing pod's produce waits the delay (its acks' round trip), so the source's span
lasts that much longer and its records reach the next service later."""

from __future__ import annotations

import numpy as np
import pytest

from sim import run
from sim.engine import choose_paths
from sim.scenario import Scenario, load_preset

DELAY_S = 0.25


def _scenario(source: str | None, target: str | None, *, at_s: float = 0.0,
              duration_s: float = 10_000.0) -> Scenario:
    """small with deterministic service times (spans of known length) and, when ``source`` is
    given, a network delay of :data:`DELAY_S` from ``source`` to ``target``."""
    d = load_preset("small").model_dump()
    det = {"distribution": "deterministic"}
    d["deployments"]["transaction_ingestor"]["service"].update(det)
    d["deployments"]["feature_enricher"]["service"].update(det)
    d["deployments"]["fraud_detector"]["service"].update(det)
    if source is not None:
        d["faults"] = [{"kind": "network_delay", "source": source, "target": target,
                        "delay_s": DELAY_S, "at_s": at_s, "duration_s": duration_s}]
    return Scenario.model_validate(d)


def _poll_excess(spans, service: str, fixed_s: float, per_record_s: float) -> np.ndarray:
    """Per poll of ``service`` (its spans grouped by pod and start), the span's length beyond
    its deterministic service time ``fixed_s + per_record_s × records``."""
    sp = spans[spans["service"] == service]
    g = sp.groupby(["pod", "start_s"], observed=True)
    n = g.size().to_numpy()
    return g["service_s"].first().to_numpy() - (fixed_s + per_record_s * n)


def test_a_delay_from_the_enricher_to_the_detector_lengthens_the_enricher_spans():
    base = run(_scenario(None, None), progress=False)
    slow = run(_scenario("feature_enricher", "fraud_detector"), progress=False)
    assert np.allclose(_poll_excess(base.spans, "feature_enricher", 0.01, 0.05), 0.0)
    excess = _poll_excess(slow.spans, "feature_enricher", 0.01, 0.05)
    assert len(excess) > 10 and np.allclose(excess, DELAY_S)  # every poll, by the delay
    # the detector's own spans are not lengthened (its produce has no delay)
    assert np.allclose(_poll_excess(slow.spans, "fraud_detector", 0.05, 0.01), 0.0)
    s = slow.summary_dict()
    assert s["lost"] == 0 and s["completed"] == s["generated"]
    assert s["latency_p50_s"] > base.summary_dict()["latency_p50_s"] + DELAY_S * 0.9


def test_the_delay_acts_only_inside_its_window():
    slow = run(_scenario("feature_enricher", "fraud_detector", at_s=20.0, duration_s=20.0),
               progress=False)
    sp = slow.spans[slow.spans["service"] == "feature_enricher"]
    g = sp.groupby(["pod", "start_s"], observed=True)
    excess = g["service_s"].first().to_numpy() - (0.01 + 0.05 * g.size().to_numpy())
    produce_s = g["start_s"].first().to_numpy() + g["service_s"].first().to_numpy() - excess
    inside = (produce_s >= 20.0) & (produce_s < 40.0)  # when the produce was asked for
    assert inside.any() and (~inside).any()
    assert np.allclose(excess[inside], DELAY_S) and np.allclose(excess[~inside], 0.0)


def test_a_delay_from_the_ingestor_to_the_enricher_lengthens_the_ingest_spans():
    sc = _scenario("transaction_ingestor", "feature_enricher")
    paths = choose_paths(sc)
    assert not paths.scheduled_ingress and "network_delay" in paths.reasons["ingress"]
    tx = run(sc, progress=False).transactions
    ingest_s = (tx["ingest_end_s"] - tx["ingest_start_s"]).to_numpy()
    assert np.allclose(ingest_s, 0.05 + DELAY_S)  # per_record_s 0.05, deterministic
    assert (tx["enrich_start_s"] >= tx["ingest_end_s"] - 1e-12).all()


def test_a_delay_to_the_monitoring_service_holds_the_detectors_produce():
    # fraud-scores has two consumers (alert-service, monitoring-service): one produce serves
    # both, so a delay towards either holds it
    slow = run(_scenario("fraud_detector", "monitoring_service"), progress=False)
    assert np.allclose(_poll_excess(slow.spans, "fraud_detector", 0.05, 0.01), DELAY_S)


@pytest.mark.parametrize("source,target", [("fraud_detector", "feature_enricher"),
                                           ("alert_service", "fraud_detector")])
def test_a_delay_between_services_that_do_not_talk_is_refused(source, target):
    with pytest.raises(ValueError, match=r"faults\[0\]\.target"):
        _scenario(source, target)
