"""One table of the topology (sim.topology): every other module reads it instead of naming topics,
services or stages itself."""

from __future__ import annotations

import ast
from pathlib import Path

from sim.scenario import Deployments, Topics
from sim.topology import LABEL_FEED, PIPELINE, SERVICES, STAGES, STREAMS, TOPICS, Stage, row_of

SIM = Path(__file__).resolve().parents[1] / "sim"


def test_the_scenario_has_a_deployment_per_service_and_a_topic_per_topic():
    assert list(Deployments.model_fields) == [r.deployment for r in SERVICES]
    assert list(Topics.model_fields) == list(TOPICS.values())


def test_the_pipeline_is_a_chain_of_topics():
    assert [r.stage for r in PIPELINE] == list(Stage)
    for up, down in zip(PIPELINE, PIPELINE[1:], strict=False):
        assert up.topic_out == down.topic_in in TOPICS
    assert LABEL_FEED.topic_in in TOPICS and LABEL_FEED.stage is None
    assert STAGES == {r.stage: r.deployment for r in PIPELINE}
    assert row_of("label_feed") is LABEL_FEED


def test_random_streams_keep_their_order():
    # the order of SeedSequence.spawn: changing it would change every run's random numbers;
    # streams added later go at the end
    assert STREAMS == ("arrivals", "content", "transaction_ingestor", "feature_enricher",
                       "fraud_detector", "alert_service", "label_feed", "faults",
                       "monitoring_service", "feature_store", "retries", "drift",
                       "label_delays", "training", "orchestrator")


def _names_in_code(path: Path) -> set[str]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docs = {
        id(n.body[0].value) for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
    }
    return {
        n.value for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    }


def test_only_the_topology_names_topics_and_services():
    names = set(TOPICS) - {"transactions", "labels"}  # also frame / column names elsewhere
    names |= {r.service for r in SERVICES}
    offenders = {
        str(p.relative_to(SIM)): sorted(_names_in_code(p) & names)
        for p in SIM.rglob("*.py") if p.name != "topology.py"
    }
    assert {k: v for k, v in offenders.items() if v} == {}
