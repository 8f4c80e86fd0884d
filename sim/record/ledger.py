"""The ledger: per-transaction state of a run as preallocated numpy arrays (struct of arrays).

Row ``i`` is transaction ``i`` of the workload (the message on the bus is just ``i``). For each
stage the ledger keeps the processing times (seconds, NaN = not reached) at which the stage
started and finished serving the row; plus score, model version, alert flag and the outcome
with its reason. Spans are appended per poll (row lists) and turned into a frame once at the end;
the per-row times of consumer stages before the last are written from them by
:meth:`Ledger.close` (called by the end-of-run frames), so a poll costs no array writes.
It also enforces conservation: every transaction that arrived is completed, in flight (at a
known stage), shed, dead-lettered or lost (:meth:`Ledger.dropped` settles what the bus drops).
``labels_lost`` counts the label feed's labels lost in at-most-once crashes or dropped by the
bus: labels are not transactions, so they are outside conservation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import IntEnum

import numpy as np
import pandas as pd

from sim.topology import PIPELINE, STAGES, Stage

__all__ = ["ConservationError", "Ledger", "Outcome"]

_TOPIC_BEFORE = {row.stage: row.topic_in for row in PIPELINE if row.topic_in is not None}
"""The topic a record waits in before each consumer stage (``sim.topology``)."""


class Outcome(IntEnum):
    """Final fate of a transaction (``transactions.outcome``)."""

    PENDING = 0
    COMPLETED = 1
    SHED = 2
    DEAD_LETTERED = 3
    LOST = 4



_PENDING = int(Outcome.PENDING)  # plain ints in hot paths (enum attribute access is slow)


def _byte_view(flags: bytearray) -> np.ndarray:
    """A writable uint8 NumPy view of ``flags`` (an empty array when it is empty)."""
    return np.frombuffer(flags, dtype=np.uint8) if len(flags) else np.zeros(0, np.uint8)


class ConservationError(RuntimeError):
    """The outcome counts of a run do not add up to the number of transactions generated."""


class Ledger:
    """Per-row arrays of one run.

    Parameters
    ----------
    arrival_s : numpy.ndarray, shape (n,)
        Scheduled arrival time of each row (processing seconds, non-decreasing).
    last_stage : Stage
        The stage after which a row is completed.
    """

    def __init__(self, arrival_s: np.ndarray, last_stage: Stage) -> None:
        n = len(arrival_s)
        self.n = n
        self.arrival_s = np.asarray(arrival_s, dtype=np.float64)
        self.last_stage = last_stage
        self.start = np.full((len(Stage), n), np.nan)
        self.end = np.full((len(Stage), n), np.nan)
        self.start_ingest, self.end_ingest = self.start[Stage.INGESTOR], self.end[Stage.INGESTOR]
        self.arrived = 0
        self.ingest_server = np.full(n, -1, dtype=np.int32)
        self.score = np.full(n, np.nan)
        self.model_version = np.full(n, -1, dtype=np.int32)
        self.alerted = np.zeros(n, dtype=bool)
        self.n_alerted = 0  # alerted.sum(), kept by the alert-service
        self.outcome = np.zeros(n, dtype=np.int8)
        self.outcome_stage = np.full(n, -1, dtype=np.int8)
        self.reason = np.full(n, None, dtype=object)
        # processing attempts at the stage where the row ended or is (1 unless it failed there)
        self.attempts = np.ones(n, dtype=np.int32)
        # byte flags (bytearray for fast scalar reads and writes in Python; settled also has a
        # NumPy view for slice writes): served by each stage, and settled (outcome not pending)
        self._served = [bytearray(n) for _ in Stage]
        self._taken = [bytearray(n) for _ in Stage]  # taken by a pod (served, or being served)
        self._settled = bytearray(n)
        self._settled_np = _byte_view(self._settled)
        self.counts = dict.fromkeys(Outcome, 0)
        self.completed_order: list[np.ndarray] = []
        self._spans: list[tuple[int, int, list[int], float, float]] = []
        self._closed = 0  # spans already written to start / end (close)
        self.pod_names: list[str] = []
        self._pod_ids: dict[str, int] = {}
        self.duplicates = 0
        self.labels_lost = 0  # labels (not transactions) lost in at-most-once crashes
        self.on_settled: Callable[[], None] | None = None

    # -- recording ---------------------------------------------------------------------------
    def pod_id(self, name: str) -> int:
        """Stable small integer of a pod / server name."""
        pid = self._pod_ids.get(name)
        if pid is None:
            pid = self._pod_ids[name] = len(self.pod_names)
            self.pod_names.append(name)
        return pid

    def fresh(self, stage: Stage, records: list[int]) -> list[int]:
        """Rows of ``records`` that ``stage`` has not taken yet and that are not settled
        (idempotent consumer by transaction id), distinct and sorted; they are taken now.

        A row is taken from here until it is served, or until the pod serving it crashes
        (:meth:`release`). A record re-produced after a crash can sit twice in one poll, arrive
        after its row was served or settled, or be delivered again while its first delivery is
        still being served (an SQS visibility timeout, a Kafka eviction, a RabbitMQ consumer
        timeout); every such copy is counted in :attr:`duplicates` and not served again.
        """
        taken, settled = self._taken[stage], self._settled
        keep = []
        for r in records:
            if taken[r] or settled[r]:
                continue
            taken[r] = 1
            keep.append(r)
        if len(keep) != len(records):
            self.duplicates += len(records) - len(keep)
        keep.sort()
        return keep

    def release(self, stage: Stage, records: list[int]) -> None:
        """The pod serving ``records`` at ``stage`` crashed: those it had not served may be
        taken again (their redelivery is served)."""
        taken, served = self._taken[stage], self._served[stage]
        for r in records:
            if not served[r]:
                taken[r] = 0

    def served(
        self, stage: Stage, rows: list[int], start_s: float, end_s: float, pod: str
    ) -> None:
        """Record that ``pod`` served ``rows`` at ``stage`` from ``start_s`` to ``end_s``.

        The span is kept; the per-row ``start`` / ``end`` columns of stages before the last are
        written from the spans by :meth:`close` (the last stage's at once: completion).
        """
        flags, taken = self._served[stage], self._taken[stage]
        for r in rows:
            flags[r] = 1
            taken[r] = 1
        self._spans.append((int(stage), self.pod_id(pod), rows, start_s, end_s))
        if stage == self.last_stage:
            done = np.array(rows, dtype=np.int64)
            self.start[stage][done] = start_s
            self.end[stage][done] = end_s
            self.finish(done, Outcome.COMPLETED, stage, None)

    def close(self) -> None:
        """Write the ``start`` / ``end`` columns of the stages before the last from the spans
        (idempotent; call before reading them, as the end-of-run frames do)."""
        chunks = [c for c in self._spans[self._closed :] if c[0] != self.last_stage]
        self._closed = len(self._spans)
        if not chunks:
            return
        sizes = np.array([len(c[2]) for c in chunks])
        rows = np.fromiter((r for c in chunks for r in c[2]), np.int64, int(sizes.sum()))
        stage = np.repeat([c[0] for c in chunks], sizes)
        self.start[stage, rows] = np.repeat([c[3] for c in chunks], sizes)
        self.end[stage, rows] = np.repeat([c[4] for c in chunks], sizes)

    def finish(self, rows: np.ndarray, outcome: Outcome, stage: Stage, reason: str | None) -> None:
        """Give ``rows`` their final outcome at ``stage`` (only rows still pending)."""
        rows = rows[self.outcome[rows] == _PENDING]
        if len(rows) == 0:
            return
        self.outcome[rows] = outcome
        self._settled_np[rows] = 1
        self.outcome_stage[rows] = stage
        if reason is not None:
            self.reason[rows] = reason
        self.counts[outcome] += len(rows)
        if outcome == Outcome.COMPLETED:
            self.completed_order.append(rows)
        if self.on_settled is not None and self.settled():
            self.on_settled()
            self.on_settled = None

    def dropped(self, stage: Stage, rows: Sequence[int], outcome: Outcome, reason: str) -> int:
        """Settle the ``rows`` the bus dropped at ``stage`` (shed by a full topic or buffer,
        lost to retention, dead-lettered by a queue) with ``outcome`` and ``reason``: only rows
        ``stage`` has not served (a served row went on) and still pending. Returns their count.
        """
        served = self._served[stage]
        keep = np.fromiter((r for r in rows if not served[r]), np.int64)
        before = self.counts[outcome]
        self.finish(keep, outcome, stage, reason)
        return self.counts[outcome] - before

    def settled(self) -> bool:
        """True when every row has arrived and has a final outcome."""
        return self.arrived == self.n and sum(self.counts.values()) == self.n

    # -- end of run --------------------------------------------------------------------------
    def in_flight_stage(self) -> np.ndarray:
        """Where each arrived, pending row is (object array; None for other rows).

        ``ingress_queue`` / ``transaction_ingestor`` / topic name before a stage / stage name.
        """
        self.close()
        where = np.full(self.n, None, dtype=object)
        pend = np.flatnonzero(
            (self.outcome == Outcome.PENDING) & (np.arange(self.n) < self.arrived)
        )
        for i in pend:
            where[i] = self._locate(i)
        return where

    def _locate(self, i: int) -> str:
        last = None
        for st in Stage:
            if st > self.last_stage:
                break
            if not np.isnan(self.end[st, i]):
                last = st
            elif not np.isnan(self.start[st, i]):
                return STAGES[st]
            else:
                break
        if last is None:
            return "ingress_queue"
        nxt = Stage(last + 1)
        return _TOPIC_BEFORE[nxt]

    def check_conservation(self) -> dict[str, int]:
        """Counts per outcome; raises ConservationError when they do not add up."""
        arrived_pending = int(
            ((self.outcome == Outcome.PENDING) & (np.arange(self.n) < self.arrived)).sum()
        )
        out = {
            "generated": int(self.arrived),
            "completed": self.counts[Outcome.COMPLETED],
            "in_flight": arrived_pending,
            "shed": self.counts[Outcome.SHED],
            "dead_lettered": self.counts[Outcome.DEAD_LETTERED],
            "lost": self.counts[Outcome.LOST],
        }
        total = sum(v for k, v in out.items() if k != "generated")
        array_total = int((self.outcome[: self.arrived] != Outcome.PENDING).sum()) + arrived_pending
        if (
            total != out["generated"]
            or array_total != out["generated"]
            or (self.outcome[self.arrived :] != 0).any()
        ):
            raise ConservationError(
                f"conservation violated: {out} (rows accounted in arrays: {array_total})"
            )
        return out

    def _pod_categories(self, pod: np.ndarray, stage: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Pods that served a span, in pipeline order (stage, then name with numbers compared
        as numbers), and the span codes remapped to them: the same categories however and
        whenever the pods were first seen."""
        used = np.unique(pod)
        first_stage = {int(p): int(stage[pod == p].min()) for p in used}

        def key(p: int) -> tuple[int, list[object]]:
            parts = re.split(r"(\d+)", self.pod_names[p])
            return first_stage[p], [int(x) if x.isdigit() else x for x in parts]

        order = sorted(used.tolist(), key=key)
        remap = np.zeros(len(self.pod_names) or 1, dtype=np.int32)
        remap[order] = np.arange(len(order), dtype=np.int32)
        return remap[pod], [self.pod_names[p] for p in order]

    def spans_frame(self, keys: np.ndarray, n_partitions: Sequence[int]) -> pd.DataFrame:
        """One row per hop (see ``Results.spans``), built from column arrays in one go.

        ``span_id`` = ``trace_id × 4 + stage index`` (an integer id, unique per hop, like
        OpenTelemetry's 64-bit span ids); ``service`` and ``pod`` are categorical; ``partition``
        is ``keys[trace_id] % n_partitions[stage]`` (the topic the stage consumed; for the
        ingestor, the topic it produced to). Written to
        keep the peak memory low (compact dtypes, intermediates freed as it goes); the span
        chunks are released afterwards.
        """
        self.close()
        ing = np.flatnonzero(~np.isnan(self.end[Stage.INGESTOR, : self.arrived]))
        chunks = [c for c in self._spans if c[0] != Stage.INGESTOR]
        total = len(ing) + sum(len(c[2]) for c in chunks)
        trace = np.empty(total, np.int64)
        stage = np.zeros(total, np.int8)
        pod = np.empty(total, np.int32)
        start, end = np.empty(total), np.empty(total)
        k = len(ing)
        trace[:k], pod[:k] = ing, self.ingest_server[ing]
        start[:k], end[:k] = self.start[Stage.INGESTOR, ing], self.end[Stage.INGESTOR, ing]
        for st, pod_id, rows, t0, t1 in chunks:
            j = k + len(rows)
            trace[k:j], stage[k:j], pod[k:j] = rows, st, pod_id
            start[k:j], end[k:j] = t0, t1
            k = j
        self._spans, self._closed = [], 0
        part = (np.asarray(keys, dtype=np.int64)[trace]
                % np.asarray(n_partitions, dtype=np.int64)[stage]).astype(np.int32)
        order = np.lexsort((start, stage, trace))
        trace, stage, pod, part = trace[order], stage[order], pod[order], part[order]
        start, end = start[order], end[order]
        del order
        prev = np.maximum(stage.astype(np.int64) - 1, 0)
        enq = np.where(stage == 0, self.arrival_s[trace], self.end[prev, trace])
        del prev
        wait = start - enq
        del enq
        names = [STAGES[s] for s in Stage]
        pod_codes, pod_names = self._pod_categories(pod, stage)
        return pd.DataFrame(
            {
                "trace_id": trace,
                "span_id": trace * 4 + stage,
                "service": pd.Categorical.from_codes(stage, categories=names),
                "pod": pd.Categorical.from_codes(pod_codes, categories=pod_names or ["-"]),
                "partition": part,
                "queue_wait_s": wait,
                "service_s": end - start,
                "start_s": start,
                "end_s": end,
            }
        )
