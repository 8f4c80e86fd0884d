"""Reading scenario files: YAML text with unique keys, and ``base:`` (a preset or another file
under the file's own fields); ``sim.scenario.Scenario.from_yaml`` documents the rules and
errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tinybots.errors import InputError

__all__ = ["read_mapping", "read_scenario_file"]


def read_mapping(path: Path) -> dict[str, Any]:
    """The YAML mapping of scenario file ``path`` (see ``Scenario.from_yaml`` for the errors)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"scenario file {path}: not a YAML text file (byte {raw[exc.start]:#04x} at "
            f"offset {exc.start} is not UTF-8)"
        ) from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise InputError(f"scenario file {path}: not valid YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise InputError(
            f"scenario file {path}: expected a mapping of fields, got {type(data).__name__}"
        )
    return data


def read_scenario_file(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The fields of scenario file ``path`` with its ``base`` (if any) merged under them."""
    data = read_mapping(path)
    if "base" not in data:
        return data
    base = data.pop("base")
    here = path.resolve()
    if not isinstance(base, str) or not base:
        raise InputError(f"scenario file {path}: base: expected a preset name or a scenario "
                         f"file, got {base!r}")
    from sim.scenario import load_preset, preset_names  # the presets are scenarios

    if base in preset_names():
        under = load_preset(base).model_dump(mode="json")
    else:
        other = (path.parent / base).resolve()
        if not other.is_file():
            raise InputError(f"scenario file {path}: base: {base!r} is neither a preset "
                             f"({', '.join(preset_names())}) nor a file")
        if other in (*chain, here):
            raise InputError(f"scenario file {path}: base: {base!r} loops back to a file "
                             "that builds on it")
        under = read_scenario_file(other, (*chain, here))
    return _merged(under, data)


def _merged(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``under``: mappings merged key by key, anything else replaced; a
    block whose ``kind`` changes (the bus, an autoscaler) is replaced whole, since the base's
    settings belong to its own kind."""
    if "kind" in over and over["kind"] != under.get("kind", over["kind"]):
        return dict(over)
    out = dict(under)
    for key, value in over.items():
        below = out.get(key)
        out[key] = (_merged(below, value) if isinstance(below, dict) and isinstance(value, dict)
                    else value)
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping (naming it and its lines)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys brought in by ``<<`` may be overridden, as YAML intends
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {seen[key]})",
                        key_node.start_mark,
                    )
            except TypeError:
                continue  # unhashable: SafeLoader itself reports it
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)
