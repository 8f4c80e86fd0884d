"""The fraud-detector's scoring call: the fitted pipeline's own parameters, no per-call overhead.

The detector scores every micro-batch with the registry's fitted model. scikit-learn's
``predict_proba`` re-validates its input and resolves estimator tags on every call (about
0.5-1 ms per call, several times the arithmetic for a batch of a few hundred rows).
:func:`compile_scorer` reads the fitted parameters once and returns a function that does only
the arithmetic ``predict_proba`` does, in the same order:

- ``StandardScaler``: ``(X - mean_) / scale_`` (each step only when fitted with it);
- ``LogisticRegression`` (binary): ``expit(X_s @ coef_.T + intercept_)``;
- ``DecisionTreeClassifier``: ``tree_.predict`` on the float32 cast of ``X_s`` (exactly what
  ``predict_proba`` calls);
- ``RandomForestClassifier``: the trees' probabilities summed in estimator order, then divided
  by the number of trees (sklearn sums the same terms in thread completion order, so the two can
  differ in the last bits; tests bound the difference by 1e-12).

Any other model (or a multi-class / multi-output one) falls back to ``predict_proba`` inside
``sklearn.config_context(assume_finite=True, skip_parameter_validation=True)``. The fitted model
stays the source of truth: the scorer holds references to its arrays, nothing is re-fitted or
rounded. ``tests/test_sim_scoring.py`` checks the equality on real feature data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn
from scipy.special import expit

__all__ = ["Scorer", "compile_scorer"]

Scorer = Callable[[np.ndarray], np.ndarray]
"""``scorer(X) -> p``: X float64 of shape (n, n_features), p = P(class 1) of shape (n,)."""


def _scaler_fn(scaler: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """``StandardScaler.transform`` on a fresh float64 copy (None = unsupported scaler)."""
    from sklearn.preprocessing import StandardScaler

    if type(scaler) is not StandardScaler:
        return None
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None

    def transform(X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64, copy=True)
        if mean is not None:
            X -= mean
        if scale is not None:
            X /= scale
        return X

    return transform


def _estimator_fn(est: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """P(class 1) of a fitted binary estimator on scaled rows (None = unsupported)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    if len(getattr(est, "classes_", ())) != 2 or getattr(est, "n_outputs_", 1) != 1:
        return None
    if type(est) is LogisticRegression:
        coef_t, intercept = est.coef_.T, est.intercept_
        return lambda Xs: expit((Xs @ coef_t + intercept).reshape(-1))
    if type(est) is DecisionTreeClassifier:
        tree = est.tree_
        return lambda Xs: tree.predict(Xs.astype(np.float32))[:, 1]
    if type(est) is RandomForestClassifier:
        trees = [e.tree_ for e in est.estimators_]
        n = len(trees)

        def forest(Xs: np.ndarray) -> np.ndarray:
            X32 = Xs.astype(np.float32)
            acc = np.zeros((len(X32), 2))
            for tree in trees:
                acc += tree.predict(X32)[:, :2]
            acc /= n
            return acc[:, 1]

        return forest
    return None


def compile_scorer(model: Any) -> Scorer:
    """A function equal to ``model.predict_proba(X)[:, 1]`` without sklearn's per-call checks.

    Parameters
    ----------
    model : fitted estimator
        Typically a ``Pipeline([("scaler", StandardScaler()), ("model", estimator)])`` from
        ``tinybots.modeling.make_model``; anything with ``predict_proba`` works (fallback).

    Returns
    -------
    Scorer
        ``scorer(X)`` with X float64 of shape (n, n_features), finite; returns shape (n,).
        Has an attribute ``compiled`` (bool): False when it is the ``predict_proba`` fallback.
    """
    from sklearn.pipeline import Pipeline

    fn: Callable[[np.ndarray], np.ndarray] | None = None
    if type(model) is Pipeline and len(model.steps) == 2:
        scale, est = _scaler_fn(model.steps[0][1]), _estimator_fn(model.steps[1][1])
        if scale is not None and est is not None:
            fn = _compose(scale, est)
    if fn is None:
        fn = _fallback(model)
        fn.compiled = False  # type: ignore[attr-defined]
    else:
        fn.compiled = True  # type: ignore[attr-defined]
    return fn


def _compose(
    scale: Callable[[np.ndarray], np.ndarray], est: Callable[[np.ndarray], np.ndarray]
) -> Scorer:
    def scorer(X: np.ndarray) -> np.ndarray:
        return est(scale(X))

    return scorer


def _fallback(model: Any) -> Scorer:
    def scorer(X: np.ndarray) -> np.ndarray:
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return model.predict_proba(X)[:, 1]

    return scorer
