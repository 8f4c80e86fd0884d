"""tinybots: the real fraud-detection "brains" that run inside the simulation.

Framework-free code that would run unchanged in a real consumer loop: the transaction
generator (a faithful reimplementation of the Fraud Detection Handbook's simulator), the
feature definitions and the online feature store, model training / evaluation / registry,
and the metrics of the fraud-ML literature. This package never imports ``simpy`` or ``sim``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
