"""KEDA's Apache Kafka scaler driving an HPA, as a pure policy (no SimPy inside).

KEDA splits the work in two (``pkg/scaling/executor/scale_scaledobjects.go``):

- **Activation** (KEDA's own executor, every ``pollingInterval``): the trigger is *active*
  while the group's lag exceeds ``activationLagThreshold`` (``pkg/scalers/kafka_scaler.go``).
  From 0 replicas an active trigger scales the deployment to ``max(minReplicaCount, 1)``
  (``scaleFromZeroOrIdle``). With ``minReplicaCount`` 0, a deployment whose trigger has been
  inactive for longer than ``cooldownPeriod`` since it was last active is scaled to 0
  (``scaleToZeroOrIdle``; never active counts as cooled down, as with a nil
  ``lastActiveTime``). Neither step goes through the HPA's stabilization or rate limits.
- **Scaling from 1 to N** (the HPA KEDA creates, with ``minReplicas = max(minReplicaCount, 1)``):
  an external metric, the lag, with target ``AverageValue = lagThreshold``. The Kafka scaler
  caps the lag at ``partitions × lagThreshold`` unless ``allowIdleConsumers``, so the HPA
  asks for ``min(ceil(lag / lagThreshold), partitions)`` replicas. The HPA's tolerance,
  stabilization windows and rate policies (:meth:`HorizontalPodAutoscaler.recommend`) apply.

The cap here is exact; KEDA caps only once ``lag // lagThreshold`` (integer division) exceeds
the partitions, so it can ask for ``partitions + 1`` (a lag between ``P × threshold`` and
``(P + 1) × threshold``). On a queue bus (SQS, RabbitMQ: ``partitions`` None) no cap applies,
as in KEDA's ``aws-sqs-queue`` and ``rabbitmq`` scalers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.policies.hpa import Decision, HorizontalPodAutoscaler

if TYPE_CHECKING:
    from sim.scenario import AutoscalingSpec

__all__ = ["KafkaLagScaler"]


class KafkaLagScaler:
    """KEDA's Kafka lag trigger on one consumer deployment (see the module docstring).

    Parameters
    ----------
    lag_threshold : int
        ``lagThreshold``: target lag per replica, records (>= 1; KEDA default 10).
    activation_lag_threshold : int
        ``activationLagThreshold``: active while the lag exceeds it, records (>= 0; default 0).
    allow_idle_consumers : bool
        ``allowIdleConsumers``: scale past the partition count (the extra consumers idle).
    cooldown_s : float
        ``cooldownPeriod``: inactive time before scaling to 0, s (>= 0; default 300).
    hpa : HorizontalPodAutoscaler, optional
        The HPA's behaviour and bounds; ``min_replicas`` 0 enables scale-to-zero. Default: the
        HPA defaults with KEDA's ``minReplicaCount`` 0 and ``maxReplicaCount`` 100.

    Raises
    ------
    ValueError
        A threshold or the cooldown out of range, naming it.

    Examples
    --------
    >>> keda = KafkaLagScaler(lag_threshold=10)
    >>> keda.decide(0.0, current=0, lag=500, partitions=12).applied  # activation: 0 -> 1
    1
    >>> keda.decide(15.0, current=1, lag=500, partitions=12).applied  # HPA: 1 -> 5 (rate)
    5
    >>> keda.desired(500, partitions=12), keda.desired(500, partitions=None)
    (12, 50)
    """

    def __init__(self, lag_threshold: int = 10, activation_lag_threshold: int = 0,
                 allow_idle_consumers: bool = False, cooldown_s: float = 300.0, *,
                 hpa: HorizontalPodAutoscaler | None = None) -> None:
        if lag_threshold < 1:
            raise ValueError(f"lag_threshold: must be >= 1, got {lag_threshold}")
        if activation_lag_threshold < 0:
            raise ValueError(f"activation_lag_threshold: must be >= 0, got "
                             f"{activation_lag_threshold}")
        if cooldown_s < 0:
            raise ValueError(f"cooldown_s: must be >= 0, got {cooldown_s}")
        self.lag_threshold = lag_threshold
        self.activation_lag_threshold = activation_lag_threshold
        self.allow_idle_consumers = allow_idle_consumers
        self.cooldown_s = cooldown_s
        self.hpa = hpa if hpa is not None else HorizontalPodAutoscaler(0, 100)
        self.last_active_s: float | None = None

    @classmethod
    def from_spec(cls, autoscaling: AutoscalingSpec) -> KafkaLagScaler:
        """The scaler of a deployment's ``autoscaling`` block of kind ``keda``: its ``keda``
        trigger, and an HPA from its bounds and ``behavior``
        (:meth:`HorizontalPodAutoscaler.from_spec`).

        Raises
        ------
        ValueError
            ``autoscaling.kind`` is not ``keda``.

        Examples
        --------
        >>> from sim.scenario import AutoscalingSpec
        >>> spec = AutoscalingSpec(kind="keda", min_replicas=0, keda={"lag_threshold": 50})
        >>> k = KafkaLagScaler.from_spec(spec)
        >>> k.lag_threshold, k.hpa.min_replicas, k.cooldown_s
        (50, 0, 300.0)
        """
        if autoscaling.kind != "keda" or autoscaling.keda is None:
            raise ValueError(f"autoscaling.kind: KafkaLagScaler needs 'keda', got "
                             f"{autoscaling.kind!r}")
        k = autoscaling.keda
        return cls(k.lag_threshold, k.activation_lag_threshold, k.allow_idle_consumers,
                   k.cooldown_s, hpa=HorizontalPodAutoscaler.from_spec(autoscaling))

    def _capped_lag(self, lag: float, partitions: int | None) -> float:
        if lag < 0 or (partitions is not None and partitions < 1):
            raise ValueError(f"lag >= 0 and partitions None or >= 1 needed, got lag={lag}, "
                             f"partitions={partitions}")
        if partitions is None or self.allow_idle_consumers:
            return lag
        return min(lag, partitions * self.lag_threshold)

    def desired(self, lag: float, partitions: int | None) -> int:
        """``ceil(lag / lag_threshold)``, at most ``partitions`` unless
        :attr:`allow_idle_consumers` (``partitions`` None: a queue, no cap).

        Raises
        ------
        ValueError
            A negative lag, or fewer than 1 partition.
        """
        return math.ceil(self._capped_lag(lag, partitions) / self.lag_threshold)

    def decide(self, now_s: float, current: int, lag: float,
               partitions: int | None) -> Decision:
        """The replicas to run from ``now_s`` (s), given ``current`` replicas and the group's
        last polled ``lag`` (records) on a topic of ``partitions``.

        Active (``lag > activation_lag_threshold``) or not, from 0 replicas KEDA alone acts:
        to ``max(min_replicas, 1)`` if active, else to ``min_replicas``. Inactive with
        ``min_replicas`` 0 and the cooldown passed (strictly more than ``cooldown_s`` since
        last active): 0. Otherwise the HPA acts, on the usage ratio
        ``capped lag / (lag_threshold × current)`` of an ``AverageValue`` target, as in
        Kubernetes' ``GetExternalPerPodMetricReplicas``: within ``1 ± tolerance`` it keeps
        ``current``, else it recommends :meth:`desired`, floored at 1 (KEDA's HPA has
        ``minReplicas >= 1``), through :meth:`HorizontalPodAutoscaler.recommend`. The
        tolerance thus applies to the lag itself, not to ``desired / current``, which is
        rounded up. A decision by KEDA alone has ``raw == stabilized == applied`` and its
        ratio is per one replica (``capped lag / lag_threshold``) at 0 replicas.

        Raises
        ------
        ValueError
            A negative ``current`` or lag, or fewer than 1 partition.
        """
        if current < 0:
            raise ValueError(f"decide: need current >= 0, got {current}")
        capped = self._capped_lag(lag, partitions)
        active = lag > self.activation_lag_threshold
        if active:
            self.last_active_s = now_s
        floor = self.hpa.min_replicas
        if current == 0:
            to = max(floor, 1) if active else floor
            return Decision(now_s, 0, capped / self.lag_threshold, to, to, to)
        cooled = self.last_active_s is None or self.last_active_s + self.cooldown_s < now_s
        ratio = capped / (self.lag_threshold * current)
        if not active and floor == 0 and cooled:
            return Decision(now_s, current, ratio, 0, 0, 0)
        raw = current if abs(ratio - 1.0) <= self.hpa.tolerance else self.desired(
            lag, partitions)
        return self.hpa.recommend(now_s, current, max(raw, 1), ratio)
