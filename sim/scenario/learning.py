"""The learning loop of a scenario: drift in the bank, the label feed, drift monitoring and
retraining (issue 12). Every part is off by default: a scenario without these blocks runs as
before.

- ``workload.drift`` (:data:`Drift`, a union on ``kind``): documented extensions of the
  handbook's simulator, applied to the generated bank from an onset day of the live window
  (``onset_day`` = days after the live window's first midnight, event time), each recorded as
  ground truth (the ``drift`` frame's onsets):

  - ``covariate``: genuine customers' amounts × ``amount_factor`` and transactions per day ×
    ``rate_factor``, for a share ``customers_fraction`` of customers; abrupt
    (``ramp_days: 0``) or ramped linearly over ``ramp_days``;
  - ``card_testing``: a new fraud pattern: from the onset, ``cards_per_day`` compromised cards a
    day each get a burst of ``tx_per_card`` small amounts (uniform on (0, ``amount_max``])
    within ``burst_minutes``, each at a different random terminal;
  - ``compromise_rate``: the handbook's compromised terminals (scenario 2, 2 a day) and
    customers (scenario 3, 3 a day) per day × the factors;
  - ``weekly_profile``: transactions per day × the weekday's factor (Monday first).

- ``labels`` (:class:`LabelSpec`): the fraud-report delay distribution, the coverage (the
  share of frauds ever reported; the others are labelled genuine after ``delay_days``), and the
  investigators' feedback on alerted cards (Le Borgne et al. 2022, Chapter 2, the
  alert-feedback loop).
- ``monitoring`` (:class:`MonitoringSpec`): PSI and KS per feature and on the score, delayed
  AP / CP@k per day, a streaming detector on the delayed error stream (river), alarms as
  ``drift-detected`` events.
- ``retraining`` (:class:`RetrainingSpec`): the orchestrator's policy, the training job, the
  rolling hot-swap, shadow challengers and the rollback guard.

:func:`learning_errors` checks them against the rest of the scenario (one line naming the
field).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from sim.scenario.base import Frozen as _Frozen

__all__ = [
    "CardTesting",
    "CompromiseRate",
    "CovariateDrift",
    "DRIFT_KINDS",
    "Drift",
    "DriftDetectorSpec",
    "FeedbackSpec",
    "GuardSpec",
    "LabelDelaySpec",
    "LabelSpec",
    "MonitoringSpec",
    "RetrainingSpec",
    "ShadowSpec",
    "WeeklyProfile",
    "learning_errors",
]

_DAY_S = 86400.0


class _Onset(_Frozen):
    onset_day: float = Field(0.0, ge=0.0, le=3650.0)


class CovariateDrift(_Onset):
    """Genuine customers spend ``amount_factor`` × and transact ``rate_factor`` × as much."""

    kind: Literal["covariate"] = "covariate"
    ramp_days: float = Field(0.0, ge=0.0, le=3650.0)
    amount_factor: float = Field(1.0, gt=0.0, le=100.0)
    rate_factor: float = Field(1.0, gt=0.0, le=10.0)
    customers_fraction: float = Field(1.0, gt=0.0, le=1.0)


class CardTesting(_Onset):
    """Bursts of small amounts on compromised cards across many terminals (a new pattern)."""

    kind: Literal["card_testing"]
    cards_per_day: int = Field(20, ge=1, le=100_000)
    tx_per_card: int = Field(10, ge=1, le=1000)
    amount_max: float = Field(5.0, gt=0.0, le=1000.0)
    burst_minutes: float = Field(30.0, gt=0.0, le=1440.0)


class CompromiseRate(_Onset):
    """The handbook's compromised terminals and customers per day × the factors."""

    kind: Literal["compromise_rate"]
    terminals_factor: float = Field(1.0, ge=0.0, le=100.0)
    customers_factor: float = Field(1.0, ge=0.0, le=100.0)


class WeeklyProfile(_Onset):
    """Transactions per day × the weekday's factor (Monday first)."""

    kind: Literal["weekly_profile"]
    weekday_factors: tuple[float, float, float, float, float, float, float] = (
        1.0, 1.0, 1.0, 1.0, 1.1, 1.3, 0.8,
    )

    @model_validator(mode="after")
    def _positive(self) -> WeeklyProfile:
        for i, f in enumerate(self.weekday_factors):
            if not 0.0 < f <= 10.0:
                raise ValueError(f"weekday_factors[{i}]: must be in (0, 10], got {f:g}")
        return self


