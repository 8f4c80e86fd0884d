"""The investigators' feedback on alerted cards (``labels.feedback``): the alert-feedback loop.

When the alert-service alerts a card (``sim.services.alerts.AlertHandler.on_alert``), an
investigator checks it ``feedback.delay_days`` of event time later (``delay_days × 86400 /
workload.speedup`` processing seconds) and learns the true labels of the card's live
transactions of the last ``lookback_days`` before the alert (Le Borgne et al. 2022, Chapter 2:
alerted cards are checked by investigators, whose labels come back far sooner than
chargebacks). Those labels are published on the ``labels`` topic (records appended to the
label table, ``LabelTable.add``), so the feature store and the ``LabelStore`` (source
``FEEDBACK``) learn them as the feed's. Which rows get labelled when is pure
(``sim.services.label_rules.feedback_rows``); :func:`sim.services.label_feed.
feedback_publisher` is the SimPy process.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.bus import Producer
from sim.scenario.learning import FeedbackSpec
from sim.services.label_feed import LabelTable, feedback_publisher
from sim.services.label_rules import CardIndex, feedback_rows
from sim.workload import TxTable

__all__ = ["Feedback"]


class Feedback:
    """Schedules the feedback labels of alerted cards.

    Parameters
    ----------
    env : simpy.Environment
    table : TxTable
        The live transactions (ledger rows).
    labels : LabelTable
        Where the feedback labels are appended (their record ids).
    topic : Producer
        The ``labels`` topic.
    spec : FeedbackSpec
    live_start_s, speedup : float
        Event time of processing time t is ``live_start_s + t × speedup``.
    valid : numpy.ndarray of bool, shape (n,)
        Rows that have a label (the ingestor did not reject them).

    Attributes
    ----------
    checks : list of tuple
        ``(alert_s, due_s, n_labels)`` per check scheduled (processing s).
    """

    def __init__(self, env: simpy.Environment, table: TxTable, labels: LabelTable,
                 topic: Producer, spec: FeedbackSpec, live_start_s: float, speedup: float,
                 valid: np.ndarray) -> None:
        self.env, self.table, self.labels, self.topic, self.spec = env, table, labels, topic, spec
        self.live_start_s, self.speedup = live_start_s, speedup
        rows = np.flatnonzero(valid)
        self.index = CardIndex(table.customer_id[rows], table.event_time_s[rows], rows)
        self.delay_s = spec.delay_days * 86400.0 / speedup
        self.checks: list[tuple[float, float, int]] = []

    def on_alert(self, rows: np.ndarray) -> None:
        """The alert-service alerted ``rows`` now: schedule their cards' feedback labels."""
        now = self.env.now
        alert_event_s = self.live_start_s + now * self.speedup
        got = feedback_rows(self.index, self.table.customer_id[rows], alert_event_s,
                            self.spec.lookback_days)
        self.checks.append((now, now + self.delay_s, len(got)))
        if not len(got):
            return
        tab = self.table
        ids = self.labels.add(got, tab.terminal_id[got], tab.event_time_s[got], tab.fraud[got])
        self.env.process(feedback_publisher(self.env, self.labels, self.topic, ids,
                                            tab.terminal_id[got], self.delay_s))
