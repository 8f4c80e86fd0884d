"""Knobs that act and runs that say what happened (issue 7, items 5-9, 15, 17): the label delay
drives the feature store and the training features, crash targets and copied scenarios are
validated, lost labels and cut-short runs are counted, the summary's figures are what they say,
and ``run(progress=True)`` reports the build steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import sim
from sim import Scenario, build, run, with_changes
from sim.cli import main
from sim.system import start
from sim.workload import load_bank
from tinybots.errors import InputError
from tinybots.features import compute_features
from tinybots.metrics import card_precision_at_k
from tinybots.modeling import handbook_split
from tinybots.schema import FEATURE_COLUMNS


def _synthetic(**over) -> Scenario:
    """A bank-free two-stage (ingestor -> enricher) Poisson scenario, a fraction of a second."""
    sc = Scenario.from_dict(
        {
            "last_stage": "feature_enricher",
            "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": 20.0,
                         "live_duration_s": 20.0,
                         "bank": {"n_customers": 50, "n_terminals": 80}},
            "monitoring_interval_s": 1.0,
            "max_duration_s": 30.0,
        }
    )
    for path, value in over.items():
        sc = with_changes(sc, path.replace("__", "."), value)
    return sc


def _ran(sc: Scenario) -> sim.System:
    """A system run to its end without releasing the enricher's feature matrix."""
    s = build(sc)
    s.env.run(until=start(s))
    return s


# -- item 5: one label delay ------------------------------------------------------------------
def test_label_delay_is_a_whole_number_of_days_at_least_one():
    assert Scenario().labels.delay_days == 7
    for bad in (0, 2.5, 366):
        with pytest.raises(ValidationError, match="labels.delay_days"):
            Scenario.from_dict({"labels": {"delay_days": bad}})


def test_label_delay_drives_the_store_and_the_training_features(small):
    seven, three = _ran(small), _ran(with_changes(small, "labels.delay_days", 3))
    store = {d: s.deployments["feature_enricher"].handler.store
             for d, s in ((7, seven), (3, three))}
    assert store[7].delay_days == 7 and store[3].delay_days == 3
    risk = [i for i, c in enumerate(FEATURE_COLUMNS) if c.startswith("TERMINAL_ID_RISK")]
    f7 = seven.deployments["feature_enricher"].handler.features[:, risk]
    f3 = three.deployments["feature_enricher"].handler.features[:, risk]
    assert not np.allclose(f7, f3)
    assert not np.allclose(seven.ledger.score, three.ledger.score)
    # the model is trained on features with the same delay: another model
    assert seven.models[0]["train_average_precision"] != three.models[0]["train_average_precision"]
    # online (the store, warmed and fed by the label feed) == offline (compute_features)
    bank = load_bank(small.workload)
    offline = compute_features(bank, delay_days=3).set_index("TRANSACTION_ID")
    online = three.deployments["feature_enricher"].handler.features
    want = offline.loc[three.table.tx_id, list(FEATURE_COLUMNS)].to_numpy()
    np.testing.assert_allclose(online, want, rtol=1e-9, atol=1e-9)


# -- item 6: crash targets --------------------------------------------------------------------
def test_a_crash_of_a_pod_beyond_the_replicas_is_rejected():
    fault = {"deployment": "feature_enricher", "at_s": 1.0, "pod": 2}
    with pytest.raises(
        ValidationError,
        match=r"faults\[0\]\.pod: must be < deployments\.feature_enricher\.replicas \(2\), got 2",
    ):
        _synthetic(deployments__feature_enricher__replicas=2, faults=[fault])
    ok = _synthetic(deployments__feature_enricher__replicas=3, faults=[fault])
    assert ok.faults[0].pod == 2


# -- item 7: copies that skipped validation ---------------------------------------------------
def test_run_validates_a_model_copy_again():
    sc = _synthetic()
    dep = sc.deployments.model_copy(
        update={"feature_enricher": sc.deployments.feature_enricher.model_copy(
            update={"replicas": 0})})
    with pytest.raises(InputError, match="deployments.feature_enricher.replicas"):
        run(sc.model_copy(update={"deployments": dep}), progress=False)
    with pytest.raises(InputError, match=r"^scenario: seed: .*greater than or equal to 0"):
        build(sc.model_copy(update={"seed": -1}))


# -- item 8: lost labels ----------------------------------------------------------------------
def test_labels_lost_at_most_once_are_counted(small):
    # a label feed that is nearly always busy, crashed three times
    sc = with_changes(small, "deployments.label_feed.service",
                      {"distribution": "deterministic", "fixed_s": 0.9, "per_record_s": 0.0})
    crashes = [{"deployment": "label_feed", "at_s": t, "restart_s": 1.0}
               for t in (10.3, 30.3, 50.3)]
    sc = with_changes(sc, "faults", crashes)
    kept = run(sc, progress=False).summary_dict()
    res = run(with_changes(sc, "deployments.label_feed.delivery", "at_most_once"), progress=False)
    s = res.summary_dict()
    assert kept["labels_lost"] == 0 and s["labels_lost"] > 0
    lost = res.incidents[res.incidents.kind == "records_lost"]
    assert len(lost) >= 1 and set(lost.target) == {"label_feed-0"}
    assert lost.detail.str.contains("labels of topic labels lost").all()
    assert sum(int(d.split()[0]) for d in lost.detail) == s["labels_lost"]
    m = res.metrics[res.metrics.name == "tinybots_labels_lost_total"]
    assert m.value.iloc[-1] == s["labels_lost"]
    # labels are not transactions: every transaction still completes
    assert s["completed"] == s["generated"] and s["lost"] == 0


