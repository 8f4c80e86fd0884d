"""The autoscalers' loops: SimPy processes that read a deployment's metric, ask the pure policy
(``sim.policies.hpa`` or ``sim.policies.keda``) and apply its decision.

- **HPA on CPU**: every ``sync_period_s`` (15 s) each pod's utilisation since the last sync
  (its busy consumers or servers / its ``concurrency``, over the time it was ready) is sampled
  as the metrics server would (``PodSample``); the controller's rules group the pods
  (``group_pods``: CPU initialization and readiness delay), compute the raw replica count
  (``cpu_replicas``) and stabilize and rate-limit it (``HorizontalPodAutoscaler.recommend``).
- **KEDA on lag**: the consumer group's lag is read every ``polling_interval_s``; activation
  from zero replicas is decided at that reading (KEDA's operator), the other changes at each
  HPA sync on the last reading (``KafkaLagScaler.decide``).

Every sync is a ``scaling_decision`` incident with its inputs and outcome (``detail``:
``metric=… target=… current=… desired=… applied=…``); a decision that changes the replicas
calls ``scale_to``, which logs the pods created or terminating (``sim.pods.replicas``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import simpy

from sim.pods.replicas import PodLifecycle
from sim.policies.hpa import Decision, HorizontalPodAutoscaler
from sim.policies.hpa_cpu import PodSample, cpu_replicas, group_pods
from sim.policies.keda import KafkaLagScaler
from sim.process import ProcessGenerator
from sim.scenario import AutoscalingSpec, CpuTriggerSpec, KafkaLagTriggerSpec, Scenario
from sim.topology import TOPICS, row_of

__all__ = ["cpu_autoscaler", "lag_autoscaler", "start_autoscalers"]

Log = Callable[..., None]


def start_autoscalers(
    env: simpy.Environment, targets: Mapping[str, object], log: Log,
    lags: Mapping[str, Callable[[], int]], scenario: Scenario,
) -> None:
    """Start the loop of every deployment of ``targets`` (by deployment key) that has
    ``autoscaling``; ``lags`` reads each consumer deployment's group lag (the bus's
    ``Consumer.lag``), the partition cap comes from the scenario's topics (None on a queue)."""
    for name, dep in targets.items():
        if not isinstance(dep, PodLifecycle) or dep.spec.autoscaling is None:
            continue
        spec = dep.spec.autoscaling
        if spec.kind == "hpa":
            env.process(cpu_autoscaler(env, dep, spec, log))
            continue
        topic = TOPICS[row_of(name).topic_in or ""]
        partitions = (getattr(scenario.topics, topic).partitions
                      if scenario.bus.kind == "kafka" else None)
        env.process(lag_autoscaler(env, dep, spec, log, lags[name], partitions))


def _detail(d: Decision, metric: str) -> str:
    return (f"{metric} current={d.current} desired={d.raw} stabilized={d.stabilized} "
            f"applied={d.applied}")


def _apply(dep: PodLifecycle, d: Decision, log: Log, metric: str) -> None:
    log("scaling_decision", dep.name, _detail(d, metric))
    if d.applied != len(dep.pods):
        dep.scale_to(d.applied)


def pod_samples(dep: PodLifecycle, last: dict[str, tuple[float, float]]) -> list[PodSample]:
    """One :class:`PodSample` per pod of ``dep``: its utilisation since the previous sample
    (``last``: pod name -> (time, busy integral), updated) over the time it was ready; None
    when it was not ready at all. A Pending pod is a pod not ready, started now (Kubernetes'
    ``groupPods`` counts Pending pods with the unready ones)."""
    now = dep.env.now
    width = dep.spec.concurrency
    out = []
    seen = {}
    for pod in dep.pods:
        if pod.pending or pod.started_s is None:
            out.append(PodSample(now, False, None, None))
            continue
        busy = pod.busy.integral() if pod.busy is not None else 0.0
        t0, b0 = last.get(pod.name, (pod.started_s, 0.0))
        since = max(t0, pod.ready_since_s) if pod.ready_since_s is not None else now
        util = (busy - b0) / (width * (now - since)) if pod.ready and now > since else None
        seen[pod.name] = (now, busy)
        out.append(PodSample(pod.started_s, pod.ready, pod.ready_since_s, util))
    last.clear()
    last.update(seen)
    return out


def cpu_autoscaler(
    env: simpy.Environment, dep: PodLifecycle, spec: AutoscalingSpec, log: Log
) -> ProcessGenerator:
    """The HPA loop of ``dep`` on CPU utilisation (see the module docstring)."""
    hpa = HorizontalPodAutoscaler.from_spec(spec)
    trigger = spec.trigger
    assert isinstance(trigger, CpuTriggerSpec)
    last: dict[str, tuple[float, float]] = {}
    period = spec.sync_period_s
    while True:
        yield env.timeout(period)
        samples = pod_samples(dep, last)
        utils, unready, missing = group_pods(env.now, samples, period,
                                             trigger.cpu_initialization_s,
                                             trigger.initial_readiness_delay_s)
        if not utils:  # no ready pod reports: the controller cannot compute, no decision
            continue
        current = len(dep.pods)
        raw, ratio = cpu_replicas(current, utils, unready, trigger.target_utilization,
                                  spec.behavior.tolerance, missing=missing)
        d = hpa.recommend(env.now, current, raw, ratio)
        mean = sum(utils) / len(utils)
        _apply(dep, d, log, f"cpu={mean:.3f} target={trigger.target_utilization:g} "
                            f"ratio={ratio:.3f} ready={len(utils)} unready={unready} "
                            f"missing={missing}")


def lag_autoscaler(
    env: simpy.Environment, dep: PodLifecycle, spec: AutoscalingSpec, log: Log,
    lag: Callable[[], int], partitions: int | None,
) -> ProcessGenerator:
    """The KEDA loop of ``dep`` on its group's ``lag()`` (see the module docstring).
    ``partitions``: the topic's partition count (the cap), None on a queue bus."""
    keda = KafkaLagScaler.from_spec(spec)
    trigger = spec.trigger
    assert isinstance(trigger, KafkaLagTriggerSpec)
    reading = [lag()]

    def decide() -> None:
        d = keda.decide(env.now, len(dep.pods), reading[0], partitions)
        cap = "none" if partitions is None or trigger.allow_idle_consumers else partitions
        _apply(dep, d, log, f"lag={reading[0]} threshold={trigger.lag_threshold} "
                            f"partitions_cap={cap}")

    def poll() -> ProcessGenerator:
        while True:
            yield env.timeout(trigger.polling_interval_s)
            reading[0] = lag()
            if len(dep.pods) == 0:  # KEDA's operator activates from zero at its polling
                decide()

    env.process(poll())
    while True:
        yield env.timeout(spec.sync_period_s)
        if len(dep.pods) > 0:  # KEDA's HPA acts only on 1..max replicas
            decide()
