"""What every random-scenario conservation test checks of one run (shared by the tests)."""

from __future__ import annotations

from sim import run
from sim.record.results import Results
from sim.scenario import Scenario
from tinybots.errors import InputError

OUTCOMES = ("completed", "in_flight", "shed", "dead_lettered", "lost")


def run_accounted(sc: Scenario, all_at_least_once: bool) -> Results | None:
    """Run ``sc`` and check conservation: the outcomes add up to ``generated`` (``run`` raises
    ``ConservationError`` otherwise), one row per arrived transaction, a reason for every
    shed / dead-lettered / lost one, and, when every consumer is at-least-once, nothing lost
    but to retention. None when nothing arrives before the cap (that ``InputError``)."""
    try:
        res = run(sc, progress=False)
    except InputError as exc:  # nothing arrives before the cap
        assert str(exc).startswith("max_duration_s:")
        return None
    s = res.summary_dict()
    assert sum(s[k] for k in OUTCOMES) == s["generated"]
    tx = res.transactions
    assert len(tx) == s["generated"]
    assert tx.loc[tx.outcome.isin(["shed", "dead_lettered", "lost"]), "reason"].notna().all()
    if all_at_least_once:
        assert s["lost"] == s["lost_retention"], tx.loc[tx.outcome == "lost", "reason"].unique()
    return res
