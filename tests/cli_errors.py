"""What ``tinybots run --scenario FILE`` says about a bad scenario (shared by the input tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.cli import main


def cli_error_line(data: dict[str, Any], tmp_path: Path, capsys: Any,
                   monkeypatch: pytest.MonkeyPatch) -> str:
    """Run ``tinybots run`` on ``data`` written as a scenario file; check it exits 2, prints
    exactly one ``tinybots run: error:`` line on stderr and writes nothing; return the line."""
    monkeypatch.setenv("TINYBOTS_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert main(["run", "--scenario", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinybots run: error:"), err
    assert not out.exists()
    return err[0]
