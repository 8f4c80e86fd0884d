"""Baseline models: construction, the handbook split rules, determinism, and the published table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tinybots.errors import InputError
from tinybots.modeling import (
    BASELINE_MODELS,
    evaluate,
    fit_model,
    handbook_split,
    make_model,
    run_baseline,
    score,
)
from tinybots.schema import FEATURE_COLUMNS

ORIGIN = pd.Timestamp("2018-04-01")


@pytest.mark.parametrize("name", BASELINE_MODELS)
def test_make_model_is_scaler_then_estimator(name: str) -> None:
    model = make_model(name)
    assert isinstance(model, Pipeline)
    assert isinstance(model.steps[0][1], StandardScaler)
    assert model.steps[1][1].get_params()["random_state"] == 0


def test_unknown_model_lists_allowed_names() -> None:
    with pytest.raises(InputError, match="xgboost.*logistic_regression.*random_forest"):
        make_model("xgboost")


def tiny_history(cards: dict[int, list[tuple[int, int]]]) -> pd.DataFrame:
    """One transaction at noon per (day, label) of each card; features are filler."""
    rows = [
        (card, day, label) for card, txs in cards.items() for day, label in txs
    ]
    f = pd.DataFrame(rows, columns=["CUSTOMER_ID", "TX_TIME_DAYS", "TX_FRAUD"])
    f = f.sort_values(["TX_TIME_DAYS", "CUSTOMER_ID"]).reset_index(drop=True)
    f["TRANSACTION_ID"] = np.arange(len(f))
    f["TX_DATETIME"] = ORIGIN + pd.to_timedelta(f["TX_TIME_DAYS"] * 86400 + 43200, unit="s")
    return f


def test_split_filters_known_cards_with_the_test_day_minus_8_rule() -> None:
    every_test_day = [(d, 0) for d in range(14, 21)]
    f = tiny_history({
        0: [(0, 0), *every_test_day],  # never fraudulent: always in test
        1: [(6, 1), *every_test_day],  # training fraud: never in test
        2: [(7, 1), *every_test_day],  # first delay day = 15 - 8: removed from day 15 on
        3: [(12, 1), *every_test_day],  # 12 = 20 - 8: removed on day 20 only
        4: [(13, 1), *every_test_day],  # 13 = 21 - 8 is past the test week: never removed
        5: [(14, 1), *every_test_day[1:]],  # fraud in the test week itself: kept
    })
    split = handbook_split(f, "2018-04-01")
    assert sorted(split.train["TX_TIME_DAYS"].unique()) == [0, 6]
    days_of = split.test.groupby("CUSTOMER_ID")["TX_TIME_DAYS"].apply(sorted).to_dict()
    assert days_of[0] == list(range(14, 21))
    assert 1 not in days_of
    assert days_of[2] == [14]
    assert days_of[3] == list(range(14, 20))
    assert days_of[4] == list(range(14, 21))
    assert days_of[5] == list(range(14, 21))


def test_split_rejects_empty_training_window_and_bad_date() -> None:
    f = tiny_history({0: [(0, 0), (1, 1)]})
    with pytest.raises(InputError, match="no transactions in the training window"):
        handbook_split(f, dt.date(2019, 1, 1))
    with pytest.raises(InputError, match="start_date"):
        handbook_split(f, "25/07/2018")
    with pytest.raises(InputError, match="delta_test"):
        handbook_split(f, "2018-04-01", delta_test=0)


def synthetic_features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURE_COLUMNS)))
    f = pd.DataFrame(x, columns=list(FEATURE_COLUMNS))
    f["TX_FRAUD"] = (x[:, 0] + 0.5 * rng.normal(size=n) > 1.5).astype(int)
    f["TX_TIME_DAYS"] = rng.integers(0, 3, n)
    f["CUSTOMER_ID"] = rng.integers(0, 50, n)
    return f


@pytest.mark.parametrize("name", BASELINE_MODELS)
def test_fit_is_deterministic_and_learns(name: str) -> None:
    train, test = synthetic_features(600, 1), synthetic_features(400, 2)
    a, b = fit_model(name, train), fit_model(name, train)
    np.testing.assert_array_equal(score(a, test), score(b, test))
    metrics = evaluate(a, test, k=5)
    assert set(metrics) == {"auc_roc", "average_precision", "card_precision_at_5"}
    assert metrics["auc_roc"] > 0.75  # signal on feature 0; 0.5 would be chance


def test_fit_names_a_missing_feature() -> None:
    train = synthetic_features(50, 1).drop(columns="TERMINAL_ID_RISK_7DAY_WINDOW")
    with pytest.raises(InputError, match="TERMINAL_ID_RISK_7DAY_WINDOW"):
        fit_model("logistic_regression", train)


# Chapter 3 TEST table (Le Borgne et al., 2022, Chapter 3, "Baseline fraud detection system"):
# AUC ROC, AP, CP@100.
PUBLISHED = {
    "logistic_regression": (0.871, 0.606, 0.291),
    "decision_tree_depth_2": (0.763, 0.496, 0.241),
    "decision_tree": (0.788, 0.309, 0.243),
    "random_forest": (0.867, 0.658, 0.287),
}
TOL = (0.002, 0.002, 0.005)


@pytest.fixture(scope="module")
def transformed(handbook_transformed: pd.DataFrame) -> pd.DataFrame:
    """The handbook's table with features, generated here (no third-party files needed)."""
    return handbook_transformed


@pytest.mark.slow
def test_published_split_sizes(transformed: pd.DataFrame) -> None:
    split = handbook_split(transformed, "2018-07-25")
    assert (len(split.train), int(split.train["TX_FRAUD"].sum())) == (67_240, 598)
    assert (len(split.test), int(split.test["TX_FRAUD"].sum())) == (58_264, 385)
    assert split.test["TX_TIME_DAYS"].min() == 129 and split.test["TX_TIME_DAYS"].max() == 135


@pytest.mark.slow
def test_reproduces_the_chapter_3_table(transformed: pd.DataFrame) -> None:
    table = run_baseline(transformed).set_index("model")
    for name, expected in PUBLISHED.items():
        got = table.loc[name, ["auc_roc", "average_precision", "card_precision_at_100"]]
        for value, target, tol, metric in zip(got, expected, TOL, got.index, strict=True):
            assert abs(value - target) <= tol, f"{name} {metric}: {value:.4f} vs book {target}"