def test_a_label_batch_dropped_in_a_crash_never_reaches_the_store():
    from sim.record.ledger import Ledger
    from sim.services import LabelHandler, LabelTable
    from sim.topology import Stage

    class Store:
        def __init__(self):
            self.got = []

        def add_labels(self, terminals, times, frauds):
            self.got += list(zip(terminals, times, frauds, strict=True))

    labels = LabelTable(np.array([5, 6, 7]), np.array([0.0, 1.0, 2.0]), np.array([0, 1, 0]), 9.0)
    ledger, store = Ledger(np.zeros(0), Stage.ALERT), Store()
    handler = LabelHandler(labels, store, ledger)
    fresh = handler.begin([0, 1], "label_feed-0")
    handler.drop([0, 1], "crash")  # the crash came during the poll's service time
    assert fresh == [0, 1] and store.got == [] and ledger.labels_lost == 2
    handler.finish(handler.begin([1, 2], "label_feed-0"), 0.0, "label_feed-0", None)
    assert store.got == [(6, 1, 1), (7, 2, 0)]


# -- item 9: runs cut short by max_duration_s -------------------------------------------------
def test_a_run_cut_short_says_how_many_never_arrived():
    full = run(_synthetic(), progress=False).summary_dict()
    assert full["not_arrived"] == 0 and full["cut_short"] is False
    sc = _synthetic(max_duration_s=5.0)
    s = run(sc, progress=False).summary_dict()
    n = len(build(sc).table)
    assert s["cut_short"] is True and s["not_arrived"] > 0
    assert s["generated"] + s["not_arrived"] == n


def test_a_run_in_which_nothing_arrives_is_an_error(small):
    pattern = r"^max_duration_s: .*first arrival is at .* workload\.speedup"
    with pytest.raises(InputError, match=pattern):
        run(with_changes(small, "workload.speedup", 0.001), progress=False)


def test_cli_warns_when_the_cap_cut_the_run_short(small, tmp_path, capsys):
    path = tmp_path / "short.yaml"
    with_changes(small, "max_duration_s", 20.0).to_yaml(path)
    assert main(["run", "--scenario", str(path), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "max_duration_s" in warning[0] and "never arrived" in warning[0]
    assert main(["run", "--preset", "small", "--speedup", "0.001", "--out",
                 str(tmp_path / "p"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "max_duration_s" in err[-1] and "workload.speedup" in err[-1]
    assert not (tmp_path / "p").exists()


# -- item 15: figures named for what they are -------------------------------------------------
def test_card_precision_is_the_books_without_known_compromised_cards(small):
    res = run(small, progress=False)
    s = res.summary_dict()
    bank = load_bank(small.workload)
    tx = res.transactions.set_index("tx_id")
    train_start = pd.Timestamp(res.models.loc[0, "train_start"]).date()
    assert small.labels.delay_days == small.model.gap_days == 7  # the book's delay week
    split = handbook_split(bank, train_start, small.model.train_days, 7, 1)  # test = live day
    test = split.test[split.test.TRANSACTION_ID.isin(tx.index)].copy()
    test["predictions"] = tx.loc[test.TRANSACTION_ID, "score"].to_numpy()
    book = card_precision_at_k(test, 100).mean
    scored = tx.assign(TX_TIME_DAYS=0, CUSTOMER_ID=tx.customer_id, TX_FRAUD=tx.label,
                       predictions=tx.score)
    unfiltered = card_precision_at_k(scored, 100).mean
    assert book != unfiltered  # the filter matters on this run
    assert s["card_precision_at_100"] == pytest.approx(book)


def test_max_lag_is_the_pipelines_and_the_label_feeds_is_apart(small):
    # a label feed slower than the labels come (1 label a second)
    sc = with_changes(small, "deployments.label_feed.service",
                      {"distribution": "deterministic", "fixed_s": 1.0, "per_record_s": 0.0})
    res = run(with_changes(sc, "deployments.label_feed.max_poll_records", 1), progress=False)
    s = res.summary_dict()
    lag = res.metrics[res.metrics.name == "kafka_consumergroup_lag"]
    label = lag[lag.labels.str.contains("group=label-feed")].value.max()
    pipeline = lag[~lag.labels.str.contains("group=label-feed")].value.max()
    assert label > pipeline  # the label feed's backlog would dominate an overall maximum
    assert s["max_lag"] == pipeline and s["max_label_lag"] == label


# -- item 17: status while building -----------------------------------------------------------
def test_build_steps_are_reported_only_with_progress(small, capsys):
    run(small, progress=False)
    assert capsys.readouterr().err == ""
    run(small, progress=True)
    err = capsys.readouterr().err
    assert "bank (300 customers, 600 terminals, 16 days" in err
    assert "training logistic_regression on 7 days" in err
    assert "warming the feature store (" in err
