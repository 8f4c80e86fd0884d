"""Lint the committed notebooks' JSON: executed, deterministic-friendly and papermill-ready."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert re.match(r"^\d\d_[a-z0-9_]+\.ipynb$", path.name), "notebooks are numbered as a path"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one code cell tagged 'parameters'"
    assert code.index(tagged[0]) == 0, "the parameters cell is the first code cell"
    for cell in code:
        src = "".join(cell["source"])
        assert cell["execution_count"] is not None, f"unexecuted cell: {src[:60]!r}"
        network = re.search(r"%pip|!pip|!curl|https?://", src)
        assert not network, f"network/pip in a code cell: {src[:60]!r}"
        assert not any(o.get("output_type") == "error" for o in cell.get("outputs", [])), src[:60]
        if re.search(r"\binteract\w*\(|widgets\.", src):
            marked = src.lstrip().startswith("# NBVAL_IGNORE_OUTPUT\n")
            assert marked, f"widget cell lacks marker: {src[:60]!r}"
        # captured Output-widget output can stall nbclient / papermill (see sim.panels)
        capture = re.search(r"\binteract\w*\(|\binteractive\(|\.capture\(", src)
        assert not capture, f"use sim.panels.slider_panel, not {capture[0]!r}: {src[:60]!r}"
