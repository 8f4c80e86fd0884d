"""Model registry: versions, disk round trip, and refusal of untrusted model files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tinybots.errors import InputError
from tinybots.modeling import make_model
from tinybots.registry import ModelRegistry, UntrustedModelError, load_model

FEATURES = ("a", "b", "c")
RNG_X = np.random.default_rng(0).normal(size=(80, 3))
Y = (RNG_X[:, 0] > 0.3).astype(int)


def fitted(name: str) -> Pipeline:
    return make_model(name).fit(RNG_X, Y)


def register(reg: ModelRegistry, name: str, auc: float):
    return reg.register(
        fitted(name), kind=name, training_window=("2018-07-25", dt.date(2018, 7, 31)),
        features=FEATURES, metrics={"auc_roc": auc},
    )


def test_versions_increase_and_latest_is_default() -> None:
    reg = ModelRegistry()
    v1 = register(reg, "logistic_regression", 0.8)
    v2 = register(reg, "decision_tree_depth_2", 0.7)
    assert (v1.version, v2.version) == (1, 2)
    assert reg.get() is v2 and reg.get(1) is v1
    table = reg.versions()
    assert table["version"].tolist() == [1, 2]
    assert table["kind"].tolist() == ["logistic_regression", "decision_tree_depth_2"]
    assert table["auc_roc"].tolist() == [0.8, 0.7]
    with pytest.raises(KeyError, match="no model version 7"):
        reg.get(7)


def test_empty_registry() -> None:
    reg = ModelRegistry()
    assert len(reg) == 0 and reg.versions().empty
    with pytest.raises(KeyError, match="empty"):
        reg.get()


def test_records_are_immutable() -> None:
    entry = register(ModelRegistry(), "logistic_regression", 0.8)
    with pytest.raises(AttributeError):
        entry.version = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        entry.metrics["auc_roc"] = 1.0  # type: ignore[index]


def test_disk_round_trip(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "models")
    names = ["logistic_regression", "decision_tree", "random_forest"]
    originals = [register(reg, name, 0.5 + i / 10) for i, name in enumerate(names)]
    back = ModelRegistry.load(tmp_path / "models")
    assert len(back) == 3
    for orig in originals:
        got = back.get(orig.version)
        assert got == orig  # metadata (the model is excluded from equality)
        np.testing.assert_array_equal(
            got.model.predict_proba(RNG_X), orig.model.predict_proba(RNG_X)
        )
    assert register(back, "decision_tree_depth_2", 0.9).version == 4  # numbering continues
    meta = json.loads((tmp_path / "models" / "v0004" / "meta.json").read_text())
    assert meta["training_window"] == ["2018-07-25", "2018-07-31"]


class Sneaky(TransformerMixin, BaseEstimator):
    """Stands for arbitrary code a tampered file would make the loader import."""

    def fit(self, x, y=None):
        return self

    def transform(self, x):
        return x


def test_tampered_file_with_untrusted_type_is_rejected(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    register(reg, "logistic_regression", 0.8)
    bad = Pipeline([("scaler", StandardScaler()), ("model", Sneaky())]).fit(RNG_X, Y)
    sio.dump(bad, tmp_path / "v0001" / "model.skops")
    with pytest.raises(UntrustedModelError, match="Sneaky"):
        ModelRegistry.load(tmp_path)


def test_trusted_but_foreign_estimator_is_rejected(tmp_path: Path) -> None:
    nb = Pipeline([("model", GaussianNB())]).fit(RNG_X, Y)
    sio.dump(nb, tmp_path / "nb.skops")
    with pytest.raises(UntrustedModelError, match="GaussianNB"):
        load_model(tmp_path / "nb.skops")
    with pytest.raises(InputError, match="GaussianNB"):
        ModelRegistry().register(nb, kind="nb", training_window=("2018-01-01", "2018-01-02"),
                                 features=FEATURES, metrics={})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"training_window": ("2018-08-01", "2018-07-01")}, "after its end"),
        ({"training_window": ("yesterday", "2018-07-01")}, "ISO dates"),
        ({"metrics": {"auc_roc": "high"}}, "auc_roc"),
        ({"features": ()}, "features"),
        ({"kind": ""}, "kind"),
    ],
)
def test_bad_metadata_is_rejected(kwargs: dict, message: str) -> None:
    args = {"kind": "lr", "training_window": ("2018-07-25", "2018-07-31"),
            "features": FEATURES, "metrics": {"auc_roc": 0.8}} | kwargs
    with pytest.raises(InputError, match=message):
        ModelRegistry().register(fitted("logistic_regression"), **args)


def test_load_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ModelRegistry.load(tmp_path / "absent")
