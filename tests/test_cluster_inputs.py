"""Bad cluster input is a one-line error naming the field (issue 10): autoscalers, node pools,
pod resources and bursts, through ``Scenario.from_dict`` and through ``tinybots run`` (exit 2,
nothing written); and the engine says why the ingestor's schedule is not taken when its pods
can change or wait for a node."""

from __future__ import annotations

import numpy as np
import pytest
from cli_errors import cli_error_line

from sim.engine import choose_paths
from sim.scenario import Scenario, WorkloadSpec
from sim.workload import build_workload
from tinybots.errors import InputError, describe_validation_error

FE = "feature_enricher"
POOL = {"cpu": {"nodes": 1, "cpu": 4.0}}


def _dep(name: str, **fields: object) -> dict:
    return {"deployments": {name: fields}}


BAD = [
    ("min above max", _dep(FE, replicas=5, autoscaling={"min_replicas": 5, "max_replicas": 3}),
     "deployments.feature_enricher.autoscaling: min_replicas"),
    ("target 0", _dep(FE, autoscaling={"hpa": {"target_utilization": 0}}),
     "deployments.feature_enricher.autoscaling.hpa.target_utilization"),
    ("target 1.5", _dep(FE, autoscaling={"hpa": {"target_utilization": 1.5}}),
     "deployments.feature_enricher.autoscaling.hpa.target_utilization"),
    ("target -0.1", _dep(FE, autoscaling={"hpa": {"target_utilization": -0.1}}),
     "deployments.feature_enricher.autoscaling.hpa.target_utilization"),
    ("gpu pod on a cpu pool", {"cluster": {"node_pools": POOL},
                               **_dep("fraud_detector", resources={"gpu": 1})},
     "deployments.fraud_detector.resources.gpu"),
    ("pool of 0 nodes, no autoscaler", {"cluster": {"node_pools": {"cpu": {"nodes": 0}}}},
     "cluster.node_pools.cpu.nodes"),
    ("unknown pool", {"cluster": {"node_pools": POOL},
                      **_dep("fraud_detector", node_pool="gpu")},
     "deployments.fraud_detector.node_pool"),
    ("a pool on an unlimited cluster", _dep("fraud_detector", node_pool="gpu"),
     "deployments.fraud_detector.node_pool"),
    ("replicas below min", _dep(FE, replicas=1, autoscaling={"min_replicas": 2, "max_replicas": 8}),
     "deployments.feature_enricher.replicas"),
    ("replicas above max", _dep(FE, replicas=9, autoscaling={"min_replicas": 2, "max_replicas": 8}),
     "deployments.feature_enricher.replicas"),
    ("keda on the ingestor", _dep("transaction_ingestor", autoscaling={"kind": "keda"}),
     "deployments.transaction_ingestor.autoscaling.kind"),
    ("hpa with min 0", _dep(FE, autoscaling={"kind": "hpa", "min_replicas": 0}),
     "deployments.feature_enricher.autoscaling: min_replicas"),
    ("hpa block, kind keda", _dep(FE, autoscaling={"kind": "keda",
                                                   "hpa": {"target_utilization": 0.5}}),
     "deployments.feature_enricher.autoscaling.hpa"),
    ("keda block, kind hpa", _dep(FE, autoscaling={"kind": "hpa", "keda": {"lag_threshold": 5}}),
     "deployments.feature_enricher.autoscaling.keda"),
    ("pod larger than a node", {"cluster": {"node_pools": POOL},
                                **_dep(FE, resources={"cpu": 8.0})},
     "deployments.feature_enricher.resources.cpu"),
    ("multiplier 0", {"workload": {"bursts": [{"start_s": 10, "duration_s": 10,
                                               "multiplier": 0}]}},
     "workload.bursts.0.multiplier"),
    ("multiplier negative", {"workload": {"bursts": [{"start_s": 10, "duration_s": 10,
                                                      "multiplier": -2}]}},
     "workload.bursts.0.multiplier"),
    # knobs that would not act, and values the real controllers refuse (break-it findings)
    ("idle consumers on a queue", {"bus": {"kind": "sqs"}, **_dep(FE, autoscaling={
        "kind": "keda", "keda": {"allow_idle_consumers": True}})},
     "deployments.feature_enricher.autoscaling.keda.allow_idle_consumers"),
    ("cooldown without scale to zero", _dep(FE, autoscaling={
        "kind": "keda", "min_replicas": 1, "keda": {"cooldown_s": 60.0}}),
     "deployments.feature_enricher.autoscaling.keda.cooldown_s"),
    ("a string for a bool", _dep(FE, autoscaling={
        "kind": "keda", "keda": {"allow_idle_consumers": "yes"}}),
     "deployments.feature_enricher.autoscaling.keda.allow_idle_consumers"),
    ("a sync period under 1 s", _dep(FE, autoscaling={"sync_period_s": 0.01}),
     "deployments.feature_enricher.autoscaling.sync_period_s"),
    ("a polling interval under 1 s", _dep(FE, autoscaling={
        "kind": "keda", "keda": {"polling_interval_s": 1e-6}}),
     "deployments.feature_enricher.autoscaling.keda.polling_interval_s"),
    ("a scan interval under 1 s", {"cluster": {"node_pools": {"cpu": {
        "nodes": 1, "autoscaler": {"scan_interval_s": 1e-6}}}}},
     "cluster.node_pools.cpu.autoscaler.scan_interval_s"),
    ("a scale-up policy of 0 pods", _dep(FE, autoscaling={"behavior": {"scale_up_pods": 0}}),
     "deployments.feature_enricher.autoscaling.behavior.scale_up_pods"),
    ("a pool name that is not a Kubernetes name", {"cluster": {"node_pools": {
        "a,b=c": {"nodes": 1}}}}, "cluster.node_pools"),
]
LATE_BURST = {"workload": {"bursts": [{"start_s": 1e6, "duration_s": 10, "multiplier": 2}]}}


