"""Resilience settings, dependencies and SLOs of a scenario.

- ``deployments.<consumer>.resilience`` (:class:`ResilienceSpec`): how a consumer service
  handles a record whose processing fails (retries, a dead-letter topic) and, for the
  feature-enricher, its calls to the feature store (timeout, retries, circuit breaker,
  bulkhead, fallback). The numbers default to resilience4j's and gRPC's (``sim.policies``).
- ``dependencies.feature_store`` (``sim.scenario.deployments.DependencySpec``): the feature
  store as a remote service the enricher calls once per poll, with ``servers`` concurrent
  calls served FIFO; a call the client has given up on (timeout) is still served (the work
  is wasted), which is what makes retry storms possible. ``None`` (the default) keeps the
  feature store in-process (no call is modelled), unless a fault or a resilience setting
  needs the call, which then has the defaults of ``DependencySpec``.
- ``slos`` (:class:`SloSpec` per deployment): the service-level objectives that the
  burn-rate alerts and the blast-radius table judge (``sim.policies.slo``,
  ``sim.analysis.isolation``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sim.scenario.base import Frozen as _Frozen

__all__ = [
    "BreakerSpec",
    "BulkheadSpec",
    "BurnRateWindow",
    "ResilienceSpec",
    "RetryBudgetSpec",
    "RetrySpec",
    "SRE_WINDOWS",
    "SloSpec",
    "Slos",
    "feature_store_spec",
    "resilience_errors",
]


class RetryBudgetSpec(_Frozen):
    """gRPC retry throttling (gRFC A6): ``max_tokens`` 10, ``token_ratio`` 0.1."""

    max_tokens: float = Field(10.0, gt=0.0, le=1000.0)
    token_ratio: float = Field(0.1, gt=0.0, le=1000.0)


class RetrySpec(_Frozen):
    """Retries of a failed call or processing attempt (``sim.policies.retry.RetryPolicy``):
    resilience4j's ``maxAttempts`` 3 and ``waitDuration`` 0.5 s, doubling, capped at 30 s,
    full jitter; ``budget`` None: no retry budget."""

    max_attempts: int = Field(3, ge=1, le=100)
    base_wait_s: float = Field(0.5, ge=0.0, le=3600.0)
    multiplier: float = Field(2.0, ge=1.0, le=100.0)
    max_wait_s: float = Field(30.0, ge=0.0, le=86400.0)
    jitter: Literal["none", "full", "equal"] = "full"
    budget: RetryBudgetSpec | None = None


class BreakerSpec(_Frozen):
    """A resilience4j circuit breaker (``sim.policies.breaker.BreakerConfig``); the defaults are
    resilience4j's ``CircuitBreakerConfig`` ones."""

    sliding_window_type: Literal["count_based", "time_based"] = "count_based"
    sliding_window_size: int = Field(100, ge=1, le=100_000)
    minimum_number_of_calls: int = Field(100, ge=1, le=100_000)
    failure_rate_threshold: float = Field(50.0, gt=0.0, le=100.0)
    slow_call_rate_threshold: float = Field(100.0, gt=0.0, le=100.0)
    slow_call_duration_threshold_s: float = Field(60.0, gt=0.0, le=86400.0)
    wait_duration_in_open_state_s: float = Field(60.0, gt=0.0, le=86400.0)
    permitted_number_of_calls_in_half_open_state: int = Field(10, ge=1, le=100_000)


class BulkheadSpec(_Frozen):
    """resilience4j's ``SemaphoreBulkhead``: ``max_concurrent_calls`` 25, ``max_wait_s`` 0."""

    max_concurrent_calls: int = Field(25, ge=1, le=100_000)
    max_wait_s: float = Field(0.0, ge=0.0, le=3600.0)


class ResilienceSpec(_Frozen):
    """How a consumer service survives failures.

    ``retry`` (None: no retry) retries a failed processing attempt of a record after its
    back-off (and, on the feature-enricher, a failed feature-store call). A record that has
    failed ``retry.max_attempts`` times (1 without ``retry``) goes to the dead-letter topic
    ``<topic>.dlq`` with its reason and attempt count when ``dead_letter`` is true (counted
    ``dead_lettered``); otherwise its batch is not committed and the consumer seeks back to it,
    so it is polled again (at-least-once: nothing is lost, a poison record blocks its
    partition). ``timeout_s``, ``breaker``, ``bulkhead`` and ``fallback`` act on dependency
    calls, so only on the feature-enricher: ``fallback: cached_features`` scores a record
    whose call failed (or was refused by an open breaker or a full bulkhead) with its card's
    last features, flagged ``degraded``.
    """

    retry: RetrySpec | None = None
    dead_letter: bool = False
    timeout_s: float | None = Field(None, gt=0.0, le=3600.0)
    breaker: BreakerSpec | None = None
    bulkhead: BulkheadSpec | None = None
    fallback: Literal["none", "cached_features"] = "none"


