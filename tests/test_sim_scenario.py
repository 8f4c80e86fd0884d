"""Scenario validation, YAML round trip, presets and what-if copies (sim.scenario)."""

from __future__ import annotations

import pydantic
import pytest

from sim.scenario import Scenario, load_preset, preset_names, with_changes
from tinybots.errors import InputError


def test_defaults_validate_and_are_frozen():
    sc = Scenario()
    with pytest.raises(pydantic.ValidationError):
        sc.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "field", "bound"),
    [
        (
            {"deployments": {"fraud_detector": {"replicas": 0}}},
            "deployments.fraud_detector.replicas",
            "greater than or equal to 1",
        ),
        (
            {"topics": {"transactions": {"partitions": 5000}}},
            "topics.transactions.partitions",
            "less than or equal to 1024",
        ),
        ({"workload": {"speedup": -1}}, "workload.speedup", "greater than 0"),
        ({"alerts": {"threshold": 1.5}}, "alerts.threshold", "less than or equal to 1"),
    ],
)
def test_errors_name_the_field_and_the_allowed_range(data, field, bound):
    with pytest.raises(pydantic.ValidationError) as err:
        Scenario.from_dict(data)
    assert field in str(err.value) and bound in str(err.value)
    assert isinstance(err.value, ValueError)


def test_unknown_fields_are_rejected():
    with pytest.raises(pydantic.ValidationError, match="deployments.fraud_detector.replica"):
        Scenario.from_dict({"deployments": {"fraud_detector": {"replica": 2}}})


def test_cross_field_rules():
    with pytest.raises(pydantic.ValidationError, match="workload.content"):
        Scenario.from_dict({"workload": {"kind": "poisson", "content": "synthetic"}})
    with pytest.raises(pydantic.ValidationError, match="workload.live_start_day"):
        Scenario.from_dict({"workload": {"live_start_day": 3}})


def test_yaml_round_trip(tmp_path):
    sc = with_changes(load_preset("ingestor_mmc"), "deployments.transaction_ingestor.replicas", 5)
    path = tmp_path / "s.yaml"
    sc.to_yaml(path)
    assert Scenario.from_yaml(path) == sc


def test_yaml_that_is_not_a_mapping_is_an_input_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="mapping"):
        Scenario.from_yaml(path)


def test_presets_load_and_unknown_lists_known():
    names = preset_names()
    assert {"default", "ingestor_mmc"} <= set(names)
    for name in names:
        assert isinstance(load_preset(name), Scenario)
    with pytest.raises(InputError, match="known presets: .*default"):
        load_preset("nope")


def test_with_changes_copies_and_validates():
    base = Scenario()
    sc = with_changes(base, "deployments.fraud_detector.replicas", 4)
    assert sc.deployments.fraud_detector.replicas == 4
    assert base.deployments.fraud_detector.replicas == 1
    with pytest.raises(InputError, match="no such scenario field"):
        with_changes(base, "deployments.fraud_detectr.replicas", 4)
    with pytest.raises(pydantic.ValidationError, match="replicas"):
        with_changes(base, "deployments.fraud_detector.replicas", -1)


def test_every_scenario_is_hashable_even_with_node_pools():
    """Scenarios are used as cache keys (notebooks memoise runs on them): a dict field
    (``cluster.node_pools``) must not make them unhashable, and equal scenarios hash equal."""
    for name in preset_names():
        assert hash(load_preset(name)) == hash(load_preset(name))
    pools = {"cluster": {"node_pools": {"cpu": {"nodes": 2}, "gpu": {"nodes": 1, "gpu": 1}}}}
    a, b = Scenario.from_dict(pools), Scenario.from_dict(pools)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    c = Scenario.from_dict({"cluster": {"node_pools": {"cpu": {"nodes": 3}}}})
    assert c != a and len({a, c}) == 2


def test_a_scenario_file_builds_on_a_preset_or_another_file(tmp_path):
    """``base:`` takes every field from a preset or a file; the file's own fields replace the
    base's block by block; a block whose kind changes is replaced whole; bad bases are one
    line."""
    (tmp_path / "a.yaml").write_text(
        "base: flash_sale\nname: sale_hpa\ndeployments:\n  feature_enricher:\n"
        "    autoscaling: {kind: hpa, min_replicas: 2, max_replicas: 8}\n")
    a = Scenario.from_yaml(tmp_path / "a.yaml")
    sale = load_preset("flash_sale")
    assert a.name == "sale_hpa" and a.workload == sale.workload
    assert a.deployments.feature_enricher.startup_s == sale.deployments.feature_enricher.startup_s
    assert a.deployments.feature_enricher.autoscaling.max_replicas == 8
    assert with_changes(a, "deployments.feature_enricher.autoscaling", None) == \
        with_changes(sale, "name", "sale_hpa")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text(
        "base: ../a.yaml\ndeployments:\n  feature_enricher:\n"
        "    autoscaling: {kind: keda, min_replicas: 2, max_replicas: 8}\n")
    b = Scenario.from_yaml(tmp_path / "sub" / "b.yaml")
    assert b.deployments.feature_enricher.autoscaling.kind == "keda"
    assert b.deployments.feature_enricher.autoscaling.hpa is None  # replaced whole
    for text, message in [("base: nope\n", "neither a preset"), ("base: 3\n", "expected a preset"),
                          ("base: loop.yaml\n", "loops back")]:
        (tmp_path / "loop.yaml").write_text(text)
        with pytest.raises(InputError, match=message) as info:
            Scenario.from_yaml(tmp_path / "loop.yaml")
        assert "\n" not in str(info.value)


def test_the_readmes_scenario_file_loads(tmp_path):
    """The README's ``base: flash_sale`` example is a valid scenario file."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "base:" in b]
    (tmp_path / "sale_hpa.yaml").write_text(block)
    sc = Scenario.from_yaml(tmp_path / "sale_hpa.yaml")
    assert sc.name == "sale_hpa" and sc.deployments.feature_enricher.autoscaling.kind == "hpa"
