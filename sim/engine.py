"""Which fast paths a run uses: the one place where a precomputed twin replaces its event model.

The event-driven path is the model of record: the ingestor's FIFO (``sim.pods.ingress.Ingress``,
fed one arrival at a time) and the label feed's publisher process
(``sim.services.label_feed.label_publisher``). Each has a precomputed twin that gives the same
run with far fewer SimPy events, but only where nothing can hold the producer back:

- the ingestor as an FCFS schedule (``sim.pods.ingress_schedule.ScheduledIngress``) when its
  output topic ``transactions`` is unbounded, or when it is the last stage (nothing downstream);
- the label feed as a ``sim.bus.ScheduledFeed`` when the ``labels`` topic is unbounded and
  no investigators' feedback (``labels.feedback``) produces to it as well.

Neither twin is taken on a topic whose retention acts within the run (``retention_s`` shorter
than ``max_duration_s``, ``sim.bus.retention``): deleting records needs each append's time,
which only the event path gives. Nor is either taken on a queue bus (``bus.kind`` sqs or
rabbitmq): a queue has no scheduled producer (the ingestor keeps its schedule when it is the
last stage, since then nothing is produced). Nor on a topic a broker fault may take down
(``sim.bus.availability``: the producer waits for it). The ingestor's schedule assumes fixed servers
from the start: it is not taken when the ingestor has an autoscaler or the cluster has node
pools (its pods may wait for a node), nor when a fault can act on the ingestor (a
``pod_crash`` or ``deployment_outage`` of it, a ``broker_outage`` or
``partition_unavailable`` of ``transactions``, a ``network_delay`` from it).

``engine.fast_paths: off`` forces both event models; ``auto`` (the default) takes a twin
whenever the scenario has nothing it cannot honour, and says why not otherwise
(:attr:`Paths.reasons`). Equality of the twins is tested in ``tests/test_sim_schedule.py`` and
``tests/test_sim_engine.py``; ``docs/architecture.md`` explains the choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.bus.availability import broker_fault_topics
from sim.bus.retention import retention_s
from sim.scenario import Scenario

__all__ = ["Paths", "choose_paths"]


@dataclass(frozen=True)
class Paths:
    """The paths a run takes.

    Attributes
    ----------
    scheduled_ingress : bool
        The ingestor is played from a precomputed schedule (else the event-driven ``Ingress``).
    scheduled_labels : bool
        The label feed is a precomputed feed (else the publisher process).
    reasons : dict of str to str
        For each event path taken, why (``"ingress"`` / ``"labels"`` keys).
    """

    scheduled_ingress: bool
    scheduled_labels: bool
    reasons: dict[str, str] = field(default_factory=dict)


def choose_paths(scenario: Scenario) -> Paths:
    """The fast paths ``scenario`` may use (see the module docstring).

    >>> from sim.scenario import Scenario
    >>> choose_paths(Scenario()).scheduled_ingress
    True
    >>> p = choose_paths(Scenario.from_dict({"engine": {"fast_paths": "off"}}))
    >>> p.scheduled_ingress, p.reasons["ingress"]
    (False, 'engine.fast_paths is off')
    """
    reasons: dict[str, str] = {}
    if scenario.engine.fast_paths == "off":
        reasons = {"ingress": "engine.fast_paths is off", "labels": "engine.fast_paths is off"}
        return Paths(False, False, reasons)
    last = scenario.last_stage == "transaction_ingestor"
    fixed = _fixed_ingestor(scenario)
    if fixed is not None:
        reasons["ingress"] = fixed
    if scenario.bus.kind != "kafka":  # a queue (SQS, RabbitMQ) has no scheduled producer
        why = f"bus.kind is {scenario.bus.kind}"
        ingress = last and fixed is None
        if not ingress:
            reasons.setdefault("ingress", why)
        return Paths(ingress, False, {**reasons, "labels": why})
    ingress = fixed is None and (last or scenario.topics.transactions.capacity_records is None)
    if not ingress and fixed is None:
        reasons["ingress"] = "topics.transactions is bounded (producer back-pressure)"
    labels = scenario.topics.labels.capacity_records is None
    if not labels:
        reasons["labels"] = "topics.labels is bounded (the publisher can be held back)"
    why = "retention_s acts within the run (deleting records needs each append's time)"
    if ingress and not last and retention_s(scenario, "transactions") is not None:
        ingress, reasons["ingress"] = False, f"topics.transactions.{why}"
    if labels and retention_s(scenario, "labels") is not None:
        labels, reasons["labels"] = False, f"topics.labels.{why}"
    down = broker_fault_topics(scenario)  # a broker fault holds the producer back
    if labels and "labels" in down:
        labels, reasons["labels"] = False, "faults: a broker fault on topic labels"
    if labels and scenario.labels.feedback.enabled:  # a feed must be the topic's only producer
        labels, reasons["labels"] = False, "labels.feedback is enabled (a second producer)"
    return Paths(ingress, labels, reasons)


def _fixed_ingestor(scenario: Scenario) -> str | None:
    """Why the ingestor's servers are not fixed from the start, or a fault can act on it
    (None: neither)."""
    if scenario.deployments.transaction_ingestor.autoscaling is not None:
        return "deployments.transaction_ingestor.autoscaling is set (servers change in the run)"
    if scenario.cluster.node_pools:
        return "cluster.node_pools is set (the ingestor's pods may wait for a node)"
    return _ingestor_fault(scenario)


def _ingestor_fault(scenario: Scenario) -> str | None:
    """Why a fault can act on the ingestor, naming the first such fault (None: none can)."""
    ingestor = "transaction_ingestor"
    for i, f in enumerate(scenario.faults):
        acts = (
            (f.kind in ("pod_crash", "deployment_outage") and f.deployment == ingestor)
            or (f.kind == "broker_outage" and (not f.topics or "transactions" in f.topics))
            or (f.kind == "partition_unavailable" and f.topic == "transactions")
            or (f.kind == "network_delay" and f.source == ingestor)
        )
        if acts:
            return f"faults[{i}] ({f.kind}) acts on the ingestor"
    return None
