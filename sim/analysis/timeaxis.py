"""The event time of day on a processing-time axis, and the event window a replay covers.

A run's x axis is processing time (s since the start); the workload maps it onto event time:
event time of day = ``live_start_hour`` × 3600 + ``speedup`` × processing time (replay and
Poisson workloads alike). :func:`event_time_axis` draws that as a secondary axis on top of a
dashboard panel (HH:MM ticks at a round step); :func:`window_note` is the title's line naming the
replayed window.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from sim.record.results import Results

__all__ = ["clock_text", "event_clock", "event_time_axis", "finish_run_figure", "window_note"]

_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


def window_note(results: Results) -> str:
    """The title line naming the event-time window a replay run covers and its speedup;
    ``""`` for other workloads."""
    w = results.scenario.workload
    start = getattr(w, "live_start_hour", None)
    duration = getattr(w, "live_duration_s", None)
    speedup = getattr(w, "speedup", None)
    if getattr(w, "kind", "replay") != "replay" or None in (start, duration, speedup):
        return ""
    day = getattr(w, "live_start_day", None)
    hh, mm = divmod(round(start * 60), 60)
    when = f"day {day} {hh:02d}:{mm:02d}" if day is not None else f"{hh:02d}:{mm:02d}"
    return (
        f"\nreplays {duration / 3600:g} h of event time from {when}, "
        f"{speedup:g}x faster than real time"
    )


def event_clock(results: Results) -> tuple[float, float] | None:
    """``(start, speedup)``: event time of day (s after midnight) = start + speedup × processing s.

    From the workload's ``live_start_hour`` and ``speedup`` (replay and Poisson workloads alike:
    the live window starts on a midnight plus ``live_start_hour``); ``None`` without them.
    """
    w = results.scenario.workload
    hour, speedup = getattr(w, "live_start_hour", None), getattr(w, "speedup", None)
    if hour is None or not speedup or not math.isfinite(speedup):
        return None
    return float(hour) * 3600.0, float(speedup)


def clock_text(event_s: float, seconds: bool) -> str:
    """``event_s`` (s after the first midnight) as ``HH:MM`` (``HH:MM:SS`` when ``seconds``),
    with ``+Nd`` on a later day.

    >>> clock_text(36000.0, False), clock_text(86400.0 + 61.0, True)
    ('10:00', '00:01:01 +1d')
    """
    day, rest = divmod(round(event_s), 86400)
    hh, rest = divmod(rest, 3600)
    mm, ss = divmod(rest, 60)
    text = f"{hh:02d}:{mm:02d}" + (f":{ss:02d}" if seconds else "")
    return text if day == 0 else f"{text} {'+' if day > 0 else ''}{day}d"


def event_time_axis(ax: Axes, clock: tuple[float, float], end_s: float) -> Axes:
    """A secondary x axis on top of ``ax`` labelled with the event time of day (HH:MM)."""
    start, speedup = clock
    sec = ax.secondary_xaxis(
        "top", functions=(lambda t: start + speedup * t, lambda e: (e - start) / speedup)
    )
    span = max(end_s, 1e-9) * speedup
    step = next((st for st in _STEPS_S if span / st <= 7), 86400 * math.ceil(span / 86400 / 7))
    sec.xaxis.set_major_locator(MultipleLocator(step))
    sec.xaxis.set_major_formatter(FuncFormatter(lambda e, _pos: clock_text(e, step < 60)))
    sec.set_xlabel(f"event time of day ({speedup:g} s of event time per s)", fontsize=8)
    sec.tick_params(labelsize=8)
    return sec


def finish_run_figure(fig: Figure, results: Results, top: list[Axes], title: str,
                      path: str | Path | None) -> Figure:
    """Finish a figure of a run: the event time of day on top of each axes of ``top``
    (:func:`event_time_axis`, when the run has a clock and samples), ``title`` above, a tight
    layout; saved to ``path`` (PNG, 90 dpi) and closed when given. Returns ``fig``."""
    m = results.metrics
    end_s = float(m["time_s"].max()) if len(m) else 0.0
    clock = event_clock(results)
    if clock is not None and end_s > 0:
        for ax in top:
            event_time_axis(ax, clock, end_s)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return fig
