"""Results of a run: tidy frames, a one-row summary, and the scenario; saved as Parquet + YAML.

Frames (units in column names; times are processing seconds since the start of the run):

- ``transactions``: one row per transaction that arrived. ``row`` (position in the workload),
  ``tx_id`` (source TRANSACTION_ID, −1 if synthetic), ``customer_id``, ``terminal_id``,
  ``amount``, ``event_time`` (datetime64, naive), ``arrival_s``, ``{ingest,enrich,detect,alert}_
  {start,end}_s`` (NaN = not reached), ``latency_s`` (completion − arrival; NaN unless
  completed), ``score`` (probability of fraud), ``label`` (true TX_FRAUD), ``alerted``,
  ``model_version`` (the version that scored it; −1 = not scored), ``shadow_score`` /
  ``shadow_version`` (a shadow challenger's score of it, never alerted on; NaN / −1 without,
  ``sim.services.detector``), ``degraded`` (bool: scored with the card's cached
  features after a failed feature-store call, ``sim.services.enricher``), ``outcome``
  (completed / in_flight / shed / dead_lettered / lost), ``outcome_stage`` (deployment
  where it ended or is), ``reason``,
  ``attempts`` (processing attempts at the stage where it ended or is: 1 unless its processing
  failed there, e.g. a poison record; a dead-lettered record's attempts before it went to the
  dead-letter topic (of its last delivery); a record blocked by a seek-back: all its attempts
  so far, over its deliveries).
- ``spans``: one row per hop: ``trace_id`` (= row), ``span_id`` (int, trace_id × 4 + stage
  index), ``service`` and ``pod`` (categorical), ``partition`` (of the topic consumed; for the
  ingestor, of the topic produced to), ``queue_wait_s``, ``service_s``, ``start_s``, ``end_s``.
- ``metrics``: long format ``time_s``, ``name``, ``labels``, ``value`` (see ``sim.record.monitor``).
- ``incidents``: ``time_s``, ``kind`` (pod_ready, pod_crash, rebalance, scaling_decision (its
  metric, desired and applied replicas in ``detail``), pod_created / pod_terminating /
  pod_terminated / pod_pending / pod_scheduled, node_added / node_ready / node_removed,
  fault_start / fault_end (the ``faults`` frame's windows), pod_crash_skipped,
  slo_burn_alert (only when ``scenario.slos`` sets an objective: a multiwindow burn-rate
  page of a service's SLO, ``sim.analysis.isolation.alert_incidents``: ``target`` the
  service, the SLI, threshold, windows and peak burn rate in ``detail``, ``duration_s`` how
  long it fired; added at the end of the run),
  records_lost: a batch
  dropped in an at-most-once crash or by retention; records_shed: rejected by a full topic or
  producer buffer; records_dead_lettered: moved to a dead-letter queue; the count, topic and
  reason in ``detail``, ``sim.record.incidents.drop_detail``), ``target``, ``detail``,
  ``duration_s`` (how long it lasts when known at once, e.g. a rebalance pause; NaN otherwise).
- ``dead_letters``: one row per record a consumer sent to its dead-letter topic after its
  processing failed ``attempts`` times (``sim.pods.retries``): ``row``, ``service``
  (deployment), ``topic`` (``<topic>.dlq``), ``reason`` (e.g. "poison: bad_schema"),
  ``attempts``, ``time_s`` (when it was dead-lettered), ``first_attempt_s`` (when the first of
  those attempts started; NaN if not known). (What the ingestor and the queues' redrive
  dead-letter is in ``transactions`` and ``incidents``, not here.)
- ``models``: one row per model version (and per failed training job, version −1): its
  trigger, status, training window, labels used, job / registration / rollout / shadow /
  rollback times, held-out metrics, transactions scored and alerted (columns:
  ``sim.record.models``). With a retraining loop the incidents also hold ``model_loaded``
  (``target`` the detector pod, ``detail`` "version=N start-up|hot-swap";
  ``sim.services.rollout.pod_versions`` reads them as per-pod versions over time),
  ``model_registered``, ``training_started`` / ``training_failed`` / ``training_dropped``,
  ``shadow_promote`` / ``shadow_discard`` and ``guard_keep`` / ``guard_roll_back``.
- ``faults``: one row per fault occurrence, in time order (``sim.faults.schedule.faults_frame``):
  ``fault`` (index in ``scenario.faults``), ``kind``, ``target`` (a deployment key,
  ``topic[:partition]``, ``feature_store`` or ``source->target``), ``start_s``, ``end_s`` (inf:
  to the end of the run; = ``start_s`` for a single pod crash). Random faults (``rate_per_h``)
  are drawn over ``[0, min(max_duration_s, last arrival))``. Each occurrence is also a
  ``fault_start`` incident (``detail`` "<kind> (faults[i])", ``duration_s`` its length) and,
  when it ends within the run, a ``fault_end`` one.
- ``breaker``: one row per state change of a circuit breaker on a dependency call, in time
  order: ``time_s``, ``service`` (the caller, ``feature_enricher``), ``dependency``
  (``feature_store``), ``from_state``, ``to_state`` (CLOSED / OPEN / HALF_OPEN;
  ``sim.policies.breaker``); empty without a breaker.
- ``drift``: the drift onsets (``event`` "onset": ``kind`` of the generator's ground truth,
  ``table.drift_truth``) and the monitoring-service's alarms (``event`` "alarm": ``statistic``
  psi / ks / adwin / page_hinkley, ``feature`` a model feature, ``score`` or ``error``,
  ``value`` (PSI; KS p-value; the detector's mean error), ``threshold``, ``window_days``;
  ``kind`` the latest onset's), in time order: ``time_s`` (processing s), ``event_time`` (of
  the onset / the check point), ``delay_s`` (an onset: to the first alarm at or after it; an
  alarm: since the latest onset; NaN: none). Each alarm is also a ``drift_detected``
  incident. Empty without ``monitoring.drift`` and drift.
- ``daily``: per live event day of the scored transactions (``day`` after the live window's
  first midnight, ``date``): ``n``, ``frauds``, true-label ``auc_roc``,
  ``average_precision``, ``card_precision_at_100`` (the day's top 100 cards by max score,
  compromised share, cards found on earlier days removed: the handbook's CP@100) and
  ``card_precision_at_k`` (the same for the top ``k``
  = ``monitoring.k`` cards), and the monitoring-service's delayed
  ``delayed_average_precision`` / ``delayed_card_precision_at_k`` over the labels known at
  its last check (unknown labels left out) with ``labels_known_share`` (NaN without
  ``monitoring.drift``).
- ``summary``: one row; its keys follow.

Keys of ``summary`` / ``summary.json`` (NaN when undefined), in order:

- ``generated``: transactions that arrived before the cap; conservation: ``generated =
  completed + in_flight + shed + dead_lettered + lost`` (checked at the end of every run);
- ``completed``, ``in_flight`` (arrived, no outcome at the cap), ``shed``, ``dead_lettered``,
  ``lost``: transactions per outcome (the ``transactions`` frame's ``outcome``);
- ``lost_retention``: of ``lost``, the transactions a topic's retention deleted before their
  group read them, or that the group skipped when it resumed at the log end
  (``auto.offset.reset=latest``); their ``reason`` starts with "retention";
- ``not_arrived``: transactions of the workload scheduled after the cap ``max_duration_s``,
  which never arrived (outside ``generated``);
- ``cut_short``: True when the cap ended the run before the pipeline drained (``not_arrived``
  or ``in_flight`` > 0); ``tinybots run`` then prints a warning;
- ``duplicates``: records delivered again to a stage that had served them (dropped there);
- ``redelivered``: records the bus delivered again after a rewind (a crash, a pod killed or
  evicted, a visibility timeout, a requeue, or a consumer seeking back to a batch whose
  processing failed without a dead-letter topic: every record of it counts again), summed
  over the transaction pipeline's groups; a scale-down's uncommitted work is counted here (a
  stage that had not served it yet serves it once, so ``duplicates`` need not grow);
- ``retries``: processing retries the consumers made of records whose processing failed
  (one per record and retry; ``deployments.*.resilience.retry``);
- ``labels_lost``: labels of the label feed lost in at-most-once crashes or dropped by the bus
  (shed by a full ``labels`` topic, deleted by retention; labels, not transactions: outside
  conservation; they leave later terminal risks stale);
- ``throughput_per_s``: completed / ``sim_time_s``;
- ``latency_p50_s`` ... ``latency_max_s``: arrival → completion of the completed transactions;
- ``average_precision``: of the scores of every completed, scored transaction (no card is
  removed, unlike the book's Chapter 3 test set);
- ``card_precision_at_100``: the book's CP@100 (Le Borgne et al. 2022, Chapter 4; its test set
  as in Chapter 3, ``tinybots.modeling.handbook_split``): per event day d, the completed,
  scored transactions of cards without a known fraud (no fraud from the training window's
  first day to day d − ``labels.delay_days`` − 1), cards detected on earlier days removed;
  mean over days;
- ``alerts``, ``alerted_frauds``, ``frauds``: alerted transactions, alerted frauds, frauds
  among the arrived transactions;
- ``max_lag``: the largest sampled consumer lag (records) of the transaction pipeline's groups
  (feature-enricher, fraud-detector, alert-service), the label feed excluded;
- ``max_label_lag``: the label feed's largest sampled lag (records; 0 without a label feed);
- ``rebalances``: consumer-group rebalances;
- ``rebalance_paused_records``: records that waited on, or arrived on, a partition while a
  rebalance paused it, summed over the transaction pipeline's Kafka groups (as ``max_lag``,
  side consumers left out; ``sim.bus.rebalance``; 0 on a queue bus, which does not
  rebalance); eager rebalancing pauses more of them than cooperative;
- ``scaling_changes``: autoscaler decisions that changed a deployment's replicas (all
  deployments; each decision is a ``scaling_decision`` incident);
- ``pod_seconds``: the replicas wanted, integrated over the run and summed over the deployments
  (pod × seconds: what the pods cost);
- ``max_pods_pending``: the most pods waiting for a node at a sample (0 without node pools);
- ``nodes_added``: nodes the cluster autoscalers added;
- ``faults``: fault occurrences of the run (rows of the ``faults`` frame);
- ``degraded``: transactions the enricher served with cached features after a failed
  feature-store call (``fallback: cached_features``; the ``transactions`` frame's
  ``degraded``);
- ``dependency_retries``: retries of the feature-store call (attempts after a call's first);
- ``breaker_opens``: transitions of the feature-store call's circuit breaker to OPEN;
- ``drift_alarms``: alarms of the monitoring-service's drift checks (rows of ``drift`` with
  ``event`` "alarm"; 0 without ``monitoring.drift``);
- ``drift_detection_delay_s``: processing seconds from the first drift onset to the first
  alarm at or after it (None / null: no onset, or no alarm after it);
- ``model_versions``: model versions registered in the run's registry (1: the version trained
  before the run only; failed training jobs are not versions);
- ``sim_time_s``: processing time simulated (s); ``wall_s``: wall time of build and run (s).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim.faults.schedule import faults_frame
from sim.record.drift_frames import empty_daily, empty_drift
from sim.record.outfolder import OWN_FILES, replace_folder, staged_folder
from sim.scenario import Scenario
from tinybots.errors import InputError
from tinybots.paths import check_creatable

__all__ = ["DEAD_LETTER_COLUMNS", "FRAMES", "SUMMARY_KEYS", "Results", "check_results_folder",
           "empty_dead_letters"]

FRAMES = ("transactions", "spans", "metrics", "incidents", "models", "summary", "faults",
          "breaker", "dead_letters", "drift", "daily")
DEAD_LETTER_COLUMNS = ("row", "service", "topic", "reason", "attempts", "time_s",
                       "first_attempt_s")
"""Columns of the ``dead_letters`` frame, in order (module docstring)."""
SUMMARY_KEYS = (
    "generated",
    "completed",
    "in_flight",
    "shed",
    "dead_lettered",
    "lost",
    "lost_retention",
    "not_arrived",
    "cut_short",
    "duplicates",
    "redelivered",
    "retries",
    "labels_lost",
    "throughput_per_s",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "latency_max_s",
    "average_precision",
    "card_precision_at_100",
    "alerts",
    "alerted_frauds",
    "frauds",
    "max_lag",
    "max_label_lag",
    "rebalances",
    "rebalance_paused_records",
    "scaling_changes",
    "pod_seconds",
    "max_pods_pending",
    "nodes_added",
    "faults",
    "degraded",
    "dependency_retries",
    "breaker_opens",
    "drift_alarms",
    "drift_detection_delay_s",
    "model_versions",
    "sim_time_s",
    "wall_s",
)
"""Keys of ``summary`` / ``summary.json``, in order (described in the module docstring)."""


def empty_dead_letters() -> pd.DataFrame:
    """A ``dead_letters`` frame without rows (its columns and dtypes)."""
    return pd.DataFrame({
        "row": pd.Series(dtype="int64"), "service": pd.Series(dtype="object"),
        "topic": pd.Series(dtype="object"), "reason": pd.Series(dtype="object"),
        "attempts": pd.Series(dtype="int64"), "time_s": pd.Series(dtype="float64"),
        "first_attempt_s": pd.Series(dtype="float64"),
    })


@dataclass(frozen=True, eq=False)
class Results:
    """Everything a run produced (see the module docstring for the frames)."""

    scenario: Scenario
    transactions: pd.DataFrame
    spans: pd.DataFrame
    metrics: pd.DataFrame
    incidents: pd.DataFrame
    models: pd.DataFrame
    summary: pd.DataFrame
    faults: pd.DataFrame = field(default_factory=lambda: faults_frame([]))
    breaker: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {c: pd.Series(dtype="float64" if c == "time_s" else "object")
         for c in ("time_s", "service", "dependency", "from_state", "to_state")}))
    dead_letters: pd.DataFrame = field(default_factory=empty_dead_letters)
    drift: pd.DataFrame = field(default_factory=empty_drift)
    daily: pd.DataFrame = field(default_factory=empty_daily)

    def summary_dict(self) -> dict[str, float | int]:
        """The summary row as plain Python numbers."""
        row = {c: self.summary[c].iloc[0] for c in self.summary.columns}
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}

    def save(
        self,
        directory: str | Path,
        *,
        extras: Callable[[Results, Path], None] | None = None,
        field: str = "directory",
    ) -> Path:
        """Write Parquet per frame, ``scenario.yaml`` and ``summary.json`` into ``directory``.

        Written into a hidden temporary sibling folder first, then put in place of an earlier
        results folder as :mod:`sim.record.outfolder` describes: at every moment the complete old or
        the complete new results are at ``directory``; a failure or an interruption (Ctrl-C,
        SIGTERM in ``tinybots``) leaves the old results and no temporary folder. Files in the
        earlier folder that tinybots does not write (any name outside
        :data:`sim.record.outfolder.OWN_FILES`, e.g. ``my_analysis.ipynb``) are kept: carried over
        into the new folder. Only an empty folder or an earlier results folder is replaced
        (see :func:`check_results_folder`).

        Parameters
        ----------
        directory
            The results folder.
        extras
            Called as ``extras(results, tmp_folder)`` to add files (e.g. the dashboard)
            before the rename.
        field
            How error messages name ``directory`` (the CLI passes ``"--out"``).

        Raises
        ------
        InputError
            If ``directory`` may not be written (see :func:`check_results_folder`).
        OSError
            If writing or replacing fails (the old results are then unchanged).
        """
        target = check_results_folder(directory, field=field)
        with staged_folder(target) as tmp:
            self.write_into(tmp)
            if extras is not None:
                extras(self, tmp)
            replace_folder(tmp, target)
        return target

    def write_into(self, directory: Path) -> None:
        """Write the files into an existing folder (no atomicity; see :meth:`save`)."""
        for name in FRAMES:
            getattr(self, name).to_parquet(directory / f"{name}.parquet", index=False)
        self.scenario.to_yaml(directory / "scenario.yaml")
        (directory / "summary.json").write_text(
            json.dumps(self.summary_dict(), indent=2, allow_nan=True)
        )

    @classmethod
    def load(cls, directory: str | Path) -> Results:
        """Read a folder written by :meth:`save`."""
        d = Path(directory)  # older folders lack the newer frames: those are empty
        frames = {name: pd.read_parquet(d / f"{name}.parquet") for name in FRAMES
                  if name not in ("faults", "breaker", "dead_letters", "drift", "daily")
                  or (d / f"{name}.parquet").is_file()}
        return cls(scenario=Scenario.from_yaml(d / "scenario.yaml"), **frames)


def check_results_folder(directory: str | Path, *, field: str = "directory") -> Path:
    """``directory`` resolved, if a results folder may be written there (replacing an old one).

    Raises
    ------
    InputError
        ``directory`` is a file, or an existing non-empty folder that is not a results folder
        (no ``scenario.yaml`` + ``summary.json``), or the working folder or one of its
        parents: it would be deleted and replaced; or it holds a folder that cannot be emptied
        (read-only for this user, or immutable), so the earlier results could not be removed;
        or no folder can be created there (tested by creating and removing an empty temporary
        folder in the nearest existing ancestor: ``/proc/x``, a read-only mount, a path under
        a file). The message names ``field``.
    """
    try:
        out = Path(directory).resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop
        raise InputError(f"{field}: {directory} cannot be resolved ({exc})") from None
    if out.exists() and not out.is_dir():
        raise InputError(f"{field}: {out} is a file; give a folder for the results")
    if out == Path.cwd() or out in Path.cwd().parents:
        raise InputError(f"{field}: {out} is the working folder or a parent of it; give a new one")
    if out.is_dir() and any(out.iterdir()):
        if not ((out / "scenario.yaml").is_file() and (out / "summary.json").is_file()):
            raise InputError(
                f"{field}: {out} exists and is not a tinybots results folder (no scenario.yaml "
                "and summary.json); it would be replaced, so give a new or empty folder"
            )
        clash = sorted(n for n in OWN_FILES if (out / n).exists() and not (out / n).is_file())
        if clash:  # a folder of the user's under a name the results use: never replaced
            raise InputError(
                f"{field}: {out} holds {', '.join(clash)}, not a file tinybots wrote; move it "
                "or give another folder"
            )
        for folder, _, _ in os.walk(out):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise InputError(
                    f"{field}: {folder} cannot be emptied (read-only or immutable), so the "
                    f"earlier results in {out} cannot be replaced; make it writable or give "
                    "another folder"
                )
    check_creatable(out, field)
    return out

