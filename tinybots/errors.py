"""Errors raised by tinybots on bad input.

Every message names the offending field and what is allowed, so a user can fix the input
without reading the code.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a field out of range, a missing or mistyped column, an empty table.

    Subclasses ``ValueError`` so callers that already catch ``ValueError`` keep working.
    """


__all__ = ["InputError"]
