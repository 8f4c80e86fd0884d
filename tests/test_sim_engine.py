"""The fast paths are chosen in one place (sim.engine) and change nothing: every preset gives
the same frames with ``engine.fast_paths: auto`` and ``off`` (the event-driven models).

Equal exactly: ``transactions``, ``spans``, ``incidents``, ``models``, and the summary but for
``max_label_lag`` and ``wall_s``. The ``metrics`` frame has the same rows, and the same values
but for two listed differences, both of the instant of a sample:

- ``kafka_consumergroup_lag`` of the label feed: a sample falls on a publish tick of the label
  feed (``monitoring_interval_s`` is a multiple of ``labels.publish_interval_s``); the scheduled
  feed counts the labels due at that instant as published, the publisher process publishes them
  after the monitor's sample (SimPy's order of events at the same time). ``max_label_lag``
  follows from it. Likewise ``tinybots_arrivals_per_s`` and ``tinybots_ingress_queue_depth``
  when a replayed arrival falls on a sample instant (event seconds / ``speedup`` often do).
- time-weighted means (``*_mean``, ``tinybots_utilisation``): the schedule's prefix sums against
  a running integral, or the same integral accumulated in another order; a mean over an
  interval is a difference of two large integrals, so they agree to a relative 1e-6, not
  bit for bit. Every whole-number value (counts, lags, pods, depths) is equal exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import load_preset, preset_names, run, with_changes
from sim.engine import choose_paths

TIE_SERIES = {
    ("kafka_consumergroup_lag", "topic=labels,group=label-feed"),
    ("tinybots_arrivals_per_s", ""),
    ("tinybots_ingress_queue_depth", ""),
}


def test_off_forces_the_event_models_and_auto_says_why_not():
    base = load_preset("small")
    assert choose_paths(base).scheduled_ingress and choose_paths(base).scheduled_labels
    off = choose_paths(with_changes(base, "engine.fast_paths", "off"))
    assert not off.scheduled_ingress and not off.scheduled_labels
    bounded = with_changes(base, "topics.transactions.capacity_records", 100)
    paths = choose_paths(bounded)
    assert not paths.scheduled_ingress and "topics.transactions" in paths.reasons["ingress"]
    last = with_changes(bounded, "last_stage", "transaction_ingestor")
    assert choose_paths(last).scheduled_ingress  # nothing downstream can hold it back


@pytest.mark.slow
@pytest.mark.parametrize("preset", preset_names())
def test_fast_paths_off_gives_the_same_frames(preset):
    sc = with_changes(load_preset(preset), "seed", 0)
    auto = run(sc, progress=False)
    off = run(with_changes(sc, "engine.fast_paths", "off"), progress=False)
    for name in ("transactions", "spans", "incidents", "models"):
        pd.testing.assert_frame_equal(getattr(auto, name), getattr(off, name), check_exact=True)
    drop = ["wall_s", "max_label_lag"]
    pd.testing.assert_frame_equal(auto.summary.drop(columns=drop), off.summary.drop(columns=drop),
                                  check_exact=True)
    a, o = auto.metrics, off.metrics
    pd.testing.assert_frame_equal(a.drop(columns="value"), o.drop(columns="value"))
    series = list(zip(a["name"], a["labels"], strict=True))
    tie = np.array([k in TIE_SERIES for k in series])
    va, vo = a["value"].to_numpy()[~tie], o["value"].to_numpy()[~tie]
    whole = (va == np.round(va)) & (vo == np.round(vo))
    np.testing.assert_array_equal(va[whole], vo[whole])
    np.testing.assert_allclose(va[~whole], vo[~whole], rtol=1e-6, atol=1e-9)
