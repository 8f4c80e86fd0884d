"""model-training-service: training jobs in the simulation (a Kubernetes Job / a SageMaker
training job), and the check that no job used a label before its delay had passed.

One job at a time (one slot): a trigger while a job runs waits in a queue of one; a trigger
while one is already queued is dropped (counted in :attr:`TrainingService.dropped`, a
``training_dropped`` incident), as a CronJob with ``concurrencyPolicy: Forbid`` skips a run. A
job takes its data at its start (``TrainingData.select``: the labels known then), holds ``cpu``
cores for ``duration_s`` of processing time (counted in :attr:`TrainingService.core_seconds`;
the job is not placed on the cluster's node pools: it never competes with the pods), then
really fits the model (``fit_version``) and hands it to the orchestrator. A ``training_outage``
window overlapping the job (running or starting in it) fails it at the later of its start and
the window's start; a fit that cannot happen (no fraud among the labels) fails it too. A failed
job is a ``training_failed`` incident and a row of :attr:`TrainingService.jobs`; scoring is
untouched (the detector keeps its champion).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from sim.process import ProcessGenerator
from sim.services.training_data import TrainingData, TrainingFailed, TrainingSet, fit_version

__all__ = ["LabelLeak", "TrainingService", "check_no_label_leak"]

Done = Callable[[str, TrainingSet, Any, dict[str, float], float], None]
Failed = Callable[[str, TrainingSet | None, str, float], None]


class TrainingService:
    """The model-training-service (see the module docstring).

    Parameters
    ----------
    env : simpy.Environment
    spec : sim.scenario.RetrainingSpec
    kind : str
        The model kind to fit (``retraining.kind`` or ``model.kind``).
    data : TrainingData
    event_time : callable(now_s) -> float
        Event time (naive Unix s) of processing time ``now_s``.
    outages : list of (start_s, end_s)
        The ``training_outage`` windows (processing s).
    rng : numpy.random.Generator
        ``rngs["training"]``: each fit's ``random_state``.
    log : callable(kind, target, detail)
        The incident log.
    on_done, on_failed : callable
        ``on_done(trigger, ts, model, metrics, start_s)`` / ``on_failed(trigger, ts, reason,
        start_s)``.

    Attributes
    ----------
    jobs : list of dict
        One per job run: ``trigger``, ``start_s``, ``end_s``, ``status`` (``done`` /
        ``failed``), ``reason``, ``training`` (its :class:`TrainingSet`, None if none).
    core_seconds : float
        Cores × seconds the jobs held.
    dropped : int
        Triggers dropped (a job running and one queued).
    """

    name = "model_training"

    def __init__(self, env: simpy.Environment, spec: Any, kind: str, data: TrainingData,
                 event_time: Callable[[float], float], outages: list[tuple[float, float]],
                 rng: np.random.Generator, log: Callable[..., None], on_done: Done,
                 on_failed: Failed) -> None:
        self.env, self.spec, self.kind, self.data = env, spec, kind, data
        self.event_time, self.outages, self.rng, self.log = event_time, outages, rng, log
        self.on_done, self.on_failed = on_done, on_failed
        self.slot = simpy.Resource(env, capacity=1)
        self.jobs: list[dict[str, Any]] = []
        self.core_seconds = 0.0
        self.dropped = 0

    def request(self, trigger: str) -> bool:
        """Ask for a job (``trigger``: scheduled / drift); False when dropped."""
        if self.slot.count + len(self.slot.queue) >= 2:
            self.dropped += 1
            self.log("training_dropped", self.name, f"{trigger}: a job runs and one is queued")
            return False
        self.env.process(self._job(trigger))
        return True

    def _outage_at(self, start_s: float, end_s: float) -> float | None:
        """When an outage overlapping the job ``[start_s, end_s]`` fails it (None: none)."""
        hits = [max(start_s, a) for a, b in self.outages if a <= end_s and start_s < b]
        return min(hits) if hits else None

    def _job(self, trigger: str) -> ProcessGenerator:
        env, spec = self.env, self.spec
        with self.slot.request() as req:
            yield req
            start = env.now
            ts = self.data.select(start, self.event_time(start), spec.train_days)
            self.log("training_started", self.name, f"{trigger}: {len(ts.y)} labelled rows")
            fail_at = self._outage_at(start, start + spec.duration_s)
            end = start + spec.duration_s if fail_at is None else fail_at
            if end > start:
                yield env.timeout(end - start)
            self.core_seconds += spec.cpu * (end - start)
            job = {"trigger": trigger, "start_s": start, "end_s": end, "training": ts}
            self.jobs.append(job)
            if fail_at is not None:
                return self._fail(job, ts, "training_outage")
            seed = int(self.rng.integers(2**31 - 1))
            try:
                model, metrics, _ = fit_version(ts, self.kind, spec.eval_days, seed)
            except TrainingFailed as exc:
                return self._fail(job, ts, str(exc))
            job.update(status="done", reason="")
            self.on_done(trigger, ts, model, metrics, start)

    def _fail(self, job: dict[str, Any], ts: TrainingSet, reason: str) -> None:
        job.update(status="failed", reason=reason)
        self.log("training_failed", self.name, f"{job['trigger']}: {reason}")
        self.on_failed(job["trigger"], ts, reason, job["start_s"])


class LabelLeak(AssertionError):
    """A version was trained on a label before its delay had passed."""


def check_no_label_leak(system: Any) -> int:
    """Check that every training job of ``system`` (after its run) used only labels that
    existed at the job's start; returns the number of labelled rows checked.

    Ground truth, independent of the label availability the jobs read: a live row's label can
    be known no earlier than its due time in the label feed's table (``LabelTable.due_s``,
    event time; or, for an investigator's feedback label, its ``LabelStore.known_at_s``), and
    a history row's at its event time + ``labels.delay_days``. Each must be <= the job's event
    time at its start.

    Raises
    ------
    LabelLeak
        Naming the job, the row and how early its label was used.
    """
    orch = getattr(system, "orchestrator", None)
    if orch is None:
        return 0
    labels, store = system.labels, orch.data.label_store
    due = np.full(len(system.table), np.inf)
    live = labels.rows >= 0
    due[labels.rows[live]] = labels.due_s[live]
    feedback = store.source == store.FEEDBACK
    delay_s = orch.data.delay_s
    checked = 0
    for i, job in enumerate(orch.training_sets()):
        start_s, ts = job
        t = orch.event_time(start_s)
        rows = ts.rows[ts.rows >= 0]
        avail = due[rows].copy()
        fb = feedback[rows]
        avail[fb] = np.minimum(avail[fb], orch.event_time(store.known_at_s[rows][fb]))
        hist_t = ts.event_s[ts.rows < 0] + delay_s
        early = np.concatenate([avail, hist_t]) - t
        checked += len(early)
        if len(early) and early.max() > 1e-6:
            k = int(early.argmax())
            raise LabelLeak(f"training job {i} (start {start_s:g} s): a label used "
                            f"{early[k] / 86400.0:.3g} days of event time before it was due")
    return checked
