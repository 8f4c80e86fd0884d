"""Notebooks under papermill: every parameter is listed, every notebook runs headless with no
cell waiting out its timeout, and the what-if panel (sim.analysis.panels) never stalls a
headless run.

Each notebook runs once here (quick mode); ``benchmarks/papermill_soak.py`` runs each ten times.
"""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

papermill = pytest.importorskip("papermill")  # in the test extra

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _parameters(path: Path) -> dict[str, str]:
    """Name → annotation of each assignment in the notebook's ``parameters`` cell."""
    nb = json.loads(path.read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    tree = ast.parse("".join(cell["source"]))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign):
            out.update({t.id: "" for t in node.targets if isinstance(t, ast.Name)})
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_help_notebook_lists_every_parameter_with_type_and_help(path: Path) -> None:
    wanted = _parameters(path)
    assert wanted, "the parameters cell assigns nothing"
    listed = papermill.inspect_notebook(str(path))
    missing = sorted(set(wanted) - set(listed))
    assert not missing, f"papermill --help-notebook does not list {missing} (a '=' in a comment?)"
    for name, annotation in wanted.items():
        assert annotation, f"{name}: give it a type annotation"
        assert listed[name]["inferred_type_name"] == annotation, name
        assert listed[name]["help"], f"{name}: give it a comment (papermill's help)"


def test_slider_panel_shows_the_view_and_follows_the_slider() -> None:
    import ipywidgets as widgets

    from sim.analysis.panels import slider_panel

    plt.close("all")  # figures other tests of this process left open are not the panel's
    calls = []

    def view(n: int) -> list:
        calls.append(n)
        fig, ax = plt.subplots()
        ax.plot([0, n])
        return [fig, f"n = {n}", {"n": n}]

    slider = widgets.IntSlider(value=2, min=1, max=5, continuous_update=False)
    panel = slider_panel(slider, view)
    out = panel.children[1]
    assert calls == [2] and panel.children[0] is slider
    kinds = [o["output_type"] for o in out.outputs]
    assert kinds == ["display_data", "stream", "display_data"]
    assert "image/png" in out.outputs[0]["data"] and out.outputs[1]["text"] == "n = 2\n"
    assert not plt.get_fignums(), "the panel closes the figures it shows"
    slider.value = 4
    assert calls == [2, 4] and out.outputs[1]["text"] == "n = 4\n"

    def broken(n: int) -> list:
        raise ValueError(f"no view for {n}")

    with pytest.raises(ValueError, match="no view for 2"):
        slider_panel(widgets.IntSlider(value=2, min=1, max=5), broken)
    slider2 = widgets.IntSlider(value=2, min=1, max=5)
    panel2 = slider_panel(slider2, lambda n: [f"n = {n}"] if n == 2 else broken(n))
    slider2.value = 3  # a failing callback shows its error in the panel, it does not vanish
    assert "no view for 3" in panel2.children[1].outputs[0]["text"]


def test_panel_cell_under_nbclient_does_not_wait_out_its_timeout() -> None:
    """Under nbclient, captured Output-widget output (``interact``, ``with out:``) makes the
    client send messages on the shell channel while it waits there for the cell's reply; a lost
    wake-up then holds the cell until the timeout. The panel sets outputs as widget state."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import ipywidgets as widgets\n"
        "from sim.analysis.panels import slider_panel\n"
        "slider_panel(widgets.IntSlider(value=3, min=1, max=8),\n"
        "             lambda n: [f'line {i} of view {n}' for i in range(40)])\n"
    )]
    timeout = 60
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3").execute()
    assert time.perf_counter() - t0 < timeout / 2
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    outputs = [m["state"]["outputs"] for m in state.values() if m["model_name"] == "OutputModel"]
    assert len(outputs) == 1 and len(outputs[0]) == 40  # saved for the rendered notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_headless_under_papermill(path: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TINYBOTS_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path), str(out), parameters={"quick": True}, kernel_name="python3",
        execution_timeout=CELL_TIMEOUT_S, cwd=str(path.parent), progress_bar=False,
    )
    nb = json.loads(out.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code)
    slowest = max(code, key=lambda c: c["metadata"]["papermill"]["duration"] or 0.0)
    took = slowest["metadata"]["papermill"]["duration"]
    assert took < CELL_TIMEOUT_S / 3, f"a cell waited {took:.0f} s: {slowest['source'][:80]!r}"
