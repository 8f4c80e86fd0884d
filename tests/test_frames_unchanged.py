"""Behaviour unchanged: every preset's frames on a fixed seed equal the digests recorded from
the reference code (``tests/golden/frame_digests.json``; see ``tests/frame_digests.py``)."""

from __future__ import annotations

import json

import pytest
from frame_digests import GOLDEN, run_digests

from sim import preset_names

RECORDED = json.loads(GOLDEN.read_text())


def test_every_preset_has_recorded_digests():
    assert sorted(RECORDED) == preset_names()


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(RECORDED))
def test_frames_equal_the_recorded_digests(preset):
    got = run_digests(preset)
    changed = sorted(k for k in RECORDED[preset] if got.get(k) != RECORDED[preset][k])
    assert not changed, f"{preset}: frames changed: {changed}"
