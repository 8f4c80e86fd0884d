"""Pure decisions, with no SimPy inside: unit-tested against the real systems' documented rules.

Today the alert-service's policy (``sim.policies.alert``); the autoscalers, circuit breaker and
retry policies of later issues belong here too. SimPy processes only drive them.
"""

from __future__ import annotations

from sim.policies.alert import AlertPolicy

__all__ = ["AlertPolicy"]
