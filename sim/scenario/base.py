"""The base of every scenario block: frozen, no unknown keys, no NaN / inf, no stray booleans."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Frozen"]


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
