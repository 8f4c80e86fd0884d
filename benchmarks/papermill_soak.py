"""Soak test of the notebooks under papermill: run each one N times headless, count the finishes.

Each run is its own ``python -m papermill`` subprocess (kernel ``python3``, working folder
``notebooks/``, ``TINYBOTS_QUICK=1`` and ``-p quick True``) with papermill's
``--execution-timeout`` per cell and, as a backstop, a wall-clock limit on the whole
subprocess, so a hang is counted as a failure instead of stopping the soak. A run in which a
cell took 90 % of the timeout or more is counted as ``stalled``: nbclient reads a reply whose
wake-up was lost only when its wait times out, so such a cell would hang for good without a
timeout (see :mod:`sim.analysis.panels`). The executed
notebooks go to a temporary folder and are deleted afterwards.

Prints one line per run (notebook, run, ok / stalled / timeout / error, wall time in s, and for a
failure the last lines of papermill's stderr) and one summary line per notebook:
``<notebook>: <finished>/<N> finished; wall s min/median/max a/b/c``. Exit status 1 when
any run did not finish.

Usage: ``python benchmarks/papermill_soak.py [-n 10] [--timeout 300] [notebooks ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def run_once(
    notebook: Path, out_dir: Path, cell_timeout_s: int, run: int
) -> tuple[str, float, str]:
    """Execute ``notebook`` once; ``(status, wall s, tail of stderr)``, status ok/timeout/error."""
    out = out_dir / f"{notebook.stem}-{run}.ipynb"
    cmd = [
        sys.executable, "-m", "papermill", str(notebook), str(out),
        "-k", "python3", "--cwd", str(NOTEBOOKS), "--execution-timeout", str(cell_timeout_s),
        "-p", "quick", "True", "--no-progress-bar",
    ]
    env = {**os.environ, "TINYBOTS_QUICK": "1", "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=4 * cell_timeout_s)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return "timeout", time.perf_counter() - t0, err[-600:]
    wall = time.perf_counter() - t0
    slowest = slowest_cell(out) if out.exists() else (0.0, "")
    out.unlink(missing_ok=True)
    if proc.returncode != 0:
        status = "timeout" if "CellTimeoutError" in proc.stderr else "error"
        return status, wall, proc.stderr[-600:]
    if slowest[0] >= 0.9 * cell_timeout_s:  # a reply read only when the wait timed out
        return "stalled", wall, f"cell took {slowest[0]:.0f} s: {slowest[1]!r}"
    return "ok", wall, ""


def slowest_cell(executed: Path) -> tuple[float, str]:
    """``(duration s, first line)`` of the slowest cell of an executed notebook (papermill's
    ``metadata.papermill.duration``)."""
    nb = json.loads(executed.read_text())
    cells = [(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0,
              "".join(c["source"]).splitlines()[0] if c["source"] else "")
             for c in nb["cells"] if c["cell_type"] == "code"]
    return max(cells, default=(0.0, ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="runs per notebook (default 10)")
    parser.add_argument("--timeout", type=int, default=300,
                        help="papermill execution timeout per cell, s (default 300)")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every notebooks/*.ipynb)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"-n: must be >= 1, got {args.n}")
    if args.timeout < 1:
        parser.error(f"--timeout: must be >= 1 s, got {args.timeout}")
    notebooks = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    failed = 0
    with tempfile.TemporaryDirectory(prefix="papermill-soak-") as tmp:
        for nb in notebooks:
            walls = []
            for i in range(args.n):
                status, wall, err = run_once(nb.resolve(), Path(tmp), args.timeout, i)
                print(f"{nb.name} run {i + 1}/{args.n}: {status} in {wall:.1f} s", flush=True)
                if status == "ok":
                    walls.append(wall)
                else:
                    failed += 1
                    print("  " + err.strip().replace("\n", "\n  "), flush=True)
            spread = (f"{min(walls):.1f}/{statistics.median(walls):.1f}/{max(walls):.1f}"
                      if walls else "-")
            print(f"{nb.name}: {len(walls)}/{args.n} finished; wall s min/median/max {spread}",
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
