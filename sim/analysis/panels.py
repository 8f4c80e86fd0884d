"""What-if panels for the notebooks: a slider above an Output widget, safe to run headless.

:func:`slider_panel` wires a slider to a plain view function and shows what the function returns
(figures, tables, text) in an ``ipywidgets.Output`` by setting the widget's ``outputs`` directly,
once when the panel is built and again on every change of the slider.

Why not ``ipywidgets.interact`` (or ``with output:`` capture): captured output makes nbclient
(which papermill and ``jupyter nbconvert --execute`` use) mimic the Output widget and send a
``comm_msg`` back to the kernel on the shell channel for every output, while it is waiting on
that same channel for the cell's ``execute_reply``. When one of those sends races with the
reply, the reply's wake-up is lost and it is read only when the wait times out: the cell
"hangs" for the whole execution timeout, for good under papermill's default of none (seen as
about one run in ten of notebook 00, kernel idle). Outputs set as the widget's state are
plain comm messages from the kernel: nbclient records them and sends nothing back.
"""

from __future__ import annotations

import base64
import io
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["output_items", "slider_panel"]


def _figure_output(fig: Figure) -> dict[str, Any]:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    plt.close(fig)  # or the inline backend shows it a second time at the end of the cell
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                 "text/plain": f"<Figure size {fig.bbox.width:g}x{fig.bbox.height:g}>"},
        "metadata": {},
    }


def output_items(items: Iterable[object]) -> tuple[dict[str, Any], ...]:
    """Jupyter output records (nbformat v4 dicts) for the objects of ``items``, in order.

    A ``str`` becomes stdout text (a newline is added); a matplotlib ``Figure`` a PNG (and the
    figure is closed); an object with ``_repr_html_`` (a pandas DataFrame) HTML plus its
    ``repr``; anything else its ``repr``.

    >>> [o["output_type"] for o in output_items(["hello", 3])]
    ['stream', 'display_data']
    """
    outs: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            outs.append({"output_type": "stream", "name": "stdout", "text": item + "\n"})
        elif isinstance(item, Figure):
            outs.append(_figure_output(item))
        else:
            data = {"text/plain": repr(item)}
            html = getattr(item, "_repr_html_", None)
            if callable(html) and (rendered := html()) is not None:
                data["text/html"] = rendered
            outs.append({"output_type": "display_data", "data": data, "metadata": {}})
    return tuple(outs)


def slider_panel(
    slider: widgets.ValueWidget, view: Callable[[Any], Iterable[object]]
) -> widgets.VBox:
    """``slider`` above an ``Output`` that shows ``view(slider.value)`` (see :func:`output_items`).

    The view is called once now (an error raises) and again whenever the slider's value changes
    (an error is shown in the Output, as text); its items replace the Output's contents.
    Display the returned box (the last expression of a cell, or ``display(panel)``).
    In tests, set ``slider.value`` and read ``panel.children[1].outputs``.

    Parameters
    ----------
    slider : ipywidgets value widget
        Give it explicit ``min``/``max`` and ``continuous_update=False`` when the view is slow.
    view : callable
        ``view(value)`` returns the objects to show, e.g. ``[figure, "a line", table]``.
    """
    out = widgets.Output()

    def refresh(change: object = None) -> None:
        try:
            out.outputs = output_items(view(slider.value))
        except Exception:
            out.outputs = ({"output_type": "stream", "name": "stderr",
                            "text": traceback.format_exc()},)

    out.outputs = output_items(view(slider.value))
    slider.observe(refresh, names="value")
    return widgets.VBox([slider, out])
