"""Bad fault and resilience input (issue 11): each is one line naming the field, from the
scenario API and from ``tinybots run --scenario``; nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_errors import cli_error_line
from pydantic import ValidationError

from sim import load_preset
from sim.scenario import Scenario
from tinybots.errors import describe_validation_error


def _with(**blocks: Any) -> dict[str, Any]:
    data = load_preset("small").model_dump(mode="json")
    for path, value in blocks.items():
        node = data
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return data


CASES = {
    "unknown service": (
        _with(faults=[{"kind": "deployment_outage", "deployment": "payments", "at_s": 5.0}]),
        "faults.0.deployment_outage.deployment", "payments"),
    "after the horizon": (
        _with(faults=[{"kind": "pod_crash", "deployment": "fraud_detector", "at_s": 4000.0}]),
        "faults[0].at_s", "max_duration_s (3600)"),
    "negative duration": (
        _with(faults=[{"kind": "slow_dependency", "at_s": 5.0, "duration_s": -1.0}]),
        "faults.0.slow_dependency.duration_s", "greater than or equal to 0"),
    "breaker threshold 0": (
        _with(deployments__feature_enricher__resilience={"breaker": {
            "failure_rate_threshold": 0}}),
        "deployments.feature_enricher.resilience.breaker.failure_rate_threshold",
        "greater than 0"),
    "breaker threshold over 100": (
        _with(deployments__feature_enricher__resilience={"breaker": {
            "slow_call_rate_threshold": 150}}),
        "deployments.feature_enricher.resilience.breaker.slow_call_rate_threshold",
        "less than or equal to 100"),
    "unknown kind": (
        _with(faults=[{"kind": "meteor", "at_s": 1.0}]),
        "faults[0].kind", "got 'meteor'"),
    "both timings": (
        _with(faults=[{"kind": "broker_outage", "at_s": 1.0, "rate_per_h": 2.0}]),
        "at_s", "exactly one of at_s"),
    "a breaker where no call is made": (
        _with(deployments__fraud_detector__resilience={"breaker": {}}),
        "deployments.fraud_detector.resilience.breaker", "only the feature_enricher"),
    "a delay between services that do not talk": (
        _with(faults=[{"kind": "network_delay", "source": "alert_service",
                       "target": "feature_enricher", "at_s": 1.0}]),
        "faults[0].target", "does not call"),
    # found by the adversarial pass: accepted, then a hang, a run-time error or no effect
    "a crash loop without back-off": (
        _with(faults=[{"kind": "pod_crash", "deployment": "feature_enricher", "at_s": 1.0,
                       "duration_s": 10.0, "restart_s": 0.0}]),
        "restart_s", "must be > 0 s"),
    "a burn-rate short window longer than its long one": (
        _with(slos={"fraud_detector": {"alerts": [{"long_s": 5.0, "short_s": 60.0,
                                                    "burn_rate": 2.0}]}}),
        "slos.fraud_detector.alerts.0", "short_s: must be in (0, long_s = 5]"),
    "poison at a stage that does not run": (
        _with(last_stage="feature_enricher",
              faults=[{"kind": "poison", "deployment": "alert_service"}]),
        "faults[0].deployment", "does not run with last_stage"),
    "a delay from a stage that does not run": (
        _with(last_stage="feature_enricher",
              faults=[{"kind": "network_delay", "source": "fraud_detector",
                       "target": "alert_service", "at_s": 1.0}]),
        "faults[0].source", "does not run with last_stage"),
    "resilience where processing never fails": (
        _with(deployments__label_feed__resilience={"retry": {}}),
        "deployments.label_feed.resilience", "has no effect"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_fault_input_is_one_line_naming_the_field(case: str) -> None:
    data, field, hint = CASES[case]
    with pytest.raises(ValidationError) as bad:
        Scenario.model_validate(data)
    line = describe_validation_error(bad.value)
    assert "\n" not in line, line
    assert field in line and hint in line, line


@pytest.mark.parametrize("case", ["unknown service", "after the horizon", "negative duration",
                                  "breaker threshold 0",
                                  "a burn-rate short window longer than its long one"])
def test_the_cli_says_the_same_in_one_line(case: str, tmp_path: Path, capsys: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    data, field, hint = CASES[case]
    line = cli_error_line(data, tmp_path, capsys, monkeypatch)
    assert field in line and hint in line, line


def test_a_scenario_written_before_the_union_still_loads() -> None:
    """A fault mapping without ``kind`` is a ``pod_crash`` (older scenario files)."""
    sc = Scenario.model_validate(_with(faults=[{"deployment": "feature_enricher",
                                                 "at_s": 3.0, "restart_s": 1.0}]))
    assert sc.faults[0].kind == "pod_crash" and sc.faults[0].restart_s == 1.0


def test_with_changes_into_an_unset_block_says_to_set_the_block() -> None:
    """``resilience.retry`` is None until set: a dotted change below it names the block."""
    from sim import with_changes
    from tinybots.errors import InputError

    with pytest.raises(InputError) as bad:
        with_changes(load_preset("small"),
                     "deployments.feature_enricher.resilience.retry.max_attempts", 3)
    line = str(bad.value)
    assert "\n" not in line and "resilience.retry is not set" in line, line
