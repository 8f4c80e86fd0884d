"""The README's Python snippet generates a bank from a plain script, from stdin and in Jupyter.

Issue 7, item 13: the generator's worker processes ("forkserver" / "spawn") used to re-run the
user's ``__main__`` in every worker, so a script without an ``if __name__ == "__main__":`` guard
never finished and ``python -`` failed. The snippet is read from README.md's ``python`` block,
so these tests follow the README. Each runs in a fresh process with a cold bank cache
(``TINYBOTS_CACHE`` = an empty folder) and a timeout; the whole process session is killed on
timeout. The small variants use ``load_preset("small")`` and force two workers (the small bank
alone would use one) and print when a pool starts, so multiprocessing is really exercised.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300

_WORKERS = '''\
import multiprocessing.pool
import tinybots.generator.transactions as _generator
_generator.MIN_TX_PER_JOB = 1                    # test only: two workers for the small bank
_generator.resolve_jobs = lambda n_jobs: 2
_pool_init = multiprocessing.pool.Pool.__init__
def _announce(self, processes=None, *args, **kwargs):
    print(f"pool of {processes} workers", flush=True)
    _pool_init(self, processes, *args, **kwargs)
multiprocessing.pool.Pool.__init__ = _announce
'''


def readme_snippet() -> str:
    """The first ``python`` code block of README.md."""
    found = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert found, "README.md has no python block"
    return found.group(1)


def small_snippet() -> str:
    """The README snippet on the small preset, with two generator workers forced."""
    text = readme_snippet()
    assert 'load_preset("default")' in text
    return _WORKERS + text.replace('load_preset("default")', 'load_preset("small")')


def _python(args: list[str], tmp_path: Path, stdin: str | None = None) -> str:
    """Run ``python args`` in ``tmp_path`` on a cold cache; its stdout (asserts exit 0)."""
    env = {**os.environ, "TINYBOTS_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=tmp_path, env=env, start_new_session=True, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(stdin, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the workers too
        out, err = proc.communicate()
        pytest.fail(f"did not finish within {TIMEOUT_S} s; stderr tail:\n{err[-2000:]}")
    assert proc.returncode == 0, err[-3000:]
    return out


def _check(out: str, pools: bool = True) -> None:
    lines = out.splitlines()
    if pools:
        assert "pool of 2 workers" in lines, out
    for name in ("2 enricher pods", "3 enricher pods"):
        assert any(re.match(rf"{name}: p95 latency \d+\.\d s, max lag \d+ records", x)
                   for x in lines), out


@pytest.mark.slow
def test_small_snippet_as_a_plain_script(tmp_path):
    script = tmp_path / "what_if.py"
    script.write_text(small_snippet())
    _check(_python([str(script)], tmp_path))


@pytest.mark.slow
def test_small_snippet_piped_to_python(tmp_path):
    _check(_python(["-"], tmp_path, stdin=small_snippet()))


@pytest.mark.slow
def test_small_snippet_in_jupyter(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = tmp_path / "what_if.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(small_snippet())])
    nbformat.write(nb, notebook)
    runner = (
        "import sys, nbformat, nbclient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        f"nbclient.NotebookClient(nb, timeout={TIMEOUT_S}, kernel_name='python3').execute()\n"
        "print(''.join(o.get('text', '') for o in nb.cells[0].outputs))\n"
    )
    _check(_python(["-c", runner, str(notebook)], tmp_path))


@pytest.mark.slow
def test_readme_snippet_exactly_as_written(tmp_path):
    """The README's text unchanged (default preset: a handbook-scale bank, two workers where
    there are two CPUs), saved as a script without a ``__main__`` guard."""
    script = tmp_path / "readme.py"
    script.write_text(readme_snippet())
    _check(_python([str(script)], tmp_path), pools=False)
