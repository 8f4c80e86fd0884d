"""orchestrator-service, its bus side: the consumer of ``drift-detected`` (with
``monitoring.drift``).

Each record on the topic is the index of an alarm of the monitoring-service
(``sim.services.drift_watch.DriftWatch.alarms``); the handler hands each alarm, once, to
:attr:`OrchestratorHandler.on_alarm` (the retraining policy sets it; None: the alarms are only
recorded). It carries no transaction: a side consumer, outside conservation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.bus import Fetched
from sim.process import ProcessGenerator

__all__ = ["OrchestratorHandler"]


class OrchestratorHandler:
    """The orchestrator-service's ``sim.pods.Handler``.

    Parameters
    ----------
    alarms : list of dict
        The monitoring-service's alarms (shared, growing), indexed by record.

    Attributes
    ----------
    on_alarm : callable(alarm dict) or None
        Called once per alarm, when the poll holding it has been served.
    received : list of tuple
        ``(time_s, alarm index)`` of each alarm handed on, in order.
    lost : int
        Alarms the bus dropped or an at-most-once crash lost.
    """

    def __init__(self, alarms: list[dict[str, Any]], env: Any) -> None:
        self.alarms, self.env = alarms, env
        self.on_alarm: Callable[[dict[str, Any]], None] | None = None
        self.received: list[tuple[float, int]] = []
        self._seen: set[int] = set()
        self.lost = 0

    def begin(self, records: list[int], pod: str) -> list[int]:
        return [r for r in records if r not in self._seen]

    def finish(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator | None:
        for r in rows:
            if r in self._seen:
                continue
            self._seen.add(r)
            self.received.append((self.env.now, r))
            if self.on_alarm is not None:
                self.on_alarm(self.alarms[r])
        return None

    def drop(self, records: list[int], reason: str) -> None:
        """Count alarms that will never be handled."""
        self.lost += len({r for r in records if r not in self._seen})

    def crashed(self, pod: str, lost: bool, records: list[int]) -> None:
        """Nothing to do: it produces nothing."""

    def rewound(self, records: list[int], redelivered: bool) -> None:
        """Never called: its processing does not fail."""

    def release(self) -> None:
        """Nothing to free."""
