"""The rolling hot-swap of a model version across the fraud-detector's pods, and reading which
version each pod served over time.

:func:`rolling_swap` makes the version the champion at once (a pod that starts from then on
loads it), then walks the pods that serve: each loads it for ``model_load_s`` while it keeps
scoring with the version it has, then switches (Kubernetes' rolling update with
``maxUnavailable: 0``, done in place: no pod stops scoring; Seldon Core / KServe swap a
model's weights the same way). A newer swap (a rollback, the next version) supersedes one in
progress: its remaining pods are left to the newer one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from sim.process import ProcessGenerator

__all__ = ["pod_versions", "rolling_swap"]


def rolling_swap(env: Any, deployment: Any, handler: Any, version: int, model_load_s: float,
                 on_end: Callable[[], None] | None = None) -> ProcessGenerator:
    """Roll ``version`` out to ``deployment``'s pods one after another (a SimPy process body).

    ``handler`` is the deployment's ``DetectorHandler``; ``on_end`` is called when every pod
    that served at the start has loaded it (not when superseded).
    """
    handler.version = version
    for pod in list(deployment.pods):
        if handler.version != version:
            return  # superseded by a newer swap
        if handler.pod_version.get(pod.name, version) == version:
            continue  # not serving yet (loads the champion when it starts) or already has it
        if model_load_s > 0:
            yield env.timeout(model_load_s)
        if handler.version != version:
            return
        if pod.name in handler.pod_version:  # still serving (not crashed meanwhile)
            handler.load(pod.name, version)
    if on_end is not None:
        on_end()


def pod_versions(incidents: pd.DataFrame) -> pd.DataFrame:
    """Which version each fraud-detector pod served from when: one row per ``model_loaded``
    incident, columns ``time_s``, ``pod``, ``version``, ``how`` (``start-up`` / ``hot-swap``),
    in time order; the version a pod scores with at time t is that of its last row at or
    before t."""
    f = incidents[incidents["kind"] == "model_loaded"]
    detail = f["detail"].str.extract(r"version=(\d+) (\S+)")
    return pd.DataFrame({
        "time_s": f["time_s"].to_numpy(np.float64),
        "pod": f["target"].to_numpy(object),
        "version": detail[0].astype("int64").to_numpy() if len(f) else np.empty(0, np.int64),
        "how": detail[1].to_numpy(object),
    })
