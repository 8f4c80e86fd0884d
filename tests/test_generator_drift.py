"""Drift in the generator (tinybots.generator.drift): each kind changes what it says from its
onset and nothing before it; off = the handbook's table; determinism; ground truth; bad input."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest
from cli_errors import cli_error_line

from tinybots.errors import InputError, describe_validation_error
from tinybots.generator import HandbookConfig, generate_transactions
from tinybots.generator.drift import CARD_TESTING_SCENARIO, apply_drifts
from tinybots.generator.drift_compromise import CompromiseState
from tinybots.schema import event_schema_violations

N_C, N_T, DAYS, ONSET = 400, 800, 40, 20.0


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return generate_transactions(
        HandbookConfig(n_customers=N_C, n_terminals=N_T, nb_days=DAYS, radius=10.0), n_jobs=1
    )


def drift(raw: pd.DataFrame, spec: object, seed: int = 1, onset: float = ONSET):
    out, truth = apply_drifts(raw, [spec], [onset], np.random.default_rng(seed),
                              n_customers=N_C, n_terminals=N_T)
    return out, truth[0]


def before(t: pd.DataFrame, onset: float = ONSET) -> pd.DataFrame:
    return t[t.TX_TIME_SECONDS < onset * 86400].reset_index(drop=True)


def after(t: pd.DataFrame, onset: float = ONSET) -> pd.DataFrame:
    return t[t.TX_TIME_SECONDS >= onset * 86400]


def valid(t: pd.DataFrame, raw: pd.DataFrame, handbook_labels: bool = True) -> None:
    """Sorted, renumbered, same dtypes, consistent times and labels, valid events."""
    assert t.dtypes.equals(raw.dtypes)
    assert (t.TRANSACTION_ID.to_numpy() == np.arange(len(t))).all()
    assert t.TX_DATETIME.is_monotonic_increasing
    start = raw.TX_DATETIME.iloc[0] - pd.to_timedelta(raw.TX_TIME_SECONDS.iloc[0], unit="s")
    assert (t.TX_DATETIME == start + pd.to_timedelta(t.TX_TIME_SECONDS, unit="s")).all()
    assert (t.TX_TIME_DAYS == t.TX_TIME_SECONDS // 86400).all()
    assert (t.TX_FRAUD == (t.TX_FRAUD_SCENARIO > 0)).all()
    if handbook_labels:  # a covariate drift's genuine amounts may pass 220
        assert (t.TX_AMOUNT[t.TX_FRAUD_SCENARIO == 0] <= 220).all()
    assert not event_schema_violations(t).any() and (t.TX_AMOUNT > 0).all()


COV = dict(kind="covariate", amount_factor=2.0, rate_factor=1.0, customers_fraction=1.0,
           ramp_days=0.0)
KINDS = {
    "covariate": NS(**{**COV, "rate_factor": 1.5, "customers_fraction": 0.5, "ramp_days": 3.0}),
    "card_testing": NS(kind="card_testing", cards_per_day=5, tx_per_card=8, amount_max=5.0,
                       burst_minutes=30.0),
    "compromise_rate": NS(kind="compromise_rate", terminals_factor=3.0, customers_factor=0.0),
    "weekly_profile": NS(kind="weekly_profile", weekday_factors=(1, 1, 1, 0.5, 1, 2.0, 1)),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_drift_leaves_the_days_before_its_onset_alone_and_keeps_the_table_valid(raw, kind):
    out, truth = drift(raw, KINDS[kind], onset=ONSET + 0.5)
    valid(out, raw, handbook_labels=kind != "covariate")
    assert before(out, ONSET + 0.5).drop(columns="TRANSACTION_ID").equals(
        before(raw, ONSET + 0.5).drop(columns="TRANSACTION_ID"))
    assert not after(out).reset_index(drop=True).equals(after(raw).reset_index(drop=True))
    start_s = (raw.TX_DATETIME.iloc[0].normalize().value / 1e9)
    assert truth["kind"] == kind and truth["onset_day"] == ONSET + 0.5
    assert truth["onset_event_s"] == start_s + (ONSET + 0.5) * 86400 and truth["detail"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_drift_is_deterministic_per_seed(raw, kind):
    a, b, c = (drift(raw, KINDS[kind], seed=s)[0] for s in (3, 3, 4))
    assert a.equals(b) and not a.equals(c)


def test_no_drift_is_the_handbook_table_itself(raw):
    out, truth = apply_drifts(raw, [], [], np.random.default_rng(0))
    assert out is raw and truth == []


def test_an_abrupt_amount_drift_multiplies_every_genuine_amount_from_the_onset(raw):
    out, _ = drift(raw, NS(**COV))
    a, r = after(out), after(raw)
    genuine = r.TX_FRAUD.to_numpy() == 0
    assert np.allclose(a.TX_AMOUNT.to_numpy()[genuine],
                       np.maximum(np.round(r.TX_AMOUNT.to_numpy()[genuine] * 2, 2), 0.01))
    assert (a.TX_AMOUNT.to_numpy()[~genuine] == r.TX_AMOUNT.to_numpy()[~genuine]).all()


def test_a_ramped_amount_drift_grows_linearly_to_its_factor(raw):
    out, truth = drift(raw, NS(**{**COV, "ramp_days": 4.0}))
    g = raw.TX_FRAUD == 0
    ratio = (out.TX_AMOUNT[g] / raw.TX_AMOUNT[g]).groupby(raw.TX_TIME_DAYS[g]).mean()
    assert truth["ramp_days"] == 4.0
    assert 1.05 < ratio[ONSET] < 1.25 and 1.55 < ratio[ONSET + 2] < 1.75
    assert ratio[ONSET + 1] < ratio[ONSET + 2] < ratio[ONSET + 3] < 2.0
    assert np.allclose(ratio[ratio.index >= ONSET + 4], 2.0, atol=0.01)


@pytest.mark.parametrize("rate", [0.5, 2.0])
def test_a_rate_drift_scales_the_genuine_count_per_day(raw, rate):
    out, _ = drift(raw, NS(**{**COV, "amount_factor": 1.0, "rate_factor": rate}))
    n = lambda t: (after(t).TX_FRAUD == 0).sum()  # noqa: E731
    assert n(out) / n(raw) == pytest.approx(rate, rel=0.05)
    if rate > 1:  # added ones: the customer's own terminals, amounts, handbook times
        old = set(zip(raw.CUSTOMER_ID, raw.TERMINAL_ID, strict=True))
        assert set(zip(out.CUSTOMER_ID, out.TERMINAL_ID, strict=True)) <= old
        tod = after(out).TX_TIME_SECONDS % 86400
        assert tod.mean() == pytest.approx(43200, rel=0.03)
        g = lambda t: after(t).TX_AMOUNT[after(t).TX_FRAUD == 0].mean()  # noqa: E731
        assert g(out) == pytest.approx(g(raw), rel=0.05)


def test_a_covariate_drift_touches_only_its_share_of_customers(raw):
    out, _ = drift(raw, NS(**{**COV, "customers_fraction": 0.25}))
    a, r = after(out), after(raw)
    changed = a.CUSTOMER_ID[(a.TX_AMOUNT.to_numpy() != r.TX_AMOUNT.to_numpy())].nunique()
    assert changed == pytest.approx(0.25 * r.CUSTOMER_ID.nunique(), rel=0.15)


def test_card_testing_adds_bursts_of_small_frauds_at_distinct_terminals(raw):
    spec = KINDS["card_testing"]
    out, _ = drift(raw, spec)
    ct = out[out.TX_FRAUD_SCENARIO == CARD_TESTING_SCENARIO]
    assert (ct.TX_FRAUD == 1).all() and (ct.TX_TIME_SECONDS >= ONSET * 86400).all()
    assert len(ct) == spec.cards_per_day * spec.tx_per_card * (DAYS - ONSET)
    assert ((ct.TX_AMOUNT > 0) & (ct.TX_AMOUNT <= spec.amount_max)).all()
    bursts = ct.groupby(["TX_TIME_DAYS", "CUSTOMER_ID"])
    assert (bursts.size() == spec.tx_per_card).all()
    assert (bursts.TERMINAL_ID.nunique() == spec.tx_per_card).all()
    span = bursts.TX_TIME_SECONDS.max() - bursts.TX_TIME_SECONDS.min()
    assert (span <= spec.burst_minutes * 60).all()
    share = ct.groupby("TX_TIME_DAYS").size() / out[out.TX_TIME_DAYS >= ONSET].groupby(
        "TX_TIME_DAYS").size()
    assert (share > 0.02).all()
    assert (out.drop(ct.index).reset_index(drop=True).drop(columns="TRANSACTION_ID")
            .equals(raw.drop(columns="TRANSACTION_ID")))


def test_the_compromise_state_rebuilds_the_handbook_labels(raw):
    days = raw.TX_TIME_DAYS.to_numpy()
    st = CompromiseState.from_table(raw.CUSTOMER_ID.to_numpy(), raw.TERMINAL_ID.to_numpy(),
                                    days, N_C, N_T)
    s3, s2 = st.s3_counts(len(raw)) > 0, st.s2_covered(raw.TERMINAL_ID.to_numpy(), days)
    scen = np.where(s3, 3, np.where(s2, 2, np.where(raw.TX_AMOUNT > 220, 1, 0)))
    assert (scen == raw.TX_FRAUD_SCENARIO.to_numpy()).all()


def test_compromise_rate_zero_reverts_the_handbooks_compromises_from_the_onset(raw):
    onset = 5.0
    out, _ = drift(raw, NS(kind="compromise_rate", terminals_factor=0.0, customers_factor=0.0),
                   onset=onset)
    late = lambda t, s, w: ((t.TX_FRAUD_SCENARIO == s) & (t.TX_TIME_DAYS >= onset + w)).sum()  # noqa: E731
    assert late(raw, 2, 28) > 0 and late(raw, 3, 14) > 0
    assert late(out, 2, 28) == 0 and late(out, 3, 14) == 0
    undone = (raw.TX_FRAUD_SCENARIO == 3) & (out.TX_FRAUD_SCENARIO != 3)
    assert undone.any()
    days = raw.TX_TIME_DAYS.to_numpy()
    picks = CompromiseState.from_table(raw.CUSTOMER_ID.to_numpy(), raw.TERMINAL_ID.to_numpy(),
                                       days, N_C, N_T).s3_counts(len(raw))[undone]
    assert np.allclose(out.TX_AMOUNT[undone], np.round(raw.TX_AMOUNT[undone] / 5.0**picks, 2))
    s1 = undone & (out.TX_AMOUNT > 220)
    assert (out.TX_FRAUD_SCENARIO[s1] == 1).all()  # a scenario-1 fraud stays fraud
    assert len(out) == len(raw)


def test_compromise_rate_above_one_adds_compromised_terminals_and_cards(raw):
    spec = NS(kind="compromise_rate", terminals_factor=3.0, customers_factor=3.0)
    out, truth = drift(raw, spec)
    per_day = DAYS - 1 - ONSET  # the handbook draws none on the last day
    assert f"+{int(2 * 2 * per_day)} " in truth["detail"]
    assert f"+{int(3 * 2 * per_day)} " in truth["detail"]
    n = lambda t, s: ((t.TX_FRAUD_SCENARIO == s) & (t.TX_TIME_DAYS >= ONSET + 5)).sum()  # noqa: E731
    assert n(out, 2) > 1.4 * n(raw, 2) and n(out, 3) > 1.8 * n(raw, 3)
    picked = (out.TX_FRAUD_SCENARIO == 3) & (raw.TX_FRAUD_SCENARIO != 3)
    times = np.log(out.TX_AMOUNT[picked] / raw.TX_AMOUNT[picked]) / np.log(5)  # x5 per pick
    assert np.allclose(times, np.round(times)) and (np.round(times) >= 1).all()


def test_a_weekly_profile_scales_each_weekdays_count_frauds_too(raw):
    spec = KINDS["weekly_profile"]
    out, _ = drift(raw, spec)
    count = lambda t: after(t).groupby(after(t).TX_DATETIME.dt.day_of_week).size()  # noqa: E731
    ratio = count(out) / count(raw)
    assert ratio[3] == pytest.approx(0.5, rel=0.08) and ratio[5] == pytest.approx(2.0, rel=0.08)
    assert ratio[[0, 1, 2, 4, 6]].tolist() == [1.0] * 5
    fraud = lambda t: after(t).TX_FRAUD.sum()  # noqa: E731
    assert fraud(out) != fraud(raw)


@pytest.mark.parametrize(("spec", "onset", "field"), [
    (NS(kind="meteor"), ONSET, "drift[0].kind: must be one of covariate, card_testing"),
    (NS(**COV), float(DAYS), "drift[0].onset_day: must be a day index of the table in [0, 40)"),
    (NS(**{**COV, "rate_factor": 0.0}), ONSET, "drift[0].rate_factor: must be in (0, 10]"),
    (NS(kind="card_testing", cards_per_day=0), ONSET, "drift[0].cards_per_day: must be"),
    (NS(kind="weekly_profile", weekday_factors=(1, 1)), ONSET, "drift[0].weekday_factors"),
])
def test_bad_drift_input_is_one_line_naming_the_field(raw, spec, onset, field):
    with pytest.raises(InputError) as bad:
        apply_drifts(raw, [spec], [onset], np.random.default_rng(0))
    assert str(bad.value).startswith(field) and "\n" not in str(bad.value)


def test_the_scenario_names_an_unknown_drift_kind_and_an_onset_past_the_horizon(
        tmp_path, capsys, monkeypatch):
    from sim.scenario import Scenario

    for drift_, field in (({"kind": "meteor"}, "workload.drift[0].kind: must be one of "
                           "covariate, card_testing, compromise_rate, weekly_profile, got "
                           "'meteor'"),
                          ({"kind": "card_testing", "onset_day": 2.0},
                           "workload.drift[0].onset_day: must be < the live window's end")):
        with pytest.raises(ValueError) as bad:
            Scenario.from_dict({"workload": {"drift": [drift_]}})
        line = describe_validation_error(bad.value)
        assert line.startswith(field) and "\n" not in line, line
        err = cli_error_line({"workload": {"drift": [drift_]}}, tmp_path, capsys, monkeypatch)
        assert field in err


def _live(small, drift_=(), seed=0):
    from sim.scenario import with_changes
    from sim.workload import build_workload

    sc = with_changes(small, "workload.drift", list(drift_)) if drift_ else small
    rngs = [np.random.default_rng(seed + i) for i in range(3)]
    return build_workload(sc.workload, rngs[0], rngs[1], rng_drift=rngs[2])


def test_build_workload_without_drift_is_unchanged_and_records_no_truth(small):
    from sim.workload import build_workload

    a = _live(small)
    b = build_workload(small.workload, np.random.default_rng(0), np.random.default_rng(1))
    for name in ("tx_id", "customer_id", "terminal_id", "amount", "event_time_s", "arrival_s"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.history.equals(b.history) and a.drift_truth == [] == b.drift_truth


def test_build_workload_drifts_the_live_window_from_its_onset_with_the_ground_truth(small):
    from sim.workload import load_bank

    w = small.workload
    ct = {"kind": "card_testing", "onset_day": 0.5, "cards_per_day": 30, "tx_per_card": 5}
    base, t = _live(small), _live(small, [ct])
    midnight = t.live_start_s - w.live_start_hour * 3600
    assert t.drift_truth == [{**t.drift_truth[0], "kind": "card_testing", "onset_day": 0.5,
                              "onset_event_s": midnight + 0.5 * 86400, "ramp_days": 0.0}]
    assert t.history.drop(columns="TRANSACTION_ID").equals(
        base.history.drop(columns="TRANSACTION_ID"))
    onset_s = midnight + 0.5 * 86400
    pre, pre0 = t.event_time_s < onset_s, base.event_time_s < onset_s
    assert np.array_equal(t.amount[pre], base.amount[pre0])
    new = (t.fraud == 1) & (t.amount <= 5.0) & ~pre
    assert new.sum() >= len(t) - len(base) > 0
    bank = load_bank(w)  # the cache keeps the undrifted bank
    assert (bank.TX_FRAUD_SCENARIO < 4).all()
