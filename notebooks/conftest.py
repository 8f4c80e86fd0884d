"""nbval settings for the notebooks: compare what matters, not what legitimately varies.

stderr (progress bars, warnings) and vector images (SVG/PDF embed timestamps) are not compared;
PNG images are skipped by nbval itself. Notebooks run in "quick" mode under CI through
``TINYBOTS_QUICK=1``, which their parameters cells read.
"""

from __future__ import annotations

import os

from nbformat import NotebookNode
from nbval.plugin import IPyNbCell

os.environ.setdefault("TINYBOTS_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

_original_compare = IPyNbCell.compare_outputs
_SKIP_DATA = ("image/svg+xml", "application/pdf")


def _drop_varying(outputs: list[dict]) -> list[dict]:
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            continue
        if "data" in out:
            data = {k: v for k, v in out["data"].items() if k not in _SKIP_DATA}
            out = NotebookNode({**out, "data": NotebookNode(data)})  # nbval reads attributes
        kept.append(out)
    return kept


def _compare_without_stderr(self, test, ref, skip_compare=None):  # type: ignore[no-untyped-def]
    return _original_compare(self, _drop_varying(test), _drop_varying(ref), skip_compare)


IPyNbCell.compare_outputs = _compare_without_stderr  # type: ignore[method-assign]
