"""orchestrator-service: the retraining loop's control plane (Kubeflow Pipelines / an Airflow
DAG with a model registry, as in Google's "MLOps: continuous delivery and automation
pipelines in machine learning", level 1).

Every hour of event time it asks the trigger policy (``sim.policies.retraining``) whether a
scheduled training is due; :meth:`Orchestrator.on_drift` is the ``drift-detected``
consumer's callback. A trigger asks the model-training-service (``sim.services.training``) for
a job; its fitted model is registered in the run's one ``ModelRegistry`` (the version trained
before the run is version 1), then either rolled out at once (``sim.services.rollout``) or,
with ``retraining.shadow.enabled``, scored in shadow by every detector pod (loaded after
``model_load_s``) until :func:`~sim.policies.retraining.shadow_verdict` promotes or discards
it. After a rollout the guard (:func:`~sim.policies.retraining.guard_verdict`) compares the
new version's delayed metric with the previous one's, once, and rolls it back when it trips.
A ``bad_model`` fault registers a version fitted on shuffled labels at its ``at_s`` and rolls
it out, skipping shadow. A version that becomes the champion is given to the
monitoring-service as its drift reference (``set_reference``, when it has one).

The ``models`` frame's rows come from :meth:`Orchestrator.rows` (``sim.record.models``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.policies.retraining import TriggerPolicy, delayed_metric, guard_verdict, shadow_verdict
from sim.process import ProcessGenerator
from sim.services.rollout import rolling_swap
from sim.services.training import TrainingService
from sim.services.training_data import TrainingData, TrainingFailed, TrainingSet, fit_version
from sim.workload import SECONDS_PER_DAY
from tinybots.schema import FEATURE_COLUMNS

__all__ = ["Orchestrator"]


class Orchestrator:
    """The retraining loop of one run (see the module docstring).

    Parameters
    ----------
    env : simpy.Environment
    scenario : Scenario
    ledger : Ledger
    deployment : Deployment
        The fraud-detector (its handler a ``DetectorHandler``).
    data : TrainingData
    registry : tinybots.registry.ModelRegistry
        Holding the initial version.
    initial : sim.services.warmup.TrainedModel
    outages, bad_models : list
        ``training_outage`` windows ``(start_s, end_s)`` and ``bad_model`` times (processing s).
    rng : numpy.random.Generator
        ``rngs["training"]``.
    log : callable(kind, target, detail)
        The incident log.
    live_start_s : float
        Event time of processing time 0.
    monitoring : object or None
        The monitoring-service's handler (``set_reference(X, scores, version)`` if it has it).
    """

    name = "orchestrator"

    def __init__(self, env: Any, scenario: Any, ledger: Any, deployment: Any,
                 data: TrainingData, registry: Any, initial: Any, outages: list[tuple[float,
                 float]], bad_models: list[float], rng: np.random.Generator, log: Any,
                 live_start_s: float, monitoring: Any = None) -> None:
        self.env, self.spec, self.ledger, self.data = env, scenario.retraining, ledger, data
        self.deployment, self.handler = deployment, deployment.handler
        self.registry, self.rng, self.log, self.monitoring = registry, rng, log, monitoring
        self.live_start_s, self.speedup = live_start_s, scenario.workload.speedup
        self.kind = self.spec.kind or scenario.model.kind
        self.per_record_s = deployment.spec.service.per_record_s
        self.bad_models = bad_models
        self.policy = TriggerPolicy(self.spec.policy, self.spec.every_days,
                                    self.spec.cooldown_days, live_start_s)
        self.service = TrainingService(env, self.spec, self.kind, data, self.event_time,
                                       outages, rng, log, self._trained, self._failed)
        v = initial.version
        self.records: list[dict[str, Any]] = [{
            **initial.info, "trigger": "initial", "status": "champion", "created_s": 0.0,
            "rollout_start_s": 0.0, "rollout_end_s": 0.0}]
        self._refs: dict[int, tuple[np.ndarray | None, np.ndarray | None]] = {
            v: (initial.reference, initial.reference_scores)}
        self._sets: list[tuple[float, TrainingSet]] = []
        self.champion, self.challenger = v, -1
        self.guarded: tuple[int, int] | None = None  # (new, previous) awaiting the guard
        self.handler.on_load = self._loaded

    # -- time and wiring --------------------------------------------------------------------
    def event_time(self, now_s: Any) -> Any:
        """Event time (naive Unix s) of processing time ``now_s`` (a float or an array)."""
        return self.live_start_s + np.asarray(now_s, dtype=np.float64) * self.speedup

    def start(self) -> None:
        """Start the hourly loop and the ``bad_model`` faults."""
        self.env.process(self._loop(3600.0 / self.speedup))
        for at_s in self.bad_models:
            self.env.process(self._bad_model(at_s))

    def training_sets(self) -> list[tuple[float, TrainingSet]]:
        """``(job start s, TrainingSet)`` of every fit tried (jobs and bad models)."""
        return self._sets + [(j["start_s"], j["training"]) for j in self.service.jobs
                             if j["training"] is not None]

    def on_drift(self, alarm: dict[str, Any]) -> None:
        """A ``drift-detected`` event (keys ``time_s``, ``statistic``, ...): train unless the
        policy ignores drift or the cooldown holds."""
        if self.policy.drift(self.event_time(self.env.now)):
            self.service.request("drift")

    def _loaded(self, pod: str, version: int, how: str) -> None:
        self.log("model_loaded", pod, f"version={version} {how}")

    def _loop(self, tick_s: float) -> ProcessGenerator:
        while True:
            yield self.env.timeout(tick_s)
            if self.policy.scheduled(self.event_time(self.env.now)):
                self.service.request("scheduled")
            if self.challenger >= 0:
                self._check_shadow()
            if self.guarded is not None and self.spec.guard.enabled:
                self._check_guard()

    # -- versions ---------------------------------------------------------------------------
    def _row(self, trigger: str, ts: TrainingSet, start_s: float) -> dict[str, Any]:
        return {"version": -1, "kind": self.kind, "trigger": trigger, "status": "failed",
                "train_start": str(pd.Timestamp(ts.start_s, unit="s")),
                "train_end": str(pd.Timestamp(ts.end_s, unit="s")), "n_train": 0,
                "n_train_frauds": 0, "n_labels_used": ts.n_live,
                "labels_known_max_s": ts.known_max_s, "job_start_s": start_s}

    def _failed(self, trigger: str, ts: TrainingSet | None, reason: str, start_s: float) -> None:
        if ts is not None:
            self.records.append({**self._row(trigger, ts, start_s), "reason": reason})

    def _trained(self, trigger: str, ts: TrainingSet, model: Any, metrics: dict[str, float],
                 start_s: float, *, shadow: bool = True) -> int:
        start, end = pd.Timestamp(ts.start_s, unit="s"), pd.Timestamp(ts.end_s - 1, unit="s")
        entry = self.registry.register(
            model, kind=self.kind, training_window=(start.date(), end.date()),
            features=list(FEATURE_COLUMNS), metrics=metrics,
            created_at=pd.Timestamp(self.event_time(self.env.now), unit="s").floor("us")
            .to_pydatetime())
        v = int(entry.version)
        self.handler.add_version(v, model)
        row = {**self._row(trigger, ts, start_s), **metrics, "version": v, "status": "registered",
               "n_train": int(metrics["n_train"]), "n_train_frauds": int(metrics["n_train_frauds"]),
               "created_s": self.env.now}
        self.records.append(row)
        X = ts.X
        self._refs[v] = (X, model.predict_proba(X)[:, 1] if len(X) else None)
        self.log("model_registered", self.name, f"version={v} {trigger}")
        if shadow and self.spec.shadow.enabled:
            self._start_shadow(v)
        else:
            self._rollout(v)
        return v

    def _rec(self, v: int) -> dict[str, Any]:
        return next(r for r in self.records if r["version"] == v)

    def _rollout(self, v: int, status_old: str = "retired") -> None:
        prev = self.champion
        old = self._rec(prev)
        old["status"] = status_old
        rec = self._rec(v)
        rec["status"] = "champion"
        back = status_old == "rolled_back"  # a rollback: the times go to the old version's row
        if not back:
            rec["rollout_start_s"] = self.env.now
        self.champion = v
        self.guarded = None if back else (v, prev)
        ref = getattr(self.monitoring, "set_reference", None)
        if ref is not None and self._refs[v][0] is not None:
            ref(self._refs[v][0], self._refs[v][1], v)

        def ended() -> None:
            (old if back else rec)["rollback_end_s" if back else "rollout_end_s"] = self.env.now

        self.env.process(rolling_swap(self.env, self.deployment, self.handler, v,
                                      self.spec.model_load_s, ended))

    def _start_shadow(self, v: int) -> None:
        if self.challenger >= 0:  # superseded by the newer version
            self._end_shadow("discarded")
        self.challenger = v
        self._rec(v).update(status="shadow")

        def loaded(_ev: object) -> None:
            if self.challenger == v:
                self.handler.set_shadow(v, self.spec.shadow.cost_factor * self.per_record_s)
                self._rec(v)["shadow_start_s"] = self.env.now

        self.env.timeout(self.spec.model_load_s).callbacks.append(loaded)

    def _end_shadow(self, status: str) -> int:
        v, self.challenger = self.challenger, -1
        self.handler.set_shadow(-1, 0.0)
        self._rec(v).update(status=status, shadow_end_s=self.env.now)
        return v

    # -- delayed metrics --------------------------------------------------------------------
    def _labelled(self, mask: np.ndarray) -> np.ndarray:
        n = len(mask)
        return np.flatnonzero(mask & self.data.label_store.known(self.env.now)[:n])

    def _metric(self, metric: str, rows: np.ndarray, scores: np.ndarray) -> float:
        t = self.data.table
        return delayed_metric(metric, self.data.label_store.value[rows], scores,
                              (t.event_time_s[rows] // SECONDS_PER_DAY).astype(np.int64),
                              t.customer_id[rows])

    def _check_shadow(self) -> None:
        sp, v = self.spec.shadow, self.challenger
        started = self._rec(v).get("shadow_start_s", math.nan)
        if math.isnan(started):
            return
        rows = self._labelled(self.handler.shadow_version == v)
        chal = self._metric(sp.metric, rows, self.handler.shadow_score[rows])
        champ = self._metric(sp.metric, rows, self.ledger.score[rows])
        elapsed = (self.env.now - started) * self.speedup / SECONDS_PER_DAY
        verdict = shadow_verdict(chal, champ, len(rows), elapsed, days=sp.days,
                                 min_labels=sp.min_labels, margin=sp.margin)
        if verdict == "wait":
            return
        self.log(f"shadow_{verdict}", self.name,
                 f"version={v} {sp.metric} {chal:.4g} vs champion {champ:.4g} ({len(rows)} labels)")
        self._end_shadow("discarded" if verdict == "discard" else "registered")
        if verdict == "promote":
            self._rollout(v)

    def _check_guard(self) -> None:
        assert self.guarded is not None
        g, (v, prev) = self.spec.guard, self.guarded
        ended = self._rec(v).get("rollout_end_s", math.nan)
        if math.isnan(ended):
            return
        mv = self.ledger.model_version
        new_rows, old_rows = self._labelled(mv == v), self._labelled(mv == prev)
        new = self._metric(g.metric, new_rows, self.ledger.score[new_rows])
        old = self._metric(g.metric, old_rows, self.ledger.score[old_rows])
        elapsed = (self.env.now - ended) * self.speedup / SECONDS_PER_DAY
        verdict = guard_verdict(new, old, len(new_rows), elapsed, after_days=g.after_days,
                                min_labels=g.min_labels, min_ratio=g.min_ratio)
        if verdict == "wait":
            return
        self.guarded = None
        self.log(f"guard_{verdict}", self.name,
                 f"version={v} {g.metric} {new:.4g} vs version={prev} {old:.4g}")
        if verdict == "roll_back":
            self._rec(v)["rolled_back_s"] = self.env.now
            self._rollout(prev, status_old="rolled_back")

    def _bad_model(self, at_s: float) -> ProcessGenerator:
        if at_s > self.env.now:
            yield self.env.timeout(at_s - self.env.now)
        now = self.env.now
        ts = self.data.select(now, self.event_time(now), self.spec.train_days)
        self._sets.append((now, ts))
        try:
            model, metrics, _ = fit_version(ts, self.kind, self.spec.eval_days,
                                            int(self.rng.integers(2**31 - 1)), shuffle=self.rng)
        except TrainingFailed as exc:
            self._failed("bad_model", ts, str(exc), now)
            return
        self._trained("bad_model", ts, model, metrics, now, shadow=False)

    def rows(self) -> list[dict[str, Any]]:
        """The ``models`` frame's rows, in registration order (failed jobs: version -1)."""
        return self.records
