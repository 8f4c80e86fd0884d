"""A dependency call with timeout, retries, circuit breaker and bulkhead (the SimPy driver).

The decisions are the pure policies of ``sim.policies`` (:class:`~sim.policies.retry.RetryPolicy`,
:class:`~sim.policies.retry.RetryBudget`, :class:`~sim.policies.breaker.CircuitBreaker`,
:class:`~sim.policies.bulkhead.Bulkhead`); this module only applies them in time. One logical
call (:meth:`ResilientCaller.call`) is a sequence of attempts, nested as resilience4j's
``Decorators`` nest them (Retry around CircuitBreaker around Bulkhead around TimeLimiter):

1. ``breaker.try_acquire``: refused when OPEN (resilience4j's ``CallNotPermittedException``),
   no request reaches the server;
2. ``bulkhead.try_enter``: when full, the attempt waits up to ``max_wait_s`` for a permit (a
   SimPy wait woken by each permit given back), else it is rejected
   (``BulkheadFullException``, recorded by the breaker as a failed call of the time waited);
3. the server's call (``sim.services.dependency``) raced against ``timeout_s``: a timeout is a
   failure and, lasting ``timeout_s``, a slow call when above the breaker's slow threshold;
   the abandoned call goes on at the server (wasted work), or is interrupted there when the
   dependency's ``cancel_abandoned`` is set;
4. ``breaker.on_result(duration, success)``; the bulkhead permit is given back.

A failed attempt (error or timeout) is retried after ``RetryPolicy.delay_s(attempt,
rngs["retries"])`` while ``should_retry(attempt)`` and, with a budget, ``allow_retry()`` (each
attempt's outcome goes into the budget, gRFC A6). A refusal by the open breaker or the full
bulkhead is not retried: it ends the call at once (resilience4j's Retry configured with
``ignoreExceptions(CallNotPermittedException, BulkheadFullException)``: retrying into an open
breaker only waits). Attempts never exceed ``max_attempts``.

A crash of the calling pod (``simpy.Interrupt``) ends the attempt: its bulkhead permit is given
back and the breaker records a failure (resilience4j's decorators record an
``InterruptedException`` as an error), so a half-open breaker never waits for a result that
cannot come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.faults.schedule import FaultWindows
from sim.policies.breaker import BreakerConfig, CircuitBreaker, CircuitState
from sim.policies.bulkhead import Bulkhead
from sim.policies.retry import RetryBudget, RetryPolicy
from sim.process import ProcessGenerator
from sim.services.dependency import DependencyServer

__all__ = ["OUTCOMES", "CallResult", "ResilientCaller", "breaker_frame", "feature_store_caller"]

OUTCOMES = ("ok", "error", "timeout", "breaker_open", "bulkhead_full")
"""Outcomes of one attempt (the ``outcome`` label of ``tinybots_dependency_calls_total``)."""

_REFUSED = {"breaker_open": "circuit breaker open", "bulkhead_full": "bulkhead full"}


@dataclass(frozen=True)
class CallResult:
    """The end of one logical call: ``ok``, the ``attempts`` made (refused ones included) and,
    when it failed, the ``reason`` (``"feature_store timeout after 3 attempts"``, ``"circuit
    breaker open"``, ``"bulkhead full"``)."""

    ok: bool
    attempts: int
    reason: str | None = None


class ResilientCaller:
    """The calls of one service to one dependency, with the resilience of ``spec``.

    Parameters
    ----------
    env : simpy.Environment
    server : DependencyServer
    spec : sim.scenario.resilience.ResilienceSpec
        ``retry`` (None: one attempt), its ``budget``, ``timeout_s`` (None: wait for the
        answer), ``breaker``, ``bulkhead`` (None: none).
    rng : numpy.random.Generator
        The ``retries`` stream (the back-off jitter).
    service : str
        The calling deployment (``feature_enricher``).

    Attributes
    ----------
    counts : dict of str to int
        Attempts by outcome (:data:`OUTCOMES`).
    retries : int
        Retries made (attempts after the first of a call).
    backoffs : list of (float, int, float)
        Each back-off drawn: ``(time_s, failed attempt, delay_s)``, in draw order.
    breaker : CircuitBreaker or None
    bulkhead : Bulkhead or None
    """

    def __init__(
        self, env: simpy.Environment, server: DependencyServer, spec: Any,
        rng: np.random.Generator, service: str = "feature_enricher",
    ) -> None:
        self.env, self.server, self.rng = env, server, rng
        self.service, self.dependency = service, server.name
        r = spec.retry
        self.retry = (RetryPolicy(r.max_attempts, r.base_wait_s, r.multiplier, r.max_wait_s,
                                  r.jitter) if r is not None else RetryPolicy(max_attempts=1))
        b = r.budget if r is not None else None
        self.budget = RetryBudget(b.max_tokens, b.token_ratio) if b is not None else None
        self.timeout_s = spec.timeout_s
        self.breaker = None if spec.breaker is None else CircuitBreaker(BreakerConfig(
            **{k: (v.upper() if k == "sliding_window_type" else v)
               for k, v in spec.breaker.model_dump().items()}))
        h = spec.bulkhead
        self.bulkhead = None if h is None else Bulkhead(h.max_concurrent_calls, h.max_wait_s)
        self._waiters: list[simpy.Event] = []
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.retries = 0
        self.backoffs: list[tuple[float, int, float]] = []

    def call(self, n: int) -> ProcessGenerator:
        """One logical call of ``n`` records, a SimPy sub-process (``yield from``); its value
        is a :class:`CallResult`."""
        attempt = 0
        while True:
            attempt += 1
            outcome = yield from self._attempt(n)
            self.counts[outcome] += 1
            if outcome == "ok":
                if self.budget is not None:
                    self.budget.on_success()
                return CallResult(True, attempt)
            if outcome in _REFUSED:
                return CallResult(False, attempt, _REFUSED[outcome])
            if self.budget is not None:
                self.budget.on_failure()
            if not self.retry.should_retry(attempt) or (
                    self.budget is not None and not self.budget.allow_retry()):
                plural = "s" if attempt > 1 else ""
                return CallResult(False, attempt,
                                  f"{self.dependency} {outcome} after {attempt} attempt{plural}")
            delay = self.retry.delay_s(attempt, self.rng)
            self.backoffs.append((self.env.now, attempt, delay))
            self.retries += 1
            yield self.env.timeout(delay)

    def _attempt(self, n: int) -> ProcessGenerator:
        """One attempt; its value is its outcome (:data:`OUTCOMES`)."""
        env, breaker = self.env, self.breaker
        if breaker is not None and not breaker.try_acquire(env.now):
            return "breaker_open"
        start = env.now
        entered = False
        try:
            entered = yield from self._enter()
            if not entered:
                if breaker is not None:
                    breaker.on_result(env.now, env.now - start, success=False)
                return "bulkhead_full"
            start = env.now
            outcome = yield from self._race(n)
        except simpy.Interrupt:
            if breaker is not None:
                breaker.on_result(env.now, env.now - start, success=False)
            raise
        finally:
            if entered:
                self._exit()
        if breaker is not None:
            breaker.on_result(env.now, env.now - start, success=outcome == "ok")
        return outcome

    def _race(self, n: int) -> ProcessGenerator:
        """The server's call raced against the timeout; its value is ok / error / timeout."""
        env = self.env
        abandoned = [False]
        proc = env.process(self.server.call(n, abandoned))
        if self.timeout_s is None:
            ok = yield proc
            return "ok" if ok else "error"
        got = yield proc | env.timeout(self.timeout_s)
        if proc in got:
            return "ok" if got[proc] else "error"
        abandoned[0] = True  # the server finishes it anyway (wasted work), unless cancelled
        if self.server.spec.cancel_abandoned and proc.is_alive:
            proc.interrupt("cancelled")
        return "timeout"

    def _enter(self) -> ProcessGenerator:
        """Take a bulkhead permit, waiting up to its ``max_wait_s``; value: whether taken."""
        b = self.bulkhead
        if b is None or b.try_enter():
            return True
        env = self.env
        deadline = env.now + b.max_wait_s
        while env.now < deadline:
            woken = env.event()
            self._waiters.append(woken)
            try:
                yield woken | env.timeout(deadline - env.now)
            finally:
                if woken in self._waiters:
                    self._waiters.remove(woken)
            if b.try_enter():
                return True
        return False

    def _exit(self) -> None:
        """Give the bulkhead permit back and wake every waiter (each tries again)."""
        if self.bulkhead is None:
            return
        self.bulkhead.exit()
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.succeed()

    @property
    def breaker_opens(self) -> int:
        """Transitions of the breaker to OPEN (0 without a breaker)."""
        if self.breaker is None:
            return 0
        return sum(1 for _, _, to in self.breaker.transitions if to is CircuitState.OPEN)

    def breaker_state(self) -> float:
        """The breaker's state as resilience4j's ``State.getOrder()`` (the value of its
        Prometheus gauge): 0 CLOSED, 1 OPEN, 2 HALF_OPEN; NaN without a breaker."""
        if self.breaker is None:
            return float("nan")
        return float({CircuitState.CLOSED: 0, CircuitState.OPEN: 1,
                      CircuitState.HALF_OPEN: 2}[self.breaker.state])


def breaker_frame(callers: list[ResilientCaller]) -> pd.DataFrame:
    """The ``breaker`` frame: one row per state change of each caller's breaker, in time order:
    ``time_s``, ``service``, ``dependency``, ``from_state``, ``to_state`` (CLOSED / OPEN /
    HALF_OPEN)."""
    rows = [(t, c.service, c.dependency, a.value, b.value)
            for c in callers if c.breaker is not None for t, a, b in c.breaker.transitions]
    rows.sort(key=lambda r: r[0])
    cols = ["time_s", "service", "dependency", "from_state", "to_state"]
    return pd.DataFrame({
        name: pd.Series([r[i] for r in rows], dtype="float64" if i == 0 else "object")
        for i, name in enumerate(cols)})


def feature_store_caller(
    env: simpy.Environment, scenario: Any, rngs: dict[str, np.random.Generator],
    windows: FaultWindows,
) -> ResilientCaller | None:
    """The feature-enricher's caller of the feature store, when the run models the call
    (``sim.scenario.resilience.feature_store_spec``), else None (no call: today's in-process
    store).

    ``windows``: the run's fault windows, built once by ``sim.system`` from
    ``occurrences(scenario.faults, rngs["faults"], horizon_s)`` (each ``spawn`` of the faults
    stream gives new children, so the occurrences must be drawn once per run and shared).
    """
    from sim.scenario.resilience import feature_store_spec

    spec = feature_store_spec(scenario)
    if spec is None:
        return None
    server = DependencyServer(env, spec, rngs["feature_store"], windows)
    return ResilientCaller(env, server, scenario.deployments.feature_enricher.resilience,
                           rngs["retries"])