@pytest.mark.parametrize(("data", "field"), [(d, f) for _, d, f in BAD], ids=[i for i, _, _ in BAD])
def test_bad_cluster_input_is_one_line_naming_the_field(data, field):
    with pytest.raises(ValueError) as info:
        Scenario.from_dict(data)
    line = describe_validation_error(info.value)
    assert "\n" not in line and line.startswith(field), line


def test_a_burst_after_the_live_window_is_refused():
    """``start_s`` is checked against ``live_duration_s / speedup`` by the scenario, and again
    when a ``WorkloadSpec`` built on its own is drawn (``sim.bursts.check_bursts``)."""
    with pytest.raises(ValueError) as bad:
        Scenario.from_dict(LATE_BURST)
    line = describe_validation_error(bad.value)
    assert "\n" not in line and line.startswith("workload.bursts[0].start_s: "), line
    assert "86400" in line
    spec = WorkloadSpec.model_validate(LATE_BURST["workload"])
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match=r"^workload\.bursts\[0\]\.start_s: .*86400") as info:
        build_workload(spec, rng, rng)
    assert "\n" not in str(info.value)
    inside = WorkloadSpec(kind="poisson", content="synthetic", live_duration_s=100.0,
                          bursts=[{"start_s": 99.0, "duration_s": 10, "multiplier": 2}])
    assert len(build_workload(inside, rng, rng).arrival_s) > 0  # just inside: accepted


@pytest.mark.parametrize(
    ("data", "field"),
    [(d, f) for _, d, f in BAD] + [(LATE_BURST, "workload.bursts[0].start_s")],
    ids=[i for i, _, _ in BAD] + ["burst after the window"],
)
def test_tinybots_run_prints_the_one_line_and_exits_2(data, field, tmp_path, capsys, monkeypatch):
    line = cli_error_line(data, tmp_path, capsys, monkeypatch)
    assert field in line, line


def test_the_ingestor_schedule_is_not_taken_when_its_pods_can_change_or_wait():
    assert choose_paths(Scenario()).scheduled_ingress
    scaled = Scenario.from_dict(_dep("transaction_ingestor", replicas=2,
                                     autoscaling={"min_replicas": 2, "max_replicas": 6}))
    paths = choose_paths(scaled)
    assert not paths.scheduled_ingress
    assert "deployments.transaction_ingestor.autoscaling" in paths.reasons["ingress"]
    pooled = Scenario.from_dict({"cluster": {"node_pools": POOL}})
    paths = choose_paths(pooled)
    assert not paths.scheduled_ingress
    assert "cluster.node_pools" in paths.reasons["ingress"]
    # autoscaling another deployment leaves the ingestor's schedule alone
    other = Scenario.from_dict(_dep(FE, autoscaling={"min_replicas": 1, "max_replicas": 4}))
    assert choose_paths(other).scheduled_ingress


def test_a_crash_may_name_a_pod_the_autoscaler_can_add():
    """A fault on a pod index below ``max_replicas`` is accepted when the deployment
    autoscales (the pod may exist by then); above it, it is refused naming max_replicas."""
    auto = {"min_replicas": 1, "max_replicas": 5}
    ok = Scenario.from_dict({**_dep(FE, replicas=1, autoscaling=auto),
                             "faults": [{"deployment": FE, "at_s": 10.0, "pod": 3}]})
    assert ok.faults[0].pod == 3
    with pytest.raises(ValueError) as info:
        Scenario.from_dict({**_dep(FE, replicas=1, autoscaling=auto),
                            "faults": [{"deployment": FE, "at_s": 10.0, "pod": 5}]})
    assert "autoscaling.max_replicas (5)" in describe_validation_error(info.value)

