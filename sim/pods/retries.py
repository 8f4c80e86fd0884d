"""Retries of failed processing in place, then a dead letter or a seek-back: the SimPy driver.

A consumer's processing of a record can fail (a poison record: ``ConsumerStage.failures``).
As Spring Kafka's ``DefaultErrorHandler`` does, the pod retries the failed records in place:
it waits the back-off of the pure :class:`sim.policies.retry.RetryPolicy` (``delay_s(k)`` after
failed attempt ``k``, jitter drawn from the run's ``retries`` stream), runs the processing of
the failed records again (a service time of ``n_failed`` records), up to ``max_attempts``
attempts in all; a :class:`sim.policies.retry.RetryBudget` per pod (gRFC A6 retry throttling:
each failed attempt of a record drains a token, each success refills ``token_ratio``), when
the spec has one, stops retrying earlier. After the last attempt, with ``dead_letter`` the
records go to the consumer's dead-letter topic (Spring's ``DeadLetterPublishingRecoverer``:
``ConsumerStage.dead_letter``) and the batch is committed; without, the batch is not committed
and the consumer seeks back to it (``Fetched.seek_back``; Spring's error handler with no
recoverer and an unbounded back-off), so the record is polled again, and again: at-least-once
loses nothing, but its partition is blocked.

The consumer stays busy (its thread sleeps in the error handler: it does not poll) during the
back-off, as a Spring Kafka listener thread does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simpy

from sim.bus import Fetched
from sim.pods.service_time import ServiceTime
from sim.policies.retry import RetryBudget, RetryPolicy
from sim.process import ProcessGenerator

__all__ = ["ProcessingRetries"]


class ProcessingRetries:
    """What a consumer deployment does with records whose processing failed.

    Parameters
    ----------
    env : simpy.Environment
    handler : sim.services.stage.ConsumerStage
        Gives the failures (``failures``, ``retry``) and takes the records that failed their
        last attempt (``give_up``: a dead letter or a seek-back).
    service : ServiceTime
        The deployment's service time (each retry costs ``service.draw(n_failed)``).
    spec : sim.scenario.resilience.ResilienceSpec
        ``retry`` (None: one attempt).
    rng : numpy.random.Generator
        The run's ``retries`` stream (the back-off's jitter).

    Attributes
    ----------
    retries : int
        Processing retries made (one per record and retry).
    """

    def __init__(
        self, env: simpy.Environment, handler: Any, service: ServiceTime, spec: Any,
        rng: np.random.Generator,
    ) -> None:
        r = spec.retry
        self.env, self.handler, self.service, self.rng = env, handler, service, rng
        self.policy = RetryPolicy(1) if r is None else RetryPolicy(
            r.max_attempts, r.base_wait_s, r.multiplier, r.max_wait_s, r.jitter)
        self._budget = None if r is None else r.budget
        self.budgets: dict[str, RetryBudget] = {}  # per pod (gRPC throttles per client)
        self.retries = 0
        self._tried: dict[int, int] = {}  # row -> processing attempts so far (all deliveries)

    def _budget_of(self, pod: str) -> RetryBudget | None:
        if self._budget is None:
            return None
        b = self.budgets.get(pod)
        if b is None:
            b = self.budgets[pod] = RetryBudget(self._budget.max_tokens, self._budget.token_ratio)
        return b

    def run(
        self, rows: list[int], start_s: float, pod: str, fetched: Fetched
    ) -> ProcessGenerator:
        """Retry the failed rows of ``rows`` (processed from ``start_s``); returns the rows
        that go on (a SimPy sub-process: ``rows = yield from retries.run(...)``)."""
        handler, policy, env = self.handler, self.policy, self.env
        failing = handler.failures(rows)
        budget = self._budget_of(pod)
        if not failing:
            if budget is not None:
                _succeeded(budget, len(rows))
            return rows
        ok = [r for r in rows if r not in failing]
        if budget is not None:
            _succeeded(budget, len(ok))
        first_s, k = start_s, 1
        while True:
            tried, attempts = self._tried, handler.ledger.attempts
            for r in failing:
                tried[r] = tried.get(r, 0) + 1
                attempts[r] = tried[r]
                if budget is not None:
                    budget.on_failure()
            if not policy.should_retry(k) or (budget is not None and not budget.allow_retry()):
                break
            yield env.timeout(policy.delay_s(k, self.rng))
            yield env.timeout(self.service.draw(len(failing)))
            self.retries += len(failing)
            still = handler.retry(list(failing))
            done = [r for r in failing if r not in still]
            if done:
                ok += done
                if budget is not None:
                    _succeeded(budget, len(done))
            failing, k = still, k + 1
            if not failing:
                break
        if failing:  # the last attempt failed: dead-lettered, or the batch polled again
            handler.give_up(failing, k, fetched, first_s)
        ok.sort()
        return ok


def _succeeded(budget: RetryBudget, n: int) -> None:
    """``n`` successful attempts (the bucket stops filling at ``max_tokens``)."""
    for _ in range(n):
        if budget.tokens >= budget.max_tokens:
            return
        budget.on_success()
