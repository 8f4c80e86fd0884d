"""The type of a SimPy process body: a generator that yields events (``env.process(...)``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

__all__ = ["ProcessGenerator"]

ProcessGenerator = Generator[simpy.Event, Any, Any]
"""A SimPy process: yields ``simpy.Event`` s, is sent their values, returns anything."""