def _drift_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "covariate"))
    return str(getattr(value, "kind", "covariate"))


Drift = Annotated[
    Annotated[CovariateDrift, Tag("covariate")]
    | Annotated[CardTesting, Tag("card_testing")]
    | Annotated[CompromiseRate, Tag("compromise_rate")]
    | Annotated[WeeklyProfile, Tag("weekly_profile")],
    Discriminator(_drift_kind),
]
"""One drift of ``workload.drift`` (a tagged union on ``kind``)."""

DRIFT_KINDS: tuple[str, ...] = ("covariate", "card_testing", "compromise_rate", "weekly_profile")


class LabelDelaySpec(_Frozen):
    """When a reported fraud's label arrives, in days of event time after its transaction.

    ``fixed``: ``labels.delay_days``; ``exponential``: ``min_days`` + Exp(mean ``mean_days`` −
    ``min_days``); ``uniform``: on [``min_days``, ``max_days``]; ``lognormal``: ``min_days`` +
    a log-normal of mean ``mean_days`` − ``min_days`` and shape ``sigma``. ``max_days`` (None:
    no cap) caps every draw. ``mean_days`` None = ``labels.delay_days``.
    """

    distribution: Literal["fixed", "exponential", "uniform", "lognormal"] = "fixed"
    mean_days: float | None = Field(None, gt=0.0, le=365.0)
    min_days: float = Field(0.0, ge=0.0, le=365.0)
    max_days: float | None = Field(None, gt=0.0, le=365.0)
    sigma: float = Field(0.5, gt=0.0, le=5.0)


class FeedbackSpec(_Frozen):
    """Investigators check each alerted card ``delay_days`` (event time) after its alert; the
    card's transactions of the last ``lookback_days`` before the alert are then labelled."""

    enabled: bool = False
    delay_days: float = Field(0.5, ge=0.0, le=30.0)
    lookback_days: float = Field(1.0, gt=0.0, le=30.0)


class LabelSpec(_Frozen):
    """Label feed: genuine labels ``delay_days`` after their transaction, reported frauds after
    a delay drawn from ``fraud_delay``; a share ``coverage`` of frauds is ever reported (the
    others are labelled genuine after ``delay_days``); ``feedback`` labels alerted cards early.

    ``delay_days`` (whole days >= 1, the handbook's 7) also defines the feature store's
    terminal windows (t − d − w, t − d] and the model's training features, and the summary's
    ``card_precision_at_100`` removes the cards whose frauds it has made known.
    """

    delay_days: int = Field(7, ge=1, le=365)
    publish_interval_s: float = Field(1.0, gt=0.0, le=86400.0)
    fraud_delay: LabelDelaySpec = LabelDelaySpec()
    coverage: float = Field(1.0, ge=0.0, le=1.0)
    feedback: FeedbackSpec = FeedbackSpec()


class DriftDetectorSpec(_Frozen):
    """A streaming change detector on the delayed error stream (river 0.2x's ``drift``
    module): ``adwin`` (``ADWIN(delta)``, river's default delta 0.002), ``page_hinkley``
    (``PageHinkley(threshold=threshold)``, river's default 50), or ``none``."""

    kind: Literal["adwin", "page_hinkley", "none"] = "adwin"
    delta: float = Field(0.002, gt=0.0, lt=1.0)
    threshold: float = Field(50.0, gt=0.0, le=1e6)


