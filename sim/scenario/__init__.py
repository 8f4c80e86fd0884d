"""The scenario: one validated, immutable tree of every knob of a simulation run.

Units are in the field names (``_s`` seconds of processing time, ``_per_s`` per second,
``_days`` days of event time). A bad value fails at load time with a pydantic
``ValidationError`` (a ``ValueError``) naming the field path and the allowed range. What-ifs are
copies made with :func:`with_changes` (a dotted path, validated again), e.g.
``with_changes(scenario, "deployments.fraud_detector.replicas", 4)``. pydantic's
``scenario.model_copy(update=...)`` does not validate; ``sim.system.build`` and ``run`` validate
the scenario again, so an invalid copy fails there with the field named.

Presets are YAML files in ``sim/presets`` loaded by :func:`load_preset`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from sim.scenario.base import Frozen as _Frozen
from sim.scenario.base import check_kinds
from sim.scenario.bus import (
    BusSpec,
    KafkaSpec,
    RabbitMQSpec,
    SqsSpec,
    Topics,
    TopicSpec,
    bus_errors,
    default_retention_s,
)
from sim.scenario.cluster import (
    AutoscalingSpec,
    BehaviorSpec,
    ClusterAutoscalerSpec,
    ClusterSpec,
    CpuTriggerSpec,
    KafkaLagTriggerSpec,
    NodePoolSpec,
    ResourcesSpec,
    cluster_errors,
)
from sim.scenario.deployments import (
    Dependencies,
    DependencySpec,
    Deployments,
    DeploymentSpec,
    IngestorSpec,
    ProducerSpec,
    ServiceTimeSpec,
)
from sim.scenario.faults import (
    FAULT_KINDS,
    BadModel,
    BrokerOutage,
    DeploymentOutage,
    FailingDependency,
    Fault,
    NetworkDelay,
    PartitionUnavailable,
    PodCrash,
    Poison,
    SlowDependency,
    TrainingOutage,
    fault_errors,
)
from sim.scenario.files import read_scenario_file
from sim.scenario.learning import (
    DRIFT_KINDS,
    CardTesting,
    CompromiseRate,
    CovariateDrift,
    Drift,
    DriftDetectorSpec,
    FeedbackSpec,
    GuardSpec,
    LabelDelaySpec,
    LabelSpec,
    MonitoringSpec,
    RetrainingSpec,
    ShadowSpec,
    WeeklyProfile,
    learning_errors,
)
from sim.scenario.pipeline import AlertSpec, EngineSpec, ModelSpec
from sim.scenario.resilience import (
    BreakerSpec,
    BulkheadSpec,
    BurnRateWindow,
    ResilienceSpec,
    RetryBudgetSpec,
    RetrySpec,
    Slos,
    SloSpec,
    feature_store_spec,
    resilience_errors,
)
from sim.scenario.workload import BankSpec, BurstSpec, WorkloadSpec, burst_errors
from sim.topology import PIPELINE, TOPICS
from tinybots.errors import InputError

__all__ = [
    "Scenario",
    "ServiceTimeSpec",
    "DeploymentSpec",
    "IngestorSpec",
    "Deployments",
    "TopicSpec",
    "Topics",
    "ProducerSpec",
    "BusSpec",
    "KafkaSpec",
    "SqsSpec",
    "RabbitMQSpec",
    "default_retention_s",
    "on_bus",
    "AutoscalingSpec",
    "BehaviorSpec",
    "CpuTriggerSpec",
    "KafkaLagTriggerSpec",
    "ResourcesSpec",
    "NodePoolSpec",
    "ClusterAutoscalerSpec",
    "ClusterSpec",
    "BurstSpec",
    "BankSpec",
    "WorkloadSpec",
    "AlertSpec",
    "LabelSpec",
    "ModelSpec",
    "PodCrash",
    "DeploymentOutage",
    "BrokerOutage",
    "PartitionUnavailable",
    "SlowDependency",
    "FailingDependency",
    "Poison",
    "NetworkDelay",
    "Fault",
    "FAULT_KINDS",
    "TrainingOutage",
    "BadModel",
    "Drift",
    "DRIFT_KINDS",
    "CovariateDrift",
    "CardTesting",
    "CompromiseRate",
    "WeeklyProfile",
    "LabelDelaySpec",
    "FeedbackSpec",
    "MonitoringSpec",
    "DriftDetectorSpec",
    "RetrainingSpec",
    "ShadowSpec",
    "GuardSpec",
    "ResilienceSpec",
    "RetrySpec",
    "RetryBudgetSpec",
    "BreakerSpec",
    "BulkheadSpec",
    "DependencySpec",
    "Dependencies",
    "SloSpec",
    "Slos",
    "feature_store_spec",
    "BurnRateWindow",
    "EngineSpec",
    "preset_names",
    "load_preset",
    "with_changes",
]

PRESET_DIR = Path(__file__).parent.parent / "presets"
StageName = Literal[tuple(row.deployment for row in PIPELINE)]  # type: ignore[valid-type]
"""A pipeline stage's deployment key (``sim.topology.PIPELINE``), e.g. ``last_stage``."""
class Scenario(_Frozen):
    """Every knob of one simulation run (see the module docstring for units and loading)."""

    name: str = "custom"
    seed: int = Field(0, ge=0, le=2**63 - 1)
    workload: WorkloadSpec = WorkloadSpec()
    topics: Topics = Topics()
    deployments: Deployments = Deployments()
    alerts: AlertSpec = AlertSpec()
    labels: LabelSpec = LabelSpec()
    model: ModelSpec = ModelSpec()
    last_stage: StageName = "alert_service"
    monitoring_interval_s: float = Field(10.0, gt=0.0, le=86400.0)
    max_duration_s: float = Field(86400.0, gt=0.0, le=1e9)
    faults: tuple[Fault, ...] = ()
    dependencies: Dependencies = Dependencies()
    slos: Slos = Slos()
    monitoring: MonitoringSpec = MonitoringSpec()
    retraining: RetrainingSpec = RetrainingSpec()
    engine: EngineSpec = EngineSpec()
    bus: BusSpec = BusSpec()
    cluster: ClusterSpec = ClusterSpec()

    @model_validator(mode="before")
    @classmethod
    def _queues_have_one_partition(cls, data: Any) -> Any:
        """On SQS / RabbitMQ a topic whose ``partitions`` is not given has 1 (a queue)."""
        if not isinstance(data, dict):
            return data
        bus = data.get("bus")
        kind = bus.get("kind", "kafka") if isinstance(bus, dict) else getattr(bus, "kind", None)
        if kind in (None, "kafka"):
            return data
        topics = data.get("topics") or {}
        if not isinstance(topics, dict):
            return data
        topics = dict(topics)
        for key in TOPICS.values():
            spec = topics.get(key)
            if spec is None:
                topics[key] = {"partitions": 1}
            elif isinstance(spec, dict) and "partitions" not in spec:
                topics[key] = {**spec, "partitions": 1}
        return {**data, "topics": topics}

    @model_validator(mode="before")
    @classmethod
    def _known_kinds(cls, data: Any) -> Any:
        """An unknown fault or drift ``kind`` is one line listing the kinds."""
        if isinstance(data, dict):
            check_kinds(data.get("faults"), "faults", FAULT_KINDS, "pod_crash")
            w = data.get("workload")
            if isinstance(w, dict):
                check_kinds(w.get("drift"), "workload.drift", DRIFT_KINDS, "covariate")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        w = self.workload
        needs_model = self.last_stage in ("fraud_detector", "alert_service")
        if w.kind == "poisson" and w.content == "synthetic" and needs_model:
            raise ValueError(
                "workload.content: 'synthetic' has no history to train a model on; use "
                "content='bank' or last_stage in {'transaction_ingestor', 'feature_enricher'}"
            )
        if needs_model and w.live_start_day < self.model.train_days + self.model.gap_days:
            raise ValueError(
                f"workload.live_start_day: must be >= model.train_days + model.gap_days "
                f"({self.model.train_days + self.model.gap_days}) so the model has a training "
                "window, "
                f"got {w.live_start_day}"
            )
        problem = bus_errors(self) or cluster_errors(self) or burst_errors(w)
        if problem is not None:
            raise ValueError(problem)
        problem = fault_errors(self) or resilience_errors(self) or learning_errors(self)
        if problem is not None:
            raise ValueError(problem)
        store = feature_store_spec(self)
        if store is not None and self.dependencies.feature_store is None:
            # the run models the feature-store call (a fault or a resilience setting needs
            # it): the scenario says so, with the defaults, so that its YAML shows them
            object.__setattr__(self, "dependencies", Dependencies(feature_store=store))
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        """Validate a (nested) dict, e.g. papermill parameters."""
        return cls.model_validate(data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Scenario:
        """Load and validate a YAML scenario file.

        A file may build on another scenario: ``base: <preset name or scenario file>`` (a
        path relative to this file) takes every field from it, and the file's own fields
        replace the base's, block by block (mappings are merged key by key, lists replaced, a
        block whose ``kind`` changes replaced whole):

        .. code-block:: yaml

            base: flash_sale
            deployments:
              feature_enricher:
                autoscaling: {kind: hpa, max_replicas: 8}

        Raises ``InputError`` (one line naming the file) if it is not UTF-8 text (e.g. an
        image), not valid YAML (the message gives the line), repeats a key (YAML would keep
        the last silently), is not a mapping, or names a ``base`` that is neither a preset nor
        a file (or a chain of bases that loops); ``FileNotFoundError`` if it is missing,
        pydantic's ``ValidationError`` on a bad field.
        """
        return cls.model_validate(read_scenario_file(Path(path)))

    def to_yaml(self, path: str | Path | None = None) -> str:
        """YAML text of the full effective scenario (written to ``path`` when given)."""
        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text


def preset_names() -> list[str]:
    """Names of the bundled presets (``sim/presets/*.yaml``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> Scenario:
    """Load a bundled preset by name.

    Raises
    ------
    InputError
        Unknown preset (the message lists the known ones).
    """
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise InputError(
            f"preset: unknown preset {name!r}; known presets: {', '.join(preset_names())}"
        )
    return Scenario.from_yaml(path)


def with_changes(scenario: Scenario, path: str, value: Any) -> Scenario:
    """A copy of ``scenario`` with the dotted field ``path`` set to ``value``, validated again.

    >>> sc = with_changes(Scenario(), "deployments.fraud_detector.replicas", 4)
    >>> sc.deployments.fraud_detector.replicas
    4

    Raises
    ------
    InputError
        ``path`` names no field. Out-of-range values raise pydantic's ``ValidationError``.
    """
    data = scenario.model_dump()
    node: Any = data
    keys = path.split(".")
    for i, key in enumerate(keys[:-1]):
        if not isinstance(node, dict) or key not in node:
            raise InputError(f"{path}: no such scenario field ({key!r})")
        if node[key] is None and key in ("kafka", "sqs", "rabbitmq"):
            raise InputError(
                f"{path}: bus.{key} is not set (bus.kind is {scenario.bus.kind!r}); "
                f"sim.scenario.on_bus(scenario, {key!r}) moves the scenario to that bus"
            )
        if node[key] is None:
            head = ".".join(keys[: i + 1])
            raise InputError(
                f"{path}: {head} is not set (None); set the whole block first, e.g. "
                f"with_changes(scenario, {head!r}, {{{keys[i + 1]!r}: ...}})"
            )
        node = node[key]
    if not isinstance(node, dict) or keys[-1] not in node:
        raise InputError(f"{path}: no such scenario field ({keys[-1]!r})")
    node[keys[-1]] = value
    return Scenario.model_validate(data)


def on_bus(scenario: Scenario, kind: str) -> Scenario:
    """A copy of ``scenario`` on a ``kind`` bus (``kafka``, ``sqs`` or ``rabbitmq``): the
    other kind's settings are dropped and the partitions follow the kind (1 per queue on SQS /
    RabbitMQ; on Kafka, the scenario's own or the default 6, 1 for ``labels``).

    >>> on_bus(load_preset("small"), "sqs").topics.transactions.partitions
    1

    Raises
    ------
    InputError
        An unknown ``kind``.
    """
    if kind not in ("kafka", "sqs", "rabbitmq"):
        raise InputError(f"bus.kind: must be one of kafka, sqs, rabbitmq, got {kind!r}")
    data = scenario.model_dump()
    data["bus"] = {"kind": kind}
    for key in TOPICS.values():
        if kind != "kafka":
            data["topics"][key]["partitions"] = 1
        elif scenario.bus.kind != "kafka":
            data["topics"][key]["partitions"] = Topics.model_fields[key].default.partitions
    return Scenario.model_validate(data)
