"""Deployments and pods: service times, consumer deployments, the ingress and its fast twin.

- ``sim.pods.service_time``: the seeded service-time draws of a poll or a request;
- ``sim.pods.deployment``: a consumer deployment of pods, each running consumers of the
  deployment's group; start-up, crash and restart;
- ``sim.pods.ingress``: the transaction-ingestor's FIFO with c servers, event-driven (the model);
- ``sim.pods.ingress_schedule``: the same queue precomputed (Kiefer-Wolfowitz FCFS recurrence),
  used where ``sim.engine`` says it is equal.
"""

from __future__ import annotations

from sim.pods.cluster import Cluster
from sim.pods.deployment import Deployment, Handler, Pod
from sim.pods.ingress import Ingress, feed_arrivals
from sim.pods.ingress_schedule import FcfsSchedule, ScheduledIngress, fcfs_schedule
from sim.pods.service_time import ServiceTime

__all__ = [
    "Cluster",
    "Deployment",
    "FcfsSchedule",
    "Handler",
    "Ingress",
    "Pod",
    "ScheduledIngress",
    "ServiceTime",
    "fcfs_schedule",
    "feed_arrivals",
]
