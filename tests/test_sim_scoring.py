"""The detector's compiled scorer equals the fitted pipeline's ``predict_proba`` on real features.

Real data: the handbook's published transformed table (first training week → fit, the
following days → score), skipped with a reason when the third-party data is absent. The
scorer must match to 1e-12 for logistic regression, exactly for a decision tree, and to 1e-12 for
a random forest (sklearn sums its trees in thread completion order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.services.scorer import compile_scorer
from tinybots.modeling import make_model
from tinybots.schema import FEATURE_COLUMNS

TRANSFORMED = "transformed/transactions_transformed_2018-07-25_2018-08-14.csv.gz"


@pytest.fixture(scope="module")
def real_features(handbook_data):
    """(X_train, y_train, X_score) from the book's transformed table, float64."""
    f = pd.read_csv(handbook_data / TRANSFORMED, parse_dates=["TX_DATETIME"])
    train = f["TX_DATETIME"] < "2018-08-01"
    X = f[list(FEATURE_COLUMNS)].to_numpy(np.float64)
    y = f["TX_FRAUD"].to_numpy()
    return X[train.to_numpy()], y[train.to_numpy()], X[~train.to_numpy()]


@pytest.mark.parametrize(
    ("kind", "tol"),
    [("logistic_regression", 1e-12), ("decision_tree_depth_2", 0.0), ("decision_tree", 0.0)],
)
def test_compiled_scorer_equals_predict_proba(real_features, kind, tol):
    X_train, y_train, X_score = real_features
    model = make_model(kind, random_state=0).fit(X_train, y_train)
    scorer = compile_scorer(model)
    assert scorer.compiled
    want = model.predict_proba(X_score)[:, 1]
    for batch in (X_score[:1], X_score[:200], X_score):  # one row, a micro-batch, everything
        got = scorer(batch)
        assert got.shape == (len(batch),)
        assert np.max(np.abs(got - want[: len(batch)])) <= tol


def test_compiled_forest_equals_predict_proba(real_features):
    X_train, y_train, X_score = real_features
    model = make_model("random_forest", random_state=0)
    model.set_params(model__n_estimators=10, model__n_jobs=1)
    model.fit(X_train[::5], y_train[::5])
    scorer = compile_scorer(model)
    assert scorer.compiled
    got, want = scorer(X_score[:2000]), model.predict_proba(X_score[:2000])[:, 1]
    assert np.max(np.abs(got - want)) <= 1e-12


def test_scorer_does_not_modify_its_input_and_falls_back_for_other_models():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    bare = LogisticRegression().fit(X, y)  # not a scaler pipeline: predict_proba fallback
    scorer = compile_scorer(bare)
    assert not scorer.compiled
    X_copy = X.copy()
    np.testing.assert_array_equal(scorer(X), bare.predict_proba(X)[:, 1])
    np.testing.assert_array_equal(X, X_copy)
