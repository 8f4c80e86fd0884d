"""Errors raised by tinybots on bad input.

Every message names the offending field and what is allowed, so a user can fix the input
without reading the code.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping


class InputError(ValueError):
    """Bad user input: a field out of range, a missing or mistyped column, an empty table.

    Subclasses ``ValueError`` so callers that already catch ``ValueError`` keep working.
    """


def describe_validation_error(exc: Exception, names: Mapping[str, str] | None = None) -> str:
    """One line per pydantic error, joined: ``field: message (got value)``.

    Parameters
    ----------
    exc : pydantic.ValidationError
        The error (any other exception gives ``str(exc)`` on one line).
    names : mapping of str to str, optional
        Display name per dotted field path, e.g. ``{"n_customers": "--customers (n_customers)"}``.

    Returns
    -------
    str
        A single line without pydantic's documentation links. Whole-model errors (no field)
        show their message alone; it names its fields itself.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return " ".join(str(exc).split())
    parts = []
    for err in errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not field:
            parts.append(msg)
            continue
        shown = reprlib.repr(err["input"])  # bounded: an input may be huge or deeply nested
        got = "" if shown in msg or isinstance(err["input"], dict) else f" (got {shown})"
        parts.append(f"{(names or {}).get(field, field)}: {msg}{got}")
    return " ".join("; ".join(parts).split())


__all__ = ["InputError", "describe_validation_error"]
