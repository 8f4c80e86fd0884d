"""What the bus drops, counted: every topic's and consumer's ``on_drop`` wired to the ledger.

``sim.system.build`` calls :func:`wire_drops` once the topics, consumers and deployments exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.pods import Deployment, Handler
from sim.record.incidents import DROP_KINDS, IncidentLog, drop_detail
from sim.record.ledger import Ledger, Outcome
from sim.topology import LABEL_FEED, SERVICES, Stage, row_of

__all__ = ["wire_drops"]


def wire_drops(
    topics: dict[str, Any], consumers: dict[str, Any], deployments: dict[str, Deployment],
    ledger: Ledger, incidents: IncidentLog,
) -> None:
    """Send what the bus drops (``on_drop(records, outcome, reason)``, ``sim.bus.client``) to
    the ledger and the incident log.

    A topic's ``on_drop`` (produce side: shed by a full topic or producer buffer, lost in a
    crashed pod's producer buffer) settles the records at the stage producing to it; a
    consumer's (consume side: lost to retention, dead-lettered by a queue) at its consuming
    stage (``Ledger.dropped``; ``outcome`` shed / lost / dead_lettered). The ``labels`` topic
    carries labels, not transactions: the label handler counts them in ``ledger.labels_lost``.
    What a side consumer of no stage loses (the monitoring-service's copy of a score) is
    counted by its handler's ``drop``. Every drop is an incident
    (``sim.record.incidents.DROP_KINDS``, ``drop_detail``). (A pod crash discards the pod's
    producer buffer: ``Handler.crashed``, lost under at-most-once.)
    """
    outcomes = {"shed": Outcome.SHED, "lost": Outcome.LOST, "dead_lettered": Outcome.DEAD_LETTERED}
    label_dep = deployments.get(LABEL_FEED.deployment)

    def sink(
        stage: Stage | None, target: str, topic: str, side: Handler | None = None
    ) -> Callable[[list[int], str, str], None]:
        labels = topic == LABEL_FEED.topic_in
        what = "labels" if labels else "records"

        def on_drop(records: list[int], outcome: str, reason: str) -> None:
            if labels:
                if label_dep is not None:
                    label_dep.handler.drop(records, reason)
                else:
                    ledger.labels_lost += len(records)
            elif stage is not None:
                ledger.dropped(stage, records, outcomes[outcome], reason)
            elif side is not None:
                side.drop(records, reason)
            incidents(DROP_KINDS[outcome], target, drop_detail(len(records), what, topic, reason))

        return on_drop

    producer_of = {row.topic_out: row for row in SERVICES if row.topic_out is not None}
    for name, topic in topics.items():
        row = producer_of.get(name)
        if row is not None:
            topic.on_drop = sink(row.stage, row.deployment, name)
        else:  # the labels topic: the label feed publishes it
            topic.on_drop = sink(None, LABEL_FEED.deployment, name)
    for key, consumer in consumers.items():
        row = row_of(key)
        dep = deployments.get(key)
        side = dep.handler if dep is not None and row.stage is None else None
        consumer.on_drop = sink(row.stage, key, row.topic_in or "", side)
