"""The handbook's 15 model inputs: one definition, computed offline and online.

- :func:`compute_features` (``offline``): a whole raw table at once with pandas/numpy, for
  training and for the published-data check.
- :class:`FeatureStore` (``store``): per-transaction updates for the feature-enricher
  service, with labels arriving after their delay through the label feed.

Definitions: Le Borgne et al. (2022), *Reproducible Machine Learning for Credit Card Fraud
Detection - Practical Handbook*, ch. 3 "Baseline feature transformation". Column names come
from :mod:`tinybots.schema`.
"""

from __future__ import annotations

from tinybots.features._checks import REQUIRED_COLUMNS, feature_columns
from tinybots.features.offline import compute_features
from tinybots.features.store import FeatureStore

__all__ = ["REQUIRED_COLUMNS", "FeatureStore", "compute_features", "feature_columns"]
