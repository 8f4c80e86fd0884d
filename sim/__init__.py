"""sim: the world the tinybots live in.

SimPy processes that give the bots time, queues, pods and faults: the Kafka-like bus,
deployments and pods, the services of the fraud pipeline, the scenario model, ``run()`` and
its tidy ``Results``.
"""

from __future__ import annotations

__all__: list[str] = []