class MonitoringSpec(_Frozen):
    """The monitoring-service's drift checks (off unless ``drift``).

    Every ``check_interval_days`` of event time it compares the last ``window_days`` of scored
    transactions (at least ``min_window_rows``, else no check) with the serving model's training
    window: PSI on ``psi_bins`` quantile bins of the reference (alarm above ``psi_threshold``)
    and the two-sample KS test (alarm below ``ks_alpha`` / the number of statistics, Bonferroni),
    per feature and on the score; and the delayed AP and CP@``k`` per event day as labels arrive.
    With ``calendar_matched`` the reference rows compared are matched to the window's weekday /
    weekend mix (``sim.policies.drift.calendar_match``).

    The defaults are chosen for a stated false-alarm rate of at most
    ``sim.policies.drift.FALSE_ALARM_RATE_PER_CHECK`` = 0.05 per check (any statistic alarming),
    measured with every drift off on the tests' 1000-customer bank (~1,900 transactions a day;
    reference ~13,300 rows; 10 disjoint periods × 7 daily checks):

    - defaults: 0 of 70 checks alarmed (labels after 7 days); with labels after 2 days, so that
      ADWIN is fed ~11,000 labels a run, 1 of 70 (KS on ``TERMINAL_ID_RISK_30DAY_WINDOW``,
      p = 4e-5: the handbook's compromised terminals come and go, the 30-day terminal risk
      really changes from week to week), ADWIN 0 of 70;
    - PSI: mean 0.008, largest 0.042 (the noise alone is 9(1/N + 1/M) ≈ 0.005), far below
      ``psi_threshold`` 0.2 (the scorecard rule of thumb: 0.1 / 0.25, Siddiqi 2006): PSI never
      false-alarms at this window, and an amount × 2 moves it well past 0.2;
    - without ``calendar_matched``: 11 of 70 (KS on the score: a one-day window is all weekdays
      or all weekend, the training week is 5:2, and the model's weekend coefficient moves the
      score; p down to 4e-11). KS is right about the score (it did change) but it is the
      calendar, not drift: hence the match, on by default;
    - ``window_days`` 7 (same weekday mix as the training week, no match): 22 of 50: at 13,000
      vs 13,000 rows KS detects the bank's slow, real change of the 30-day customer features.
      KS's power grows with the window while PSI's noise falls; one day is the window at which
      PSI's noise is negligible and KS still false-alarms at the stated rate.
    """

    drift: bool = False
    check_interval_days: float = Field(1.0, gt=0.0, le=365.0)
    window_days: float = Field(1.0, gt=0.0, le=365.0)
    min_window_rows: int = Field(1000, ge=10, le=10_000_000)
    psi_bins: int = Field(10, ge=2, le=100)
    psi_threshold: float = Field(0.2, gt=0.0, le=10.0)
    ks_alpha: float = Field(0.001, gt=0.0, lt=1.0)
    statistics: tuple[Literal["psi", "ks"], ...] = ("psi", "ks")
    # compare with the reference rows of the window's weekday / weekend mix
    calendar_matched: bool = True
    # None: the model features but the calendar flag TX_DURING_WEEKEND, and the score
    # (sim.services.drift_watch.DEFAULT_COLUMNS)
    features: tuple[str, ...] | None = None
    detector: DriftDetectorSpec = DriftDetectorSpec()
    k: int = Field(100, ge=1, le=100_000)


class ShadowSpec(_Frozen):
    """A new version first scores in shadow beside the champion for ``days`` of event time
    (``cost_factor`` × the detector's per-record time more per batch; its scores are kept,
    never alerted on), then is promoted when its delayed ``metric`` on the shadowed
    transactions (at least ``min_labels`` labelled) beats the champion's by ``margin``, else
    discarded."""

    enabled: bool = False
    days: float = Field(2.0, gt=0.0, le=365.0)
    cost_factor: float = Field(1.0, ge=0.0, le=100.0)
    min_labels: int = Field(200, ge=1, le=10_000_000)
    metric: Literal["average_precision", "card_precision_at_100"] = "average_precision"
    margin: float = Field(0.0, ge=-1.0, le=1.0)


class GuardSpec(_Frozen):
    """After a rollout, once ``after_days`` of event time have labels (at least ``min_labels``),
    the new version's delayed ``metric`` below ``min_ratio`` × the previous version's rolls it
    back."""

    enabled: bool = True
    metric: Literal["average_precision", "card_precision_at_100"] = "average_precision"
    min_ratio: float = Field(0.5, ge=0.0, le=10.0)
    after_days: float = Field(1.0, gt=0.0, le=365.0)
    min_labels: int = Field(200, ge=1, le=10_000_000)


