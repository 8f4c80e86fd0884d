"""The Kubernetes Horizontal Pod Autoscaler's decision, as a pure policy (no SimPy inside).

Follows the autoscaling/v2 controller (``pkg/controller/podautoscaler``, Kubernetes 1.2x-1.3x):

1. **Replica count from the metric** (``replica_calculator.go``: :mod:`sim.policies.hpa_cpu`).
   For CPU, ``group_pods`` sorts the pods into ready samples and unready ones and
   ``cpu_replicas`` gives ``ceil(ready × usage / target)``, unchanged while
   ``|usage / target − 1| <= tolerance`` (0.1), with unready pods counted at 0 % on a scale-up.
2. **Stabilization** (``horizontal.go``, ``stabilizeRecommendationWithBehaviors``). Each
   sync's raw recommendation is kept with its time. The applied count lies between the lowest
   recommendation of the scale-up window (default 0 s: the current one) and the highest of the
   scale-down window (default 300 s). So a dip shorter than the window never scales down.
3. **Rate limits** (``calculateScaleUpLimitWithScalingRules`` / ``...ScaleDownLimit...``).
   Changes are limited per policy period, counted from the replicas at the start of the period
   (the current count less the scalings applied within it):
   - scale-up: 100 % or 4 pods per 15 s, the larger (``selectPolicy: Max``); Percent rounds up;
   - scale-down: 100 % per 15 s; Percent rounds down (Go's ``int32`` conversion).
4. **Bounds.** The count is clamped to ``[min_replicas, max_replicas]``.

:meth:`HorizontalPodAutoscaler.recommend` applies 2-4 to a raw count computed elsewhere (the
CPU rules of :mod:`sim.policies.hpa_cpu`, or KEDA's lag in :mod:`sim.policies.keda`);
:meth:`~HorizontalPodAutoscaler.decide` is 1 for a mean metric of ``ready`` pods, then
:meth:`~HorizontalPodAutoscaler.recommend`. The SimPy loop of ``sim.pods.autoscaler`` calls
them every sync period (15 s) and applies the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.policies.hpa_cpu import cpu_replicas

if TYPE_CHECKING:
    from sim.scenario import AutoscalingSpec

__all__ = ["Decision", "HorizontalPodAutoscaler", "ScalingPolicy"]


@dataclass(frozen=True)
class ScalingPolicy:
    """One HPA scaling policy: ``kind`` ``"Pods"`` (``value`` pods) or ``"Percent"`` (``value``
    % of the replicas at the start of the period) per ``period_s`` seconds."""

    kind: str
    value: int
    period_s: float


@dataclass(frozen=True)
class Decision:
    """One sync: the metric's raw recommendation, after stabilization, and as applied (after
    rate limits and bounds), with the inputs (``ratio`` = usage / target, 1 = on target)."""

    time_s: float
    current: int
    ratio: float
    raw: int
    stabilized: int
    applied: int


class HorizontalPodAutoscaler:
    """The HPA's decision for one deployment (see the module docstring for the rules).

    Parameters
    ----------
    min_replicas, max_replicas : int
        Bounds (0 <= min <= max, max >= 1). ``min_replicas`` 0 is for KEDA, which scales to
        and from zero itself (:mod:`sim.policies.keda`); Kubernetes' own HPA needs 1 unless
        the ``HPAScaleToZero`` gate is on.
    tolerance : float
        No change while the usage ratio is within ``1 ± tolerance`` (Kubernetes: 0.1).
    scale_up_window_s, scale_down_window_s : float
        Stabilization windows (Kubernetes defaults 0 s and 300 s).
    scale_up, scale_down : tuple of ScalingPolicy
        Rate policies (defaults: up 100 % or 4 pods per 15 s, the larger; down 100 % per 15 s).

    Raises
    ------
    ValueError
        Bounds out of order or max below 1, a negative tolerance or window, a bad or no policy.

    Examples
    --------
    >>> hpa = HorizontalPodAutoscaler(min_replicas=1, max_replicas=20)
    >>> hpa.decide(0.0, current=2, ready=2, metric=1.0, target=0.5).applied  # 2 x 200 %
    4
    >>> hpa.decide(15.0, current=4, ready=4, metric=0.52, target=0.5).applied  # within 10 %
    4
    """

    def __init__(
        self,
        min_replicas: int = 1,
        max_replicas: int = 10,
        *,
        tolerance: float = 0.1,
        scale_up_window_s: float = 0.0,
        scale_down_window_s: float = 300.0,
        scale_up: tuple[ScalingPolicy, ...] = (
            ScalingPolicy("Percent", 100, 15.0), ScalingPolicy("Pods", 4, 15.0)),
        scale_down: tuple[ScalingPolicy, ...] = (ScalingPolicy("Percent", 100, 15.0),),
    ) -> None:
        if not 0 <= min_replicas <= max_replicas or max_replicas < 1:
            raise ValueError(f"min_replicas, max_replicas: need 0 <= min <= max and max >= 1, "
                             f"got {min_replicas}, {max_replicas}")
        for name, v in (("tolerance", tolerance), ("scale_up_window_s", scale_up_window_s),
                        ("scale_down_window_s", scale_down_window_s)):
            if v < 0:
                raise ValueError(f"{name}: must be >= 0, got {v}")
        if not scale_up or not scale_down:
            raise ValueError("scale_up, scale_down: at least one scaling policy each (as the "
                             "Kubernetes API requires)")
        for p in (*scale_up, *scale_down):
            if p.kind not in ("Pods", "Percent") or p.value < 0 or p.period_s <= 0:
                raise ValueError(f"scaling policy: kind Pods or Percent, value >= 0, period "
                                 f"> 0 s, got {p}")
        self.min_replicas, self.max_replicas = min_replicas, max_replicas
        self.tolerance = tolerance
        self.up_window_s, self.down_window_s = scale_up_window_s, scale_down_window_s
        self.scale_up, self.scale_down = scale_up, scale_down
        self._recommendations: list[tuple[float, int]] = []
        self._events: list[tuple[float, int]] = []  # (time, change) of applied scalings

    @classmethod
    def from_spec(cls, autoscaling: AutoscalingSpec) -> HorizontalPodAutoscaler:
        """The HPA of a deployment's ``autoscaling`` block: its ``min_replicas`` /
        ``max_replicas`` and ``behavior`` (tolerance, stabilization windows, the scale-up
        Percent and Pods policies over one period, the scale-down Percent policy).

        Examples
        --------
        >>> from sim.scenario import AutoscalingSpec
        >>> hpa = HorizontalPodAutoscaler.from_spec(AutoscalingSpec(max_replicas=30))
        >>> hpa.max_replicas, hpa.down_window_s, [p.value for p in hpa.scale_up]
        (30, 300.0, [100, 4])
        """
        b = autoscaling.behavior
        return cls(
            autoscaling.min_replicas, autoscaling.max_replicas, tolerance=b.tolerance,
            scale_up_window_s=b.scale_up_stabilization_s,
            scale_down_window_s=b.scale_down_stabilization_s,
            scale_up=(ScalingPolicy("Percent", b.scale_up_percent, b.scale_up_period_s),
                      ScalingPolicy("Pods", b.scale_up_pods, b.scale_up_period_s)),
            scale_down=(ScalingPolicy("Percent", b.scale_down_percent, b.scale_down_period_s),),
        )

    def decide(self, now_s: float, current: int, ready: int, metric: float,
               target: float) -> Decision:
        """The replicas to run from ``now_s`` (s), given ``current`` replicas of which ``ready``
        report ``metric`` (their mean, e.g. CPU utilisation 0..1) against ``target``: the
        ready pods' rule of :func:`cpu_replicas` (the others left out), then
        :meth:`recommend`.

        Raises
        ------
        ValueError
            ``target`` <= 0, a negative metric, or ``ready`` outside ``0..current``.
        """
        if target <= 0 or metric < 0 or not 0 <= ready <= current:
            raise ValueError(f"decide: need target > 0, metric >= 0, 0 <= ready <= current, "
                             f"got target={target}, metric={metric}, ready={ready}, "
                             f"current={current}")
        raw, _ = cpu_replicas(current, [metric] * ready, 0, target, self.tolerance)
        return self.recommend(now_s, current, raw, metric / target)

    def recommend(self, now_s: float, current: int, raw: int, ratio: float) -> Decision:
        """Stabilize the raw recommendation ``raw`` (computed elsewhere from a metric whose
        usage ratio was ``ratio``), rate-limit it and clamp it to the bounds.

        From 0 replicas the Percent policy allows nothing (``ceil(0 × 2) = 0``) and the Pods
        policy 4, so up to 4 pods at once; in Kubernetes, scaling a deployment up from zero is
        KEDA's activation (:mod:`sim.policies.keda`), not the HPA's, which skips a target of
        zero replicas.

        Raises
        ------
        ValueError
            ``current`` or ``raw`` negative.
        """
        if current < 0 or raw < 0:
            raise ValueError(f"recommend: need current >= 0 and raw >= 0, got current="
                             f"{current}, raw={raw}")
        stabilized = self._stabilize(now_s, current, raw)
        applied = min(max(self._rate_limited(now_s, current, stabilized), self.min_replicas),
                      self.max_replicas)
        longest = max(p.period_s for p in (*self.scale_up, *self.scale_down))
        self._events = [(t, c) for t, c in self._events if t > now_s - longest]
        if applied != current:
            self._events.append((now_s, applied - current))
        return Decision(now_s, current, ratio, raw, stabilized, applied)

    def _stabilize(self, now_s: float, current: int, raw: int) -> int:
        keep = max(self.up_window_s, self.down_window_s)
        self._recommendations = [(t, r) for t, r in self._recommendations if t > now_s - keep]
        up = min([r for t, r in self._recommendations if t > now_s - self.up_window_s] + [raw])
        down = max([r for t, r in self._recommendations if t > now_s - self.down_window_s]
                   + [raw])
        self._recommendations.append((now_s, raw))
        return min(max(current, up), down)

    def _start_of_period(self, now_s: float, current: int, period_s: float) -> int:
        """Replicas at the start of the period: ``current`` less the scale-ups plus the
        scale-downs applied within it (Kubernetes' ``getReplicasChangePerPeriod``)."""
        return max(0, current - sum(c for t, c in self._events if t > now_s - period_s))

    def _rate_limited(self, now_s: float, current: int, desired: int) -> int:
        if desired > current:
            limits = []
            for p in self.scale_up:
                start = self._start_of_period(now_s, current, p.period_s)
                limits.append(start + p.value if p.kind == "Pods"
                              else math.ceil(start * (1 + p.value / 100)))
            return min(desired, max(current, max(limits)))
        if desired < current:
            limits = []
            for p in self.scale_down:
                start = self._start_of_period(now_s, current, p.period_s)
                limits.append(start - p.value if p.kind == "Pods"
                              else int(start * (1 - p.value / 100)))
            return max(desired, min(current, min(limits)))
        return desired
