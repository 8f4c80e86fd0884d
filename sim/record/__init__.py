"""Recording a run: the ledger, the monitor, time-weighted levels, frames, results, progress.

- ``ledger``: per-transaction state and outcomes, spans, conservation;
- ``monitor``: Prometheus-style metrics sampled every ``monitoring_interval_s``;
- ``timeweighted``: exact time integrals of levels (utilisation, queue depth);
- ``frames``: a finished system turned into tidy frames and the summary;
- ``results``: ``Results`` (save / load a results folder) and the summary's keys;
- ``outfolder``: replacing a results folder without losing data;
- ``progress``: the progress bar and status lines.
"""

from __future__ import annotations

__all__: list[str] = []
