"""Analysis of runs: queueing theory (``theory``, ``networks``), confidence intervals
(``stats``), plots and tables (``plots``), the dashboard (``dashboard``) and widget panels
(``panels``). Import from the modules (``from sim.analysis.theory import erlang_c``)."""

from __future__ import annotations

__all__: list[str] = []
