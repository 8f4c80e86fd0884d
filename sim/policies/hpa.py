"""The Kubernetes Horizontal Pod Autoscaler's decision, as a pure policy (no SimPy inside).

Follows the autoscaling/v2 controller (``pkg/controller/podautoscaler``, Kubernetes 1.2x-1.3x):

1. **Replica count from the metric.** ``desired = ceil(ready × current / target)``, unchanged
   while ``|current / target − 1| <= tolerance`` (0.1).
2. **Stabilization.** Each sync's raw recommendation is kept with its time. The applied count
   lies between the lowest recommendation of the scale-up window (default 0 s: the current
   one) and the highest of the scale-down window (default 300 s). So a dip shorter than the
   window never scales down.
3. **Rate limits.** Changes over each policy's period are limited, counted from the replicas at
   the start of the period:
   - scale-up: 100 % or 4 pods per 15 s, the larger (``selectPolicy: Max``);
   - scale-down: 100 % per 15 s.
4. **Bounds.** The count is clamped to ``[min_replicas, max_replicas]``.

A SimPy loop calls :meth:`HorizontalPodAutoscaler.decide` every sync period (15 s) and applies
the result; that loop belongs to the scaling issue and is not here yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    rate limits and bounds), with the inputs (``ratio`` = current / target)."""

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
        Bounds (1 <= min <= max).
    tolerance : float
        No change while the usage ratio is within ``1 ± tolerance`` (Kubernetes: 0.1).
    scale_up_window_s, scale_down_window_s : float
        Stabilization windows (Kubernetes defaults 0 s and 300 s).
    scale_up, scale_down : tuple of ScalingPolicy
        Rate policies (defaults: up 100 % or 4 pods per 15 s, the larger; down 100 % per 15 s).

    Raises
    ------
    ValueError
        Bounds out of order or below 1, a negative tolerance or window, an unknown policy kind.

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
        if not 1 <= min_replicas <= max_replicas:
            raise ValueError(f"min_replicas, max_replicas: need 1 <= min <= max, got "
                             f"{min_replicas}, {max_replicas}")
        if tolerance < 0 or scale_up_window_s < 0 or scale_down_window_s < 0:
            raise ValueError("tolerance and stabilization windows must be >= 0")
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

    def decide(self, now_s: float, current: int, ready: int, metric: float,
               target: float) -> Decision:
        """The replicas to run from ``now_s`` (s), given ``current`` replicas of which ``ready``
        report ``metric`` (their mean, e.g. CPU utilisation 0..1) against ``target``.

        Raises
        ------
        ValueError
            ``target`` <= 0, a negative metric, or ``ready`` outside ``0..current``.
        """
        if target <= 0 or metric < 0 or not 0 <= ready <= current:
            raise ValueError(f"decide: need target > 0, metric >= 0, 0 <= ready <= current, "
                             f"got target={target}, metric={metric}, ready={ready}, "
                             f"current={current}")
        ratio = metric / target
        raw = current if abs(ratio - 1.0) <= self.tolerance or ready == 0 else math.ceil(
            ratio * ready)
        stabilized = self._stabilize(now_s, current, raw)
        applied = min(max(self._rate_limited(now_s, current, stabilized), self.min_replicas),
                      self.max_replicas)
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

    def _start_of_period(self, now_s: float, current: int, period_s: float, up: bool) -> int:
        """Replicas at the start of the period: ``current`` minus the scale-ups (or plus the
        scale-downs) applied within it."""
        moved = sum(c for t, c in self._events if t > now_s - period_s and (c > 0) == up)
        return current - moved

    def _rate_limited(self, now_s: float, current: int, desired: int) -> int:
        if desired > current:
            limits = []
            for p in self.scale_up:
                start = self._start_of_period(now_s, current, p.period_s, True)
                limits.append(start + p.value if p.kind == "Pods"
                              else math.ceil(start * (1 + p.value / 100)))
            return min(desired, max(limits))
        if desired < current:
            limits = []
            for p in self.scale_down:
                start = self._start_of_period(now_s, current, p.period_s, False)
                limits.append(start - p.value if p.kind == "Pods"
                              else math.ceil(start * (1 - p.value / 100)))
            return max(desired, min(limits))
        return desired
