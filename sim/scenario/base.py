"""The base of every scenario block: frozen, no unknown keys, no NaN / inf, no stray booleans;
the two rules of a block with one settings block per ``kind`` (the bus, an autoscaler); and the
check of a tagged union's ``kind`` (faults, drifts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Frozen", "check_kinds", "fill_kind_block", "refuse_other_kind"]


class Frozen(BaseModel):
    """A frozen pydantic model that forbids unknown keys, NaN / inf and booleans for numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans(cls, data: Any) -> Any:
        """Reject ``true``/``false`` where a number or name is due (pydantic would take 1/0)."""
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key)
                if isinstance(value, bool) and (field is None or field.annotation is not bool):
                    raise ValueError(f"{key}: expected a number or a name, got {value!r}")
        return data


def fill_kind_block(data: Any, kinds: tuple[str, ...], default: str) -> Any:
    """``data`` with an empty settings block for its ``kind`` when none is given (a
    ``mode="before"`` validator's body: the block then takes its defaults)."""
    if not isinstance(data, dict):
        return data
    kind = data.get("kind", default)
    if kind in kinds and data.get(kind) is None:
        data = {**data, kind: {}}
    return data


def refuse_other_kind(block: Any, field: str, kind: str | None, what: str,
                      kind_field: str = "kind", hint: str = "") -> Any:
    """``block`` unchanged, or a ``ValueError`` when it is the settings of another kind than
    ``kind`` (``what``: e.g. "bus"; ``kind_field``: how the message names the kind field;
    ``hint``: what else to do, appended to the message)."""
    if block is not None and kind is not None and field != kind:
        raise ValueError(
            f"settings of a {field} {what}, but {kind_field} is {kind!r}: remove them or set "
            f"{kind_field}: {field}{hint}"
        )
    return block


def check_kinds(items: Any, where: str, kinds: tuple[str, ...], default: str) -> None:
    """A ``ValueError`` of one line listing ``kinds`` when a mapping of the list ``items`` (the
    raw input of a tagged union's field ``where``, e.g. ``faults``) names another ``kind``
    (missing: ``default``); pydantic's own message would name the union's tag instead."""
    if not isinstance(items, (list, tuple)):
        return
    for i, item in enumerate(items):
        kind = item.get("kind", default) if isinstance(item, dict) else None
        if kind is not None and kind not in kinds:
            raise ValueError(f"{where}[{i}].kind: must be one of {', '.join(kinds)}, "
                             f"got {kind!r}")
