"""The services of the fraud pipeline, one module each, running the real brains (``tinybots``).

- ``ingestor``: transaction-ingestor (schema check, produce to ``transactions``);
- ``enricher``: feature-enricher (the online ``FeatureStore``);
- ``detector``: fraud-detector (micro-batch scoring; the compiled scorer in ``scorer``);
- ``alerts``: alert-service (``sim.policies.alert``);
- ``label_feed``: the label feed and the store's label consumer;
- ``warmup``: what the bots need before t = 0 (the trained model, the warmed store);
- ``stage``: what the consumer services share.

Which service reads and writes which topic is in ``sim.topology``.
"""

from __future__ import annotations

from sim.services.alerts import AlertHandler
from sim.services.detector import DetectorHandler
from sim.services.enricher import EnricherHandler
from sim.services.ingestor import IngestorService, schema_errors
from sim.services.label_feed import LabelHandler, LabelTable, label_publisher
from sim.services.stage import ConsumerStage

__all__ = [
    "AlertHandler",
    "ConsumerStage",
    "DetectorHandler",
    "EnricherHandler",
    "IngestorService",
    "LabelHandler",
    "LabelTable",
    "label_publisher",
    "schema_errors",
]
