"""A small model registry: numbered model versions with their metadata.

What is here: numbered versions (1, 2, ... in registration order, numbering continued from a
stored registry), each with its fitted pipeline and metadata; lookups of the latest version or
of a pinned one (:meth:`ModelRegistry.get`); a table of every version
(:meth:`ModelRegistry.versions`). In a simulated run the detector's model is trained once before
the run (``sim.services.warmup``), registered here, and the fraud-detector serves that one
version for the whole run (its number is each scored row's ``model_version``).

Not here yet: hot-swapping the model of a running detector when a new version is registered
(a retrain on drift, a rollout or a rollback) is future work, built by the drift issue together
with the model-training and orchestrator services (``docs/architecture.md``, "Services").

Versions live in memory and, when a root folder is given, also on disk, one folder per
version::

    root/v0001/model.skops   the fitted pipeline, serialised with skops (no pickle)
    root/v0001/meta.json     version, kind, training window, features, metrics, created time

Loading never unpickles: ``skops.io`` rebuilds objects from a JSON schema, and this module trusts
only the scikit-learn types the baseline pipelines are made of (see :data:`ALLOWED_TYPES`). A file
naming any other type is rejected with :class:`UntrustedModelError` before anything is built.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from tinybots.errors import InputError
from tinybots.paths import publish

ALLOWED_TYPES: tuple[str, ...] = ("sklearn.tree._tree.Tree",)
"""Types trusted on top of skops' defaults: the tree structure inside our tree models."""

ALLOWED_STEPS: tuple[type, ...] = (
    StandardScaler,
    LogisticRegression,
    DecisionTreeClassifier,
    RandomForestClassifier,
)
"""Estimator classes a loaded pipeline may contain (the baseline models of tinybots.modeling)."""

_MODEL_FILE = "model.skops"
_META_FILE = "meta.json"


class UntrustedModelError(InputError):
    """A stored model names a type outside the trusted set; it was not loaded."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version.

    Attributes
    ----------
    version : int
        1, 2, 3, ... in registration order.
    kind : str
        Model name, e.g. ``random_forest`` (see ``tinybots.modeling.BASELINE_MODELS``).
    training_window : tuple of datetime.date
        First and last training day (inclusive).
    features : tuple of str
        Model inputs, in the order the model consumes them.
    metrics : Mapping[str, float]
        Evaluation results (read-only), e.g. ``auc_roc``, ``card_precision_at_100``.
    created_at : datetime.datetime
        Registration time (UTC unless given otherwise).
    model : sklearn.pipeline.Pipeline
        The fitted model (excluded from equality and repr).
    """

    version: int
    kind: str
    training_window: tuple[dt.date, dt.date]
    features: tuple[str, ...]
    metrics: Mapping[str, float]
    created_at: dt.datetime
    model: Pipeline = field(compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Metadata as a JSON-ready dict (without the model)."""
        return {
            "version": self.version,
            "kind": self.kind,
            "training_window": [d.isoformat() for d in self.training_window],
            "features": list(self.features),
            "metrics": dict(self.metrics),
            "created_at": self.created_at.isoformat(),
        }


class ModelRegistry:
    """Numbered model versions, in memory and optionally on disk.

    Parameters
    ----------
    root : pathlib.Path or None
        Folder for the on-disk copy (created if absent). Versions already stored there are
        loaded, so numbering continues. ``None`` keeps everything in memory.

    Raises
    ------
    UntrustedModelError
        If a stored model names a type outside :data:`ALLOWED_TYPES` / :data:`ALLOWED_STEPS`.
    InputError
        If a version folder ``vNNNN`` is damaged (missing or unreadable ``meta.json`` or
        ``model.skops``, missing keys) or its metadata names another version. Other entries
        of ``root`` (files, temporary folders) are ignored.
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self._versions: dict[int, ModelVersion] = {}
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
            for folder in sorted(self.root.glob("v[0-9]*")):
                if folder.is_dir() and folder.name[1:].isdigit():
                    entry = _read_version(folder)
                    self._versions[entry.version] = entry

    @classmethod
    def load(cls, root: Path | str) -> ModelRegistry:
        """Open an existing registry folder; raises FileNotFoundError if it does not exist."""
        if not Path(root).is_dir():
            raise FileNotFoundError(f"model registry folder not found: {root}")
        return cls(root)

    def register(
        self,
        model: Pipeline,
        *,
        kind: str,
        training_window: tuple[dt.date | str, dt.date | str],
        features: Sequence[str],
        metrics: Mapping[str, float],
        created_at: dt.datetime | None = None,
    ) -> ModelVersion:
        """Add a fitted model as the next version and return its record.

        Parameters
        ----------
        model : sklearn.pipeline.Pipeline
            Fitted pipeline made of :data:`ALLOWED_STEPS`.
        kind : str
            Non-empty model name.
        training_window : (start, end)
            First and last training day, dates or ISO strings, start <= end.
        features : sequence of str
            Non-empty list of input columns.
        metrics : mapping of str to float
            Evaluation results.
        created_at : datetime.datetime, optional
            Registration time; default now (UTC). Simulations pass their own clock.

        Raises
        ------
        InputError
            On an empty kind or features, a reversed window, a non-numeric metric, or a model
            outside the allowed pipeline types.
        """
        _check_model(model)
        if not isinstance(kind, str) or not kind:
            raise InputError(f"kind must be a non-empty string, got {kind!r}")
        if not features or any(not isinstance(f, str) for f in features):
            raise InputError("features must be a non-empty sequence of column names")
        entry = ModelVersion(
            version=max(self._versions, default=0) + 1,
            kind=kind,
            training_window=_window(training_window),
            features=tuple(features),
            metrics=MappingProxyType(_metrics(metrics)),
            created_at=created_at or dt.datetime.now(dt.UTC),
            model=model,
        )
        if self.root is not None:
            _write_version(self.root, entry)
        self._versions[entry.version] = entry
        return entry

    def get(self, version: int | None = None) -> ModelVersion:
        """The given version, or the latest when ``version`` is None.

        Raises
        ------
        KeyError
            If the registry is empty or the version does not exist.
        """
        if not self._versions:
            raise KeyError("the model registry is empty")
        key = max(self._versions) if version is None else version
        if key not in self._versions:
            raise KeyError(f"no model version {version}; known: {sorted(self._versions)}")
        return self._versions[key]

    def versions(self) -> pd.DataFrame:
        """One row per version: ``version``, ``kind``, ``train_start``, ``train_end``,
        ``n_features``, ``created_at``, then one column per metric name."""
        rows = [
            {
                "version": e.version,
                "kind": e.kind,
                "train_start": e.training_window[0],
                "train_end": e.training_window[1],
                "n_features": len(e.features),
                "created_at": e.created_at,
                **e.metrics,
            }
            for e in sorted(self._versions.values(), key=lambda e: e.version)
        ]
        base = ["version", "kind", "train_start", "train_end", "n_features", "created_at"]
        return pd.DataFrame(rows, columns=None if rows else base)

    def __len__(self) -> int:
        return len(self._versions)


def _check_model(model: object) -> None:
    if not isinstance(model, Pipeline):
        raise InputError(f"model must be an sklearn Pipeline, got {type(model).__name__}")
    for name, step in model.steps:
        if type(step) not in ALLOWED_STEPS:
            allowed = ", ".join(t.__name__ for t in ALLOWED_STEPS)
            raise InputError(
                f"pipeline step {name!r} is a {type(step).__name__}; allowed: {allowed}"
            )


def _window(window: tuple[dt.date | str, dt.date | str]) -> tuple[dt.date, dt.date]:
    try:
        start, end = (d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))
                      for d in window)
    except (TypeError, ValueError) as exc:
        raise InputError(f"training_window must be (start, end) ISO dates, got {window!r}") from exc
    if isinstance(start, dt.datetime):
        start = start.date()
    if isinstance(end, dt.datetime):
        end = end.date()
    if start > end:
        raise InputError(f"training_window start {start} is after its end {end}")
    return start, end


