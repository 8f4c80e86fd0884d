"""The design lives in the repository: docs/architecture.md, and no citation of outside files.

``docs/architecture.md`` must name every subpackage of ``sim`` and every module of
``sim/services`` (so a new one is documented where readers look), and every service of the
topology table. Docstrings and comments of ``sim/``, ``tinybots/`` and ``tests/`` cite that page
or the handbook itself, never a design file or a reference note that a clone does not have; the
README names only modules that exist.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from sim.topology import SERVICES, TOPICS

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Built from parts so that this file does not match itself.
OUTSIDE = {
    "a design file outside the repository": re.compile(r"\b" + "DES" + r"IGN\b"),
    "the handbook reference note": re.compile("handbook" + r"_reference\.md"),
    "a path into the shared folder": re.compile(r"\.\./" + "shared"),
}
ALLOWED = {
    # the documented fallback for the handbook's published files ($TINYBOTS_HANDBOOK_DATA unset)
    ("tests/conftest.py", "a path into the shared folder"),
    # a lint that asserts the README has no such path
    ("tests/test_notebook_lint.py", "a path into the shared folder"),
}
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".cfg", ".txt", ".toml"}


def _text() -> str:
    assert ARCHITECTURE.is_file(), "docs/architecture.md is missing"
    return ARCHITECTURE.read_text(encoding="utf-8")


def _names(text: str, package: str, name: str) -> bool:
    """``name`` of ``package`` appears as ``sim/<...>/name``, ``sim.<...>.name`` or `name`."""
    slash, dot = package.replace(".", "/"), package
    return (f"{slash}/{name}" in text or f"{dot}.{name}" in text or f"`{name}`" in text)


def test_architecture_names_every_sim_subpackage() -> None:
    text = _text()
    subpackages = sorted(p.parent.name for p in (ROOT / "sim").glob("*/__init__.py"))
    assert len(subpackages) >= 8
    missing = [name for name in subpackages if not _names(text, "sim", name)]
    assert not missing, f"docs/architecture.md does not name sim subpackage(s) {missing}"


def test_architecture_names_every_service_module() -> None:
    text = _text()
    modules = sorted(p.stem for p in (ROOT / "sim" / "services").glob("*.py")
                     if p.stem != "__init__")
    missing = [name for name in modules if not _names(text, "sim.services", name)]
    assert not missing, f"docs/architecture.md does not name sim/services module(s) {missing}"


def test_architecture_shows_the_topology_table() -> None:
    text = _text()
    missing = [row.service for row in SERVICES if row.service not in text]
    missing += [row.deployment for row in SERVICES if f"`{row.deployment}`" not in text]
    missing += [topic for topic in TOPICS if f"`{topic}`" not in text]
    assert not missing, f"docs/architecture.md's topology table lacks {missing}"


def _outside_citations(folder: str) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*")):
        if path.suffix not in TEXT_SUFFIXES or not path.is_file() or ".venv" in path.parts:
            continue
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for what, pattern in OUTSIDE.items():
                if pattern.search(line) and (rel, what) not in ALLOWED:
                    found.append(f"{rel}:{n}: {what}: {line.strip()}")
    return found


@pytest.mark.parametrize("folder", ["tinybots", "tests", "sim"])
def test_no_citation_of_files_outside_the_repository(folder: str) -> None:
    found = _outside_citations(folder)
    assert not found, "cite docs/architecture.md or the book itself instead:\n" + "\n".join(found)


def _module_exists(dotted: str) -> bool:
    """``dotted`` is a module, or an attribute of the longest module prefix."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_readme_names_only_sim_modules_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"\b(?:sim|tinybots)/[\w/]+\.py\b", readme))
    missing = [p for p in sorted(paths) if not (ROOT / p).is_file()]
    dotted = set(re.findall(r"\b(?:sim|tinybots)(?:\.[A-Za-z_]\w*)+", readme))
    missing += [d for d in sorted(dotted) if not _module_exists(d)]
    assert not missing, f"README.md names modules that do not exist: {missing}"
