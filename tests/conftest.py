"""Shared fixtures: where the third-party handbook data lives (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HANDBOOK_ENV = "TINYBOTS_HANDBOOK_DATA"
RAW_FULL = "raw/transactions_raw_2018-04-01_2018-09-30.csv.gz"
RAW_BASELINE = "raw/transactions_raw_2018-07-25_2018-08-14.csv.gz"
TRANSFORMED_BASELINE = "transformed/transactions_transformed_2018-07-25_2018-08-14.csv.gz"


def handbook_dir() -> Path | None:
    """The handbook data folder: ``$TINYBOTS_HANDBOOK_DATA`` or ../shared/data/fraud_handbook."""
    env = os.environ.get(HANDBOOK_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data" / "fraud_handbook")
    for path in candidates:
        if (path / "raw").is_dir():
            return path
    return None


@pytest.fixture(scope="session")
def handbook_data() -> Path:
    """Path to the handbook data folder, or skip with the reason when it is absent."""
    path = handbook_dir()
    if path is None:
        pytest.skip(
            f"handbook data not found: set ${HANDBOOK_ENV} or place it at "
            "../shared/data/fraud_handbook "
            "(third-party validation data, not shipped with tinybots)"
        )
    return path
