"""Digests of the frames of every preset on a fixed seed, to show that a change leaves runs as
they were ("behaviour unchanged").

``python tests/frame_digests.py`` prints the digests as JSON; ``--write`` records them in
``tests/golden/frame_digests.json`` (do that only on the code whose behaviour is the reference,
and say so in the commit). ``tests/test_frames_unchanged.py`` compares a run of today's code
with the recorded digests.

A digest is the SHA-256 of ``pandas.util.hash_pandas_object`` over each frame's rows (index
left out), column names and dtypes included; the summary's ``wall_s`` (wall-clock time) is left
out. The numbers are exact (no tolerance): the same code on the same kind of machine gives the
same bits. A different BLAS could move the trained model's last bits, so the digests are of
this project's machines (CI's), not of every machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

GOLDEN = Path(__file__).with_name("golden") / "frame_digests.json"
SEED = 0
"""Root seed of every recorded run (each preset's own seed is replaced by it)."""


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 (hex, first 16 characters) of a frame's columns, dtypes and row hashes."""
    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    if len(frame):
        rows = pd.util.hash_pandas_object(frame, index=False).to_numpy(np.uint64)
        h.update(rows.tobytes())
    return h.hexdigest()[:16]


def run_digests(preset: str, **changes: object) -> dict[str, str]:
    """Digest of each frame of ``preset`` run on :data:`SEED` (plus dotted ``changes``)."""
    from sim import load_preset, run, with_changes
    from sim.record.results import FRAMES

    sc = with_changes(load_preset(preset), "seed", SEED)
    for path, value in changes.items():
        sc = with_changes(sc, path.replace("__", "."), value)
    res = run(sc, progress=False)
    out = {}
    for name in FRAMES:
        frame = getattr(res, name)
        if name == "summary":
            frame = frame.drop(columns=["wall_s"])
        out[name] = frame_digest(frame)
    return out


def main(argv: list[str] | None = None) -> int:
    from sim import preset_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"record them in {GOLDEN}")
    args = parser.parse_args(argv)
    digests = {name: run_digests(name) for name in preset_names()}
    text = json.dumps(digests, indent=2, sort_keys=True) + "\n"
    if args.write:
        GOLDEN.write_text(text)
        print(f"recorded {len(digests)} presets in {GOLDEN}", file=sys.stderr)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
