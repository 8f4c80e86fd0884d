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
        # captured Output-widget output can stall nbclient / papermill (see sim.analysis.panels)
        capture = re.search(r"\binteract\w*\(|\binteractive\(|\.capture\(", src)
        use = "use sim.analysis.panels.slider_panel"
        assert not capture, f"{use}, not {capture[0]!r}: {src[:60]!r}"


def _markdown(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "markdown"]


def test_next_links_make_a_path() -> None:
    """Each notebook's **Next:** paragraph links only to later notebooks (00 -> 01 -> end)."""
    for path in NOTEBOOKS:
        nexts = [m.split("**Next:**", 1)[1].split("\n\n")[0]
                 for m in _markdown(path) if "**Next:**" in m]
        assert len(nexts) == 1, f"{path.name}: one **Next:** paragraph"
        for target in re.findall(r"\]\(([^)]+\.ipynb)\)", nexts[0]):
            assert target > path.name, f"{path.name}: Next links back to {target}"


def test_docs_need_no_shared_folder_and_use_with_changes() -> None:
    root = NOTEBOOKS[0].parents[1]
    readme = (root / "README.md").read_text()
    assert "../shared" not in readme, "README: someone cloning the repository has no ../shared"
    assert "Results.load" in readme and "help(sim.record.results)" in readme
    texts = [readme] + ["".join(c["source"]) for p in NOTEBOOKS
                        for c in json.loads(p.read_text())["cells"]]
    assert not [t[:60] for t in texts if "model_copy" in t], "what-ifs: use with_changes"


def test_notebook_01_promises_only_what_00_covers() -> None:
    text = " ".join(_markdown(NOTEBOOKS[1]))
    assert "failures" not in text.split("**Next:**", 1)[1], "00 does not cover failures"
