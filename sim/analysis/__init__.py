"""Analysis of runs: queueing theory (``theory``, ``networks``), confidence intervals
(``stats``), plots and tables (``plots``), the dashboard (``dashboard``; its bus and cluster
panels ``dashboard_bus``, ``dashboard_cluster``), the scaling figure
(``dashboard_cluster.plot_scaling``, its rows in ``scaling_panels``) and widget panels
(``panels``); SLOs and fault isolation (``isolation``, its SLI events in ``sli``); recovery
time after a fault (``recovery``). Import
from the modules (``from sim.analysis.theory import erlang_c``)."""

from __future__ import annotations

__all__: list[str] = []
