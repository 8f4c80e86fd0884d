"""What every consumer service shares: idempotent begin, timed finish, produce, drop.

A service sees the bus only through ``sim.bus.client``: it produces with ``Producer.send``
(records with their keyed partitions) and reads the time from the client's ``env``. When its
deployment has a producer buffer (``deployments.*.producer``) in front of a bounded topic, it
produces through ``sim.bus.producer.ProducerBuffers`` (one buffer per pod) instead.

Failed processing (issue 11): the rows of :attr:`ConsumerStage.poison` always fail here
(:meth:`ConsumerStage.failures`; ``begin`` does not compute them); the pod retries them in
place (``sim.pods.retries``), then either dead-letters them (:meth:`ConsumerStage.dead_letter`,
to the topic ``<topic_in>.dlq``) or sets ``Fetched.seek_back`` (the batch is polled again:
:meth:`ConsumerStage.rewound`). A ``network_delay`` fault towards the consumers of the output
topic (:attr:`ConsumerStage.delay_s`) holds the produce back by the delay (its acks' round trip),
so the span ends that much later.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.bus import BusClient, Fetched, Producer
from sim.process import ProcessGenerator
from sim.record.incidents import drop_detail
from sim.record.ledger import Ledger, Outcome
from sim.topology import PIPELINE, STAGES, Stage
from sim.workload import TxTable

__all__ = ["ConsumerStage"]


class ConsumerStage:
    """A consumer service: the ``sim.pods.Handler`` of one stage.

    Parameters
    ----------
    table : TxTable
    ledger : Ledger
    topic_in : sim.bus.BusClient
        The input side; only its clock (``env``) is read (the deployment polls for it).
    topic_out : sim.bus.Producer or None
        Where served rows are produced, keyed by card (None at the last stage).

    Attributes
    ----------
    producer : sim.bus.producer.ProducerBuffers or None
        The pods' producer buffers (None: a plain ``send``, see
        :func:`sim.bus.producer.producer_buffers`).
    poison : dict of int to str
        Rows whose processing always fails here, with their reason (``sim.faults.schedule.
        poison_rows``; set by ``sim.system``).
    dlq_topic : str
        The dead-letter topic of this consumer, ``<topic_in>.dlq`` (Spring Kafka's
        ``DeadLetterPublishingRecoverer`` names it ``<topic>.DLT``); nothing consumes it.
    dlq_rows : list of tuple
        Rows of the ``dead_letters`` frame (``sim.record.results``): ``(row, service, topic,
        reason, attempts, time_s, first_attempt_s)``.
    delay_s : callable(now) -> float, or None
        Extra network delay (s) of a produce now to the output topic's consumers (None: none).
    on_incident : callable(kind, target, detail)
        The incident log (set by ``sim.system``).
    """

    stage: Stage

    def __init__(
        self, table: TxTable, ledger: Ledger, topic_in: BusClient, topic_out: Producer | None
    ) -> None:
        self.table = table
        self.ledger = ledger
        self.topic_in = topic_in
        self.topic_out = topic_out if ledger.last_stage > self.stage else None
        # partition of each row in the output topic (keyed by card), looked up per record
        self._out_partition = (
            None
            if self.topic_out is None
            else self.topic_out.partition_of(table.customer_id).tolist()
        )
        self.producer = None if self.topic_out is None else self.topic_out.buffers
        self.poison: dict[int, str] = {}
        self.dlq_topic = f"{PIPELINE[self.stage].topic_in}.dlq"
        self.dlq_rows: list[tuple[int, str, str, str, int, float, float]] = []
        self.delay_s: Callable[[float], float] | None = None
        self.on_incident: Callable[[str, str, str], None] = lambda kind, target, detail: None
        self.failed_reason: dict[int, str] = {}  # last failure of rows awaiting a seek-back
        self.dead_letter_enabled = False  # deployments.*.resilience.dead_letter (sim.system)

    def compute(self, rows: np.ndarray, row_list: list[int]) -> None:
        """The stage's real work on fresh rows (the same rows as an array and as a list)."""

    def begin(self, records: list[int], pod: str) -> list[int]:
        rows = self.ledger.fresh(self.stage, records)
        if rows:
            ok = [r for r in rows if r not in self.poison] if self.poison else rows
            if ok:
                self.compute(np.array(ok, dtype=np.int64), ok)
        return rows

    def failures(self, rows: list[int]) -> dict[int, str]:
        """The rows of ``rows`` whose processing attempt failed, with the reason (the poison
        rows; ``begin`` and :meth:`retry` did not compute them)."""
        poison = self.poison
        return {r: poison[r] for r in rows if r in poison} if poison else {}

    def retry(self, rows: list[int]) -> dict[int, str]:
        """One more processing attempt of ``rows`` (failed before): compute those that
        succeed now; returns those that failed again, with the reason."""
        failed = self.failures(rows)
        ok = [r for r in rows if r not in failed]
        if ok:
            self.compute(np.array(ok, dtype=np.int64), ok)
        return failed

    def dead_letter(
        self, rows: list[int], reason: str, attempts: int, first_attempt_s: float | None = None
    ) -> None:
        """Send ``rows`` to the dead-letter topic :attr:`dlq_topic` after ``attempts`` failed
        processing attempts (Spring Kafka's ``DeadLetterPublishingRecoverer``): each is
        ``dead_lettered`` with ``reason`` (``Ledger`` outcome), a row of :attr:`dlq_rows`
        and one ``records_dead_lettered`` incident. The rest of the batch goes on and is
        committed. ``first_attempt_s``: when the first of these attempts started (NaN if not
        known)."""
        if not rows:
            return
        led, now = self.ledger, self.topic_in.env.now
        arr = np.array(sorted(rows), dtype=np.int64)
        led.attempts[arr] = attempts
        led.finish(arr, Outcome.DEAD_LETTERED, self.stage, reason)
        first = math.nan if first_attempt_s is None else float(first_attempt_s)
        service = STAGES[self.stage]
        self.dlq_rows += [(r, service, self.dlq_topic, reason, attempts, now, first)
                              for r in arr.tolist()]
        self.on_incident("records_dead_lettered", service,
                         drop_detail(len(arr), "records", self.dlq_topic, reason))

    def give_up(
        self, failing: dict[int, str], attempts: int, fetched: Fetched,
        first_attempt_s: float | None = None,
    ) -> None:
        """The last of ``attempts`` processing attempts of ``failing`` (row -> reason) failed
        (a poison record, a failed feature-store call): dead-letter them, by reason
        (:meth:`dead_letter`), when the consumer has a dead-letter topic
        (:attr:`dead_letter_enabled`); else keep their reasons and set ``fetched.seek_back``
        (the batch is not committed but polled again: :meth:`rewound`)."""
        if self.dead_letter_enabled:
            by_reason: dict[str, list[int]] = {}
            for r, why in failing.items():
                by_reason.setdefault(why, []).append(r)
            for why, rows in by_reason.items():
                self.dead_letter(rows, why, attempts, first_attempt_s)
            return
        self.failed_reason.update(failing)
        fetched.seek_back = True

    def rewound(self, records: list[int], redelivered: bool) -> None:
        """The batch ``records`` was not committed (``Fetched.seek_back``): the rows this stage
        has not served may be taken again when polled again (``redelivered``); under
        at-most-once (not ``redelivered``: committed at poll) they are lost, with the reason
        of their failure."""
        led, stage = self.ledger, self.stage
        if redelivered:
            led.release(stage, records)
            return
        by_reason: dict[str, list[int]] = {}
        for r in records:
            why = self.failed_reason.pop(r, "processing failed")
            by_reason.setdefault(why, []).append(r)
        for why, rows in by_reason.items():
            n = led.dropped(stage, rows, Outcome.LOST, f"{why} (at-most-once: not polled again)")
            if n:
                self.on_incident("records_lost", STAGES[stage], drop_detail(
                    n, "records", PIPELINE[stage].topic_in or "", why))

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        """Produce ``rows`` downstream and record them served; a sub-process to ``yield from``
        when the output topic is bounded (the produce may block), else done at once (None).
        Rows left in the pod's producer buffer are recorded served once appended, and
        ``fetched.commit_after`` is set to the event of that (at-least-once commits then)."""
        if not rows:
            return None
        if self.delay_s is not None and self.topic_out is not None:
            d = self.delay_s(self.topic_in.env.now)
            if d > 0:
                return self._finish_delayed(d, rows, start_s, pod, fetched)
        return self._finish_now(rows, start_s, pod, fetched)

    def _finish_delayed(
        self, d: float, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator:
        """The produce waits ``d`` s more (a network delay to the consumers: the acks' round
        trip), then completes as usual."""
        yield self.topic_in.env.timeout(d)
        more = self._finish_now(rows, start_s, pod, fetched)
        if more is not None:
            yield from more

    def _finish_now(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        topic = self.topic_out
        if topic is not None:
            part = self._out_partition
            if self.producer is not None:
                return self._finish_buffered(rows, start_s, pod, fetched)
            blocking = topic.send(rows, [part[r] for r in rows])
            if blocking is not None:  # a bounded topic: the produce may block
                return self._finish_blocking(blocking, rows, start_s, pod)
        self.ledger.served(self.stage, rows, start_s, self.topic_in.env.now, pod)
        return None

    def _finish_buffered(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        assert self.producer is not None and self._out_partition is not None
        end_s, part, ledger, stage = self.topic_in.env.now, self._out_partition, self.ledger, \
            self.stage

        def done() -> None:  # every row downstream (or shed): recorded served only now, so
            ledger.served(stage, rows, start_s, end_s, pod)  # a crash before redelivers them

        blocking, flushed = self.producer.send(pod, rows, [part[r] for r in rows], done)
        if flushed is not None:
            fetched.commit_after = flushed
        return blocking

    def _finish_blocking(
        self, blocking: ProcessGenerator, rows: list[int], start_s: float, pod: str
    ) -> ProcessGenerator:
        end_s = self.topic_in.env.now  # service end; the full downstream topic may block below
        yield from blocking
        # recorded only once every row is downstream: a crash while blocked leaves the rows
        # unserved, so their redelivery produces them again (duplicates are dropped there)
        self.ledger.served(self.stage, rows, start_s, end_s, pod)

    def drop(self, records: list[int], reason: str) -> None:
        self.ledger.finish(np.array(records, dtype=np.int64), Outcome.LOST, self.stage, reason)

    def crashed(self, pod: str, lost: bool, records: list[int]) -> None:
        """``pod`` crashed holding ``records``: those it had not served may be served again
        when redelivered (``Ledger.release``), and its producer buffer is gone
        (``sim.bus.ProducerBuffer``)."""
        self.ledger.release(self.stage, records)
        if self.producer is not None:
            self.producer.crash(pod, lost)

    def release(self) -> None:
        """Nothing to free (stages that hold per-run arrays override this)."""