def _metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError) as exc:
            raise InputError(f"metric {key!r} must be a number, got {value!r}") from exc
    return out


def _write_version(root: Path, entry: ModelVersion) -> None:
    folder = root / f"v{entry.version:04d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    sio.dump(entry.model, tmp / _MODEL_FILE)
    (tmp / _META_FILE).write_text(json.dumps(entry.to_json(), indent=2))
    publish(tmp, folder)  # a version appears whole or not at all


def _read_version(folder: Path) -> ModelVersion:
    """Read one version folder; any damage is an :class:`InputError` naming the folder."""
    try:
        meta = json.loads((folder / _META_FILE).read_text())
        entry = ModelVersion(
            version=int(meta["version"]),
            kind=str(meta["kind"]),
            training_window=_window(tuple(meta["training_window"])),
            features=tuple(meta["features"]),
            metrics=MappingProxyType({k: float(v) for k, v in meta["metrics"].items()}),
            created_at=dt.datetime.fromisoformat(meta["created_at"]),
            model=load_model(folder / _MODEL_FILE),
        )
    except UntrustedModelError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
        raise InputError(
            f"model registry folder {folder} is damaged or not ours "
            f"({type(exc).__name__}: {exc}); expected {_META_FILE} and {_MODEL_FILE}"
        ) from exc
    if entry.version != int(folder.name[1:]):
        raise InputError(
            f"model registry folder {folder} holds version {entry.version} in {_META_FILE}; "
            f"expected {int(folder.name[1:])}"
        )
    return entry


def load_model(path: Path | str) -> Pipeline:
    """Load a skops model file, trusting only the baseline pipeline types.

    Raises
    ------
    UntrustedModelError
        If the file names a type that skops does not trust by default and that is not in
        :data:`ALLOWED_TYPES`, or if it holds something other than a pipeline of
        :data:`ALLOWED_STEPS`. Nothing untrusted is constructed.
    """
    untrusted = sio.get_untrusted_types(file=path)
    rejected = sorted(set(untrusted) - set(ALLOWED_TYPES))
    if rejected:
        raise UntrustedModelError(
            f"model file {path} contains untrusted type(s) {rejected}; "
            f"only sklearn defaults plus {list(ALLOWED_TYPES)} are loaded"
        )
    model = sio.load(path, trusted=list(untrusted))
    try:
        _check_model(model)
    except InputError as exc:
        raise UntrustedModelError(f"model file {path}: {exc}") from exc
    return model


__all__ = [
    "ALLOWED_STEPS",
    "ALLOWED_TYPES",
    "ModelRegistry",
    "ModelVersion",
    "UntrustedModelError",
    "load_model",
]