class BurnRateWindow(_Frozen):
    """One multiwindow burn-rate alert (Google SRE workbook, "Alerting on SLOs"): page when the
    error budget burns ``burn_rate`` times faster than allowed over both ``long_s`` and
    ``short_s``."""

    long_s: float = Field(gt=0.0, le=86400.0 * 30)
    short_s: float = Field(gt=0.0, le=86400.0 * 30)
    burn_rate: float = Field(gt=0.0, le=10_000.0)

    @model_validator(mode="after")
    def _short_within_long(self) -> BurnRateWindow:
        if self.short_s > self.long_s:
            raise ValueError(f"short_s: must be in (0, long_s = {self.long_s:g}], "
                             f"got {self.short_s:g}")
        return self


SRE_WINDOWS: tuple[BurnRateWindow, ...] = (
    BurnRateWindow(long_s=60.0, short_s=5.0, burn_rate=14.4),
    BurnRateWindow(long_s=360.0, short_s=30.0, burn_rate=6.0),
)
"""The workbook's two paging alerts (1 h / 5 min at 14.4×, 6 h / 30 min at 6×) with their
windows divided by 60: a simulated run lasts minutes, not a 30-day SLO period."""


class SloSpec(_Frozen):
    """A service's objectives: ``p99_s`` (99 % of the records it serves within that many
    seconds from reaching its input, None: no latency objective) and ``availability`` (the
    fraction of records reaching it that it serves, not dead-lettered, shed or lost)."""

    p99_s: float | None = Field(None, gt=0.0, le=86400.0)
    availability: float = Field(0.999, gt=0.0, lt=1.0)
    alerts: tuple[BurnRateWindow, ...] = SRE_WINDOWS


class Slos(_Frozen):
    """Per pipeline service, its :class:`SloSpec` (None: no objective, not judged)."""

    transaction_ingestor: SloSpec | None = None
    feature_enricher: SloSpec | None = None
    fraud_detector: SloSpec | None = None
    alert_service: SloSpec | None = None


_CALL_ONLY = ("timeout_s", "breaker", "bulkhead", "fallback")
"""Resilience fields that act on a dependency call (only the feature-enricher makes one)."""


def resilience_errors(scenario: Any) -> str | None:
    """The first resilience setting that could not act, as one line naming the field."""
    from sim.scenario.faults import ConsumerName

    failing = ConsumerName.__args__  # where processing can fail (a poison record)
    for name in type(scenario.deployments).model_fields:
        spec = getattr(scenario.deployments, name)
        res = getattr(spec, "resilience", None)
        if res is not None and name not in failing and res != ResilienceSpec():
            return (f"deployments.{name}.resilience: has no effect on {name} (its processing "
                    f"never fails); resilience acts on {', '.join(failing)}; remove it")
        if res is None or name == "feature_enricher":
            continue
        for field in _CALL_ONLY:
            if getattr(res, field) != ResilienceSpec.model_fields[field].default:
                return (f"deployments.{name}.resilience.{field}: acts on dependency calls, and "
                        "only the feature_enricher calls one (the feature store); remove it")
    return None


def feature_store_spec(scenario: Any) -> Any:
    """The feature store's ``DependencySpec`` when the run models its calls, else None.

    The calls are modelled when ``dependencies.feature_store`` is set, or when a fault acts on
    the feature store or the enricher's resilience sets a call-side field (then with the
    defaults of ``DependencySpec``).
    """
    from sim.scenario.deployments import DependencySpec

    given = scenario.dependencies.feature_store
    if given is not None:
        return given
    res = scenario.deployments.feature_enricher.resilience
    needs = any(getattr(res, f) != ResilienceSpec.model_fields[f].default for f in _CALL_ONLY)
    for f in scenario.faults:
        if f.kind in ("slow_dependency", "failing_dependency"):
            needs = True
        if f.kind == "network_delay" and f.target == "feature_store":
            needs = True
    return DependencySpec() if needs else None
