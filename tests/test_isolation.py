"""SLOs, burn-rate alerts and the blast radius of faults (issue 11, item 3): the SLI events'
definitions on a hand-built frame, then real small runs with an enricher crash."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from sim import run  # noqa: E402
from sim.analysis import isolation as iso  # noqa: E402
from sim.faults.schedule import faults_frame, occurrences  # noqa: E402
from sim.record.results import Results  # noqa: E402
from sim.scenario import Scenario, load_preset  # noqa: E402
from tinybots.errors import InputError  # noqa: E402

SERVICES = ["transaction_ingestor", "feature_enricher", "fraud_detector", "alert_service"]
P99_S = 3.0  # small's enricher serves within 1 s, its detector within 1 s without a fault


def _scenario(faults: list[dict], slos: bool = True, **over) -> Scenario:
    d = load_preset("small").model_dump()
    d["faults"] = faults
    if slos:
        d["slos"] = {k: {"p99_s": P99_S} for k in SERVICES}
    d.update(over)
    return Scenario.model_validate(d)


CRASH = {"deployment": "feature_enricher", "at_s": 20.0, "restart_s": 20.0}


@pytest.fixture(scope="module")
def crashed() -> Results:
    """small with its one enricher pod down from 20 s to 40 s."""
    return run(_scenario([CRASH]), progress=False)


def _hand_built(p99_s: float | None = 1.0) -> Results:
    """Four records: served fast; served late by the enricher; dead-lettered at the enricher;
    still waiting at the enricher at the end (t = 100 s), since 10 s / since 99.5 s."""
    nan = np.nan
    tx = pd.DataFrame({
        "row": [0, 1, 2, 3, 4], "arrival_s": [0.0, 1.0, 2.0, 89.5, 99.0],
        "ingest_start_s": [0.0, 1.0, 2.0, 89.5, 99.0], "ingest_end_s": [0.1, 1.1, 2.1, 90.0, 99.5],
        "enrich_start_s": [0.2, 4.0, 2.5, nan, nan], "enrich_end_s": [0.5, 4.6, nan, nan, nan],
        "outcome": ["completed", "completed", "dead_lettered", "in_flight", "in_flight"],
        "outcome_stage": ["alert_service", "alert_service", "feature_enricher",
                          "feature_enricher", "feature_enricher"]})
    for c in ("detect", "alert"):
        tx[f"{c}_start_s"] = tx[f"{c}_end_s"] = [0.6, 4.7, nan, nan, nan]
    d = load_preset("small").model_dump()
    d["slos"] = {"transaction_ingestor": {"p99_s": 1.0}, "feature_enricher": {"p99_s": p99_s}}
    empty = pd.DataFrame()
    inc = pd.DataFrame(columns=["time_s", "kind", "target", "detail", "duration_s"])
    return Results(Scenario.model_validate(d), tx, empty, empty, inc, empty,
                   pd.DataFrame({"sim_time_s": [100.0]}))


def test_each_record_is_one_event_at_the_input_of_each_service_judged():
    ev = iso.service_events(_hand_built())
    assert list(dict.fromkeys(ev["service"])) == ["transaction_ingestor", "feature_enricher"]
    ing = ev[ev["service"] == "transaction_ingestor"]
    assert ing["time_s"].tolist() == [0.0, 1.0, 2.0, 89.5, 99.0]  # at arrival
    assert ing["good"].all()
    enr = ev[ev["service"] == "feature_enricher"].set_index("row")
    assert enr["time_s"].tolist() == [0.1, 1.1, 2.1, 90.0]  # at the ingestor's end
    assert 4 not in enr.index  # waiting 0.5 s < p99_s at the end: not judged yet
    assert enr["good"].tolist() == [True, False, False, False]
    assert enr.loc[1, "late"] and enr.loc[2, "failed"] and enr.loc[3, "waiting"]
    assert enr.loc[3, "latency_s"] == pytest.approx(10.0)  # its wait so far
    assert enr.loc[1, "decided_s"] == pytest.approx(2.1)  # late once p99_s had passed
    assert enr.loc[0, "decided_s"] == 0.5


def test_without_a_latency_objective_only_failures_are_bad():
    enr = iso.service_events(_hand_built(p99_s=None)).query("service == 'feature_enricher'")
    assert enr.set_index("row")["good"].to_dict() == {0: True, 1: True, 2: False}


def test_no_slos_is_a_one_line_error_naming_slos():
    r = _hand_built()
    bare = Results(r.scenario.model_copy(update={"slos": type(r.scenario.slos)()}),
                   r.transactions, r.spans, r.metrics, r.incidents, r.models, r.summary)
    for f in (iso.service_events, iso.phase_table, iso.burn_rate_alerts, iso.blast_radius):
        with pytest.raises(InputError, match=r"^slos: ") as exc:
            f(bare)
        assert "\n" not in str(exc.value)


def test_a_crash_lasts_until_the_pod_is_ready_again(crashed):
    w = iso.fault_windows(crashed)  # from the pod_crash incident (no faults frame)
    assert w[["kind", "target", "start_s", "end_s"]].values.tolist() == [
        ["pod_crash", "feature_enricher", 20.0, 40.0]]
    occ = occurrences(crashed.scenario.faults, np.random.default_rng(0), 80.0)
    given = iso.fault_windows(crashed, faults_frame(occ))  # the frame's end_s is the crash time
    pd.testing.assert_frame_equal(given, w, check_dtype=False)


def test_a_long_enricher_crash_breaks_the_enrichers_slo_during_not_before(crashed):
    t = iso.phase_table(crashed).set_index(["service", "phase"])
    assert t.loc[("feature_enricher", "before"), "slo_met"]
    assert t.loc[("feature_enricher", "before"), "late"] == 0
    assert not t.loc[("feature_enricher", "during"), "slo_met"]
    assert t.loc[("feature_enricher", "during"), "latency_p99_s"] > 10.0
    assert t.loc[("transaction_ingestor", "during"), "slo_met"]  # upstream is isolated
    assert t.loc[("fraud_detector", "during"), "events"] == 0  # starved, not broken
    b = iso.blast_radius(crashed).set_index("service")
    assert b["slo_broken"].to_dict() == {"transaction_ingestor": False, "feature_enricher": True,
                                         "fraud_detector": False, "alert_service": False}
    assert b.loc["feature_enricher", "broken_s"] > 20.0
    assert b.loc["feature_enricher", "broken_before_s"] == 0.0
    assert b.loc["feature_enricher", "alerts"] >= 1


def test_the_burn_rate_alerts_page_for_the_enricher_after_the_crash(crashed):
    a = iso.burn_rate_alerts(crashed)
    assert set(a["service"]) == {"feature_enricher"} and set(a["sli"]) == {"latency"}
    assert (a["start_s"] >= 20.0 + P99_S).all()  # a record is known late only after p99_s
    assert a["peak_burn_rate"].min() > a["burn_rate"].max()
    inc = iso.alert_incidents(a)
    assert list(inc.columns) == list(crashed.incidents.columns)
    assert (inc["kind"] == "slo_burn_alert").all() and inc["detail"].str.contains("sli=").all()


def test_broken_seconds_are_the_rolling_breach_or_an_alert_by_brute_force(crashed):
    # the definition, sampled every 20 ms: within the fault and its after phase, the 5 s
    # window's late fraction above 1 % (events at decided_s) or a burn alert firing
    (row,) = iso.blast_radius(crashed).query("service == 'feature_enricher'").itertuples()
    phases = iso.phase_table(crashed).query("service == 'feature_enricher'")
    lo = phases.query("phase == 'during'")["start_s"].iloc[0]
    hi = phases.query("phase == 'after'")["end_s"].iloc[0]
    ev = iso.service_events(crashed).query("service == 'feature_enricher' and not failed")
    t_ev, late = ev["decided_s"].to_numpy(), ev["late"].to_numpy()
    alerts = iso.burn_rate_alerts(crashed)
    broken = 0
    for t in np.arange(lo, hi, 0.02):
        in_window = (t_ev > t - 5.0) & (t_ev <= t)
        breach = in_window.any() and late[in_window].mean() > 0.01
        alert = ((alerts["start_s"].to_numpy() <= t) & (alerts["end_s"].to_numpy() > t)).any()
        broken += breach or alert
    assert row.broken_s == pytest.approx(broken * 0.02, abs=0.1)
    assert row.broken_s > 40.0  # beyond the pod's 20 s down: the dead member kept its
    # partitions until Kafka's 45 s session timeout


def test_a_run_without_faults_has_an_empty_table_and_figure():
    r = run(_scenario([]), progress=False)
    assert iso.phase_table(r).empty
    b = iso.blast_radius(r)
    assert b.empty and "slo_broken" in b.columns
    fig = iso.plot_blast_radius(r)
    assert any("no fault" in t.get_text() for t in fig.axes[0].texts)
    assert iso.burn_rate_alerts(r).empty  # nothing late, nothing failed


def test_the_heat_map_has_a_cell_per_service_and_fault(crashed):
    table = iso.blast_radius(crashed)
    fig = iso.plot_blast_radius(table)
    (img,) = fig.axes[0].get_images()
    assert img.get_array().shape == (4, 1)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("ok") == 3 and any(t.endswith("alerts") or "alert" in t for t in texts)
    assert img.get_array()[1, 0] == pytest.approx(table["broken_s"].iloc[1])


def test_a_bad_recovery_allowance_is_one_line(crashed):
    with pytest.raises(InputError, match=r"^recovery_s: must be >= 0"):
        iso.phase_table(crashed, recovery_s=-1.0)


def test_a_frequent_random_fault_gets_one_summed_column_not_one_per_occurrence():
    """A fault of rate_per_h 3600 occurs hundreds of times: the heat map draws a column per
    fault (its broken seconds summed), not a figure thousands of pixels wide."""
    n = iso.MAX_COLUMNS + 6
    rows = [{"occurrence": k, "fault": k % 2, "kind": "broker_outage", "target": "*",
             "start_s": float(k), "end_s": k + 0.5, "service": s, "slo_broken": s == "a",
             "broken_s": 1.0 if s == "a" else 0.0, "broken_before_s": 0.0,
             "alerts": 0, "worst_p99_s": 1.0, "slo_p99_s": 2.0}
            for k in range(n) for s in ("a", "b")]
    fig = iso.plot_blast_radius(pd.DataFrame(rows))
    (img,) = fig.axes[0].get_images()
    assert img.get_array().shape == (2, 2)
    assert img.get_array()[0, 0] == pytest.approx(n / 2)  # fault 0: every other occurrence
    assert fig.get_size_inches()[0] < 10
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0].startswith(f"#0 broker_outage ×{n // 2} from 0 s")