class RetrainingSpec(_Frozen):
    """The orchestrator-service's policy and the model-training-service's job.

    ``policy``: ``none`` (the version trained before the run serves throughout), ``scheduled``
    (every ``every_days`` of event time), ``on_drift`` (on a ``drift-detected`` event, at most
    once per ``cooldown_days``) or ``both``. A job holds ``cpu`` cores for ``duration_s`` of
    processing time, then fits ``kind`` (None: ``model.kind``) on the labels known when it
    started, over the ``train_days`` of event time that end ``gap_days`` before the job's event
    time (None: ``labels.delay_days``, the handbook's delay period, whose labels are mostly not
    known yet; 0 trains on whatever is known of the latest days, e.g. investigators' feedback),
    evaluates it on the latest ``eval_days`` labelled days and registers a version; the
    detector pods then load it one after another, each taking ``model_load_s`` while it keeps
    scoring with the old one.
    """

    policy: Literal["none", "scheduled", "on_drift", "both"] = "none"
    every_days: float = Field(7.0, gt=0.0, le=365.0)
    cooldown_days: float = Field(1.0, ge=0.0, le=365.0)
    train_days: int = Field(7, ge=1, le=365)
    gap_days: int | None = Field(None, ge=0, le=365)
    eval_days: int = Field(1, ge=1, le=365)
    kind: Literal[
        "logistic_regression", "decision_tree_depth_2", "decision_tree", "random_forest"
    ] | None = None
    duration_s: float = Field(30.0, ge=0.0, le=1e7)
    cpu: float = Field(1.0, gt=0.0, le=1024.0)
    model_load_s: float = Field(5.0, ge=0.0, le=86400.0)
    shadow: ShadowSpec = ShadowSpec()
    guard: GuardSpec = GuardSpec()


def learning_errors(scenario: Any) -> str | None:
    """The first inconsistency of the drift, label, monitoring and retraining blocks with the
    rest of ``scenario``, as one line naming the field (None: consistent)."""
    w = scenario.workload
    live_days = (w.live_start_hour * 3600.0 + w.live_duration_s) / _DAY_S
    for i, d in enumerate(w.drift):
        if d.onset_day >= live_days:
            return (f"workload.drift[{i}].onset_day: must be < the live window's end in days "
                    f"after its first midnight ((live_start_hour × 3600 + live_duration_s) / "
                    f"86400 = {live_days:g}), got {d.onset_day:g}")
        if w.kind == "poisson" and w.content == "synthetic" or w.transactions_path is not None:
            return (f"workload.drift[{i}]: drift acts on the generated bank; it needs "
                    "workload.kind replay or poisson with content 'bank' and no "
                    "transactions_path")
    lab = scenario.labels.fraud_delay
    if lab.max_days is not None and lab.max_days < lab.min_days:
        return (f"labels.fraud_delay.max_days: must be >= labels.fraud_delay.min_days "
                f"({lab.min_days:g}), got {lab.max_days:g}")
    if lab.distribution == "uniform" and lab.max_days is None:
        return "labels.fraud_delay.max_days: a uniform delay needs max_days (> min_days)"
    mean = lab.mean_days if lab.mean_days is not None else scenario.labels.delay_days
    if lab.distribution in ("exponential", "lognormal") and mean <= lab.min_days:
        return (f"labels.fraud_delay.mean_days: must be > min_days ({lab.min_days:g}), got "
                f"{mean:g}")
    m = scenario.monitoring
    if m.drift:
        if m.window_days * _DAY_S > w.live_duration_s:
            return (f"monitoring.window_days: must be <= the live window "
                    f"(workload.live_duration_s / 86400 = {w.live_duration_s / _DAY_S:g} days), "
                    f"got {m.window_days:g}")
        from tinybots.schema import FEATURE_COLUMNS

        for f in m.features or ():
            if f not in (*FEATURE_COLUMNS, "score"):
                return (f"monitoring.features: {f!r} is not a model feature "
                        f"({', '.join(FEATURE_COLUMNS)}) nor 'score'")
        if scenario.last_stage != "alert_service":
            return ("monitoring.drift: the monitoring-service runs with last_stage "
                    f"alert_service, got {scenario.last_stage}")
    r = scenario.retraining
    if r.policy != "none" and scenario.last_stage not in ("fraud_detector", "alert_service"):
        return (f"retraining.policy: retraining needs the fraud-detector (last_stage "
                f"fraud_detector or alert_service), got last_stage {scenario.last_stage}")
    if r.policy in ("on_drift", "both") and not m.drift:
        return (f"retraining.policy: {r.policy} retrains on drift-detected events; set "
                "monitoring.drift: true")
    return None
