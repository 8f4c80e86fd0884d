"""False alarms of the monitoring-service's drift checks with every drift off (issue 12: "with
drift off, false alarms over >= 10 replications are counted and within the stated rate").

The handbook's generator has no seed (its draws are seeded by customer and day), so a
replication is a different period of one bank: replication i goes live on day 60 + 9 i (its
own training week, live days and scenario seed). Every statistic is on: PSI and KS on every
default column, and ADWIN on the delayed error stream (labels after 2 days, so it is fed
thousands of labels a run). A check counts as a false alarm when any statistic alarms at it;
the 95 % Clopper-Pearson interval of the rate per check must not lie above
``FALSE_ALARM_RATE_PER_CHECK`` and the observed rate must be at most that, overall and per
statistic. Checks of one run share the reference, so they are not quite independent: the
interval is approximate. ``TINYBOTS_FALSE_ALARM_SEEDS`` (default 10) sets the replications.
"""

from __future__ import annotations

import os
from collections import Counter

from drift_helpers import drift_scenario
from scipy.stats import binomtest

from sim.policies.drift import FALSE_ALARM_RATE_PER_CHECK
from sim.system import build, run

N_REPS = int(os.environ.get("TINYBOTS_FALSE_ALARM_SEEDS", "10"))
DAYS = 5.0  # checks on live days 2 .. 5: 4 a run
STEP_DAYS = 9


def _replication(i: int) -> tuple[int, set[float], Counter[str], int]:
    """Checks made, check times that alarmed, checks alarmed per statistic, labels fed to
    ADWIN."""
    changes = {"workload.live_start_day": 60 + STEP_DAYS * i,
               "workload.bank.nb_days": 60 + STEP_DAYS * N_REPS + 8,  # one bank for all
               "labels.delay_days": 2}
    s = build(drift_scenario(i, days=DAYS, **changes), progress=False)
    run(s, progress=False)
    watch = s.deployments["monitoring_service"].handler.drift
    assert watch.spec.statistics == ("psi", "ks") and watch.spec.detector.kind == "adwin"
    checks = [c for c in watch.checks if c["n_current"]]
    alarmed = {a["time_s"] for a in watch.alarms}
    per_stat = Counter(st for st, _ in {(a["statistic"], a["time_s"]) for a in watch.alarms})
    return len(checks), alarmed, per_stat, watch.detector.n


def test_false_alarms_without_drift_are_within_the_stated_rate():
    n_checks, n_alarmed, fed = 0, 0, 0
    per_stat: Counter[str] = Counter()
    for i in range(N_REPS):
        n, alarmed, stats, labels = _replication(i)
        n_checks += n
        n_alarmed += len(alarmed)
        per_stat += stats
        fed += labels
    assert n_checks >= 4 * N_REPS  # every replication made its checks
    assert fed >= 1000 * N_REPS  # ADWIN was fed: its silence is measured, not vacuous
    for what, k in [("any", n_alarmed), *((f"{s}", per_stat[s]) for s in ("psi", "ks",
                                                                        "adwin"))]:
        ci = binomtest(k, n_checks).proportion_ci(0.95, method="exact")
        msg = (f"{what}: {k} false alarms in {n_checks} checks (95 % CI {ci.low:.3f} .. "
               f"{ci.high:.3f}), stated {FALSE_ALARM_RATE_PER_CHECK}; per statistic "
               f"{dict(per_stat)}")
        assert k / n_checks <= FALSE_ALARM_RATE_PER_CHECK, msg
        assert ci.low <= FALSE_ALARM_RATE_PER_CHECK, msg
