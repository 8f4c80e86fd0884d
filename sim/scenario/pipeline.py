"""Scenario blocks of what the pipeline's bots decide and how a run is computed: the
alert-service's policy, the model trained before the run, the engine's fast paths."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.scenario.base import Frozen as _Frozen

__all__ = ["AlertSpec", "EngineSpec", "ModelSpec"]


class AlertSpec(_Frozen):
    """Alert when score >= ``threshold``, at most ``cards_per_day`` cards per event day."""

    threshold: float = Field(0.5, ge=0.0, le=1.0)
    cards_per_day: int = Field(100, ge=0, le=10_000_000)


class ModelSpec(_Frozen):
    """The model: ``kind`` trained on ``train_days`` ending ``gap_days`` before the live day."""

    kind: Literal[
        "logistic_regression", "decision_tree_depth_2", "decision_tree", "random_forest"
    ] = "logistic_regression"
    train_days: int = Field(7, ge=1, le=365)
    gap_days: int = Field(7, ge=0, le=365)


class EngineSpec(_Frozen):
    """How the run is computed, not what it models (``sim.engine``).

    ``fast_paths``: ``auto`` plays the ingestor and the label feed from precomputed schedules
    wherever they give the same run as their event-driven models; ``off`` forces the event
    models everywhere (slower; for checking the fast paths and for studying the model itself).
    """

    fast_paths: Literal["auto", "off"] = "auto"
