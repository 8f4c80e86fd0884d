"""Results folders and output files: nothing lost, nothing left behind, refused before the run.

Issue 7, items 1-4 and ``tinybots --version``. We run as root in CI-like containers, where
``chmod`` does not stop anything: failures of a rename or a delete are simulated by patching
``os.replace`` / ``os.rename`` / ``shutil.rmtree``; what really fails as root is used where it
exists (``/proc``, a path under a file, an immutable folder via ``chattr +i``, skipped where
the file system has no such flag). Interruptions are real signals sent to real processes.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim import load_preset, run, with_changes
from sim.cli import main
from sim.record.results import Results, check_results_folder
from tinybots.errors import InputError

TINYBOTS = str(Path(sys.executable).with_name("tinybots"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "cache"


@pytest.fixture(autouse=True)
def _cache(cache, monkeypatch):
    monkeypatch.setenv("TINYBOTS_CACHE", str(cache))


@pytest.fixture(scope="module")
def results(cache) -> Results:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYBOTS_CACHE", str(cache))
        return run(load_preset("small"), progress=False)


def _older(results: Results) -> Results:
    """The same run with a different summary, to tell old results from new ones."""
    return dataclasses.replace(results, summary=results.summary.assign(generated=-1))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _generated(folder: Path) -> int:
    return int(Results.load(folder).summary["generated"].iloc[0])


# -- item 1: replacing is safe at every moment ------------------------------------------------


def test_delete_failing_midway_never_loses_both(results, tmp_path, monkeypatch):
    out = _older(results).save(tmp_path / "out")
    real = shutil.rmtree

    def breaks_after_one_file(path, *args, **kwargs):  # a read-only subfolder, half-way
        p = Path(path)
        if p == out or "-old-" in p.name:
            next(f for f in p.rglob("*.parquet")).unlink()
            raise PermissionError(13, "Permission denied", str(p / "ro"))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", breaks_after_one_file)
    with pytest.warns(RuntimeWarning, match="could not be removed"):
        results.save(out)
    assert _generated(out) == results.summary_dict()["generated"]  # the new results, complete
    assert not [n for n in _hidden(tmp_path) if "-old-" not in n]  # no staging folder left


@pytest.mark.parametrize("error", [OSError(18, "Invalid cross-device link"), KeyboardInterrupt()])
def test_rename_into_place_failing_keeps_the_old_results(results, tmp_path, monkeypatch, error):
    out = _older(results).save(tmp_path / "out")
    before = _snapshot(out)
    real = os.replace

    def fails_onto_target(src, dst, *args, **kwargs):
        if Path(dst) == out:
            raise error
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", fails_onto_target)
    with pytest.raises(type(error)):
        results.save(out)
    assert _snapshot(out) == before
    assert _hidden(tmp_path) == []


def test_rename_aside_failing_keeps_the_old_results(results, tmp_path, monkeypatch):
    out = _older(results).save(tmp_path / "out")
    before = _snapshot(out)
    real = os.rename

    def fails_on_target(src, dst, *args, **kwargs):
        if Path(src) == out:
            raise OSError(16, "Device or resource busy", str(src))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", fails_on_target)
    with pytest.raises(OSError, match="busy"):
        results.save(out)
    assert _snapshot(out) == before
    assert _hidden(tmp_path) == []


def test_read_only_subfolder(results, tmp_path):
    """As root chmod stops nothing: the replacement works and the folder is kept; as another
    user the run is refused before it starts (the folder could not be emptied)."""
    out = _older(results).save(tmp_path / "out")
    ro = out / "ro"
    ro.mkdir()
    (ro / "keep.txt").write_text("mine")
    ro.chmod(0o555)
    try:
        if os.geteuid() != 0:
            with pytest.raises(InputError, match="ro cannot be emptied"):
                results.save(out)
            assert _generated(out) == -1
        else:
            results.save(out)
            assert _generated(out) == results.summary_dict()["generated"]
            assert (out / "ro" / "keep.txt").read_text() == "mine"
        assert _hidden(tmp_path) == []
    finally:
        for p in (out / "ro", *tmp_path.glob(".out-old-*/ro")):
            p.chmod(0o755)


@pytest.fixture
def immutable(tmp_path):
    """Make a folder immutable (chattr +i: even root cannot delete in it); undone after."""
    made: list[Path] = []

    def make(folder: Path) -> Path:
        if shutil.which("chattr") is None:
            pytest.skip("no chattr")
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i unsupported here: {done.stderr.decode().strip()}")
        made.append(folder)
        return folder

    yield make
    for folder in made:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


def test_immutable_subfolder_refused_before_the_run(results, tmp_path, monkeypatch, capsys,
                                                    immutable):
    out = _older(results).save(tmp_path / "out")
    (out / "ro").mkdir()
    (out / "ro" / "keep.txt").write_text("mine")
    immutable(out / "ro")
    before = _snapshot(out)
    monkeypatch.setattr("sim.system.run", _must_not_run)
    assert main(["run", "--preset", "small", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "cannot be emptied" in err[-1] and str(out / "ro") in err[-1]
    assert _snapshot(out) == before and _hidden(tmp_path) == []


def _must_not_run(*args, **kwargs):
    raise AssertionError("the simulation ran although the output could not be written")


# -- item 2: files the project did not write are kept -----------------------------------------


def test_rerun_keeps_the_users_files(results, tmp_path, monkeypatch, capsys):
    out = _older(results).save(tmp_path / "out")
    (out / "my_analysis.ipynb").write_text('{"cells": []}')
    (out / "notes").mkdir()
    (out / "notes" / "todo.md").write_text("- look at noon")
    monkeypatch.setattr("sim.system.run", lambda scenario, progress: results)
    assert main(["run", "--preset", "small", "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "will be replaced (your files are kept: my_analysis.ipynb, notes)" in err
    assert _generated(out) == results.summary_dict()["generated"]
    assert (out / "my_analysis.ipynb").read_text() == '{"cells": []}'
    assert (out / "notes" / "todo.md").read_text() == "- look at noon"
    assert (out / "dashboard.png").is_file() and _hidden(tmp_path) == []


def test_stale_own_files_are_not_carried(results, tmp_path):
    out = _older(results).save(tmp_path / "out")
    (out / "dashboard.png").write_bytes(b"old dashboard")  # ours: a rerun without one drops it
    results.save(out)
    assert not (out / "dashboard.png").exists()


def test_manifest_names_every_file_a_run_writes(results, tmp_path, monkeypatch):
    from sim.record.outfolder import OWN_FILES

    monkeypatch.setattr("sim.system.run", lambda scenario, progress: results)
    assert main(["run", "--preset", "small", "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    written = {p.name for p in (tmp_path / "o").iterdir()}
    assert written == OWN_FILES - {"scaling.png", "blast_radius.png"}


def test_a_run_that_scales_also_writes_its_scaling_picture(tmp_path):
    """``scaling.png`` is written when the scenario has an autoscaler (or node pools, or
    bursts), and is then one of the run's own files: a later run replaces it."""
    from sim.record.outfolder import OWN_FILES

    scenario = tmp_path / "hpa.yaml"
    sc = with_changes(load_preset("small"), "deployments.feature_enricher.autoscaling",
                      {"kind": "hpa", "max_replicas": 3})
    sc.to_yaml(scenario)
    out = tmp_path / "o"
    assert main(["run", "--scenario", str(scenario), "--out", str(out), "--no-progress"]) == 0
    assert {p.name for p in out.iterdir()} == OWN_FILES - {"blast_radius.png"}
    assert main(["run", "--preset", "small", "--out", str(out), "--no-progress"]) == 0
    assert "scaling.png" not in {p.name for p in out.iterdir()}  # not carried as the user's


# -- item 4: unwritable outputs are refused before the work -----------------------------------


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "somefile").write_text("x")
    return tmp_path / "somefile" / "out"


@pytest.mark.parametrize("where", ["/proc/x", "under a file"])
def test_unwritable_results_folder_refused_before_the_run(tmp_path, monkeypatch, capsys, where):
    out = Path(where) if where.startswith("/") else _under_a_file(tmp_path)
    with pytest.raises(InputError, match="--out"):
        check_results_folder(out, field="--out")
    monkeypatch.setattr("sim.system.run", _must_not_run)
    assert main(["run", "--preset", "small", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tinybots run: error: --out:")


_GENERATE = ["generate", "--customers", "40", "--terminals", "80", "--days", "3", "--n-jobs", "1"]


@pytest.mark.parametrize("where", ["/proc/x.csv", "under a file"])
def test_unwritable_generate_out_refused_before_generating(tmp_path, monkeypatch, capsys, where):
    out = Path(where) if where.startswith("/") else _under_a_file(tmp_path).with_suffix(".csv")
    monkeypatch.setattr("tinybots.generator.generate_transactions", _must_not_run)
    assert main([*_GENERATE, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().startswith("tinybots generate: error: --out:")


def test_generate_says_it_replaces_a_file(tmp_path, capsys):
    out = tmp_path / "t.csv"
    out.write_text("old")
    assert main([*_GENERATE, "--out", str(out)]) == 0
    assert f"{out} exists and will be replaced" in capsys.readouterr().err
    assert len(pd.read_csv(out)) > 0 and _hidden(tmp_path) == []


def test_generate_failing_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "t.csv"
    out.write_text("old")

    def half_then_fail(self, path, *args, **kwargs):
        Path(path).write_text("TRANSACTION_ID,half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    assert main([*_GENERATE, "--out", str(out)]) == 130
    assert out.read_text() == "old" and _hidden(tmp_path) == []


# -- item 3: interruptions exit 130 / 143 with one line and leave nothing ---------------------


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [TINYBOTS, *args], env={**os.environ, **env}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _session(sid: int) -> list[int]:
    """Pids of the live processes of session ``sid`` (the command and its workers)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _finish(proc: subprocess.Popen, timeout: float = 30.0) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"not interrupted within {timeout} s")
    deadline = time.monotonic() + 10
    while _session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session(proc.pid) == [], "worker processes left running"
    return proc.returncode, err


def _send(proc: subprocess.Popen, sig: signal.Signals) -> None:
    """Ctrl-C reaches the whole foreground process group; SIGTERM the command alone."""
    (os.killpg if sig == signal.SIGINT else os.kill)(proc.pid, sig)


_SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the bank is generated in one process")
@pytest.mark.parametrize(("sig", "code", "word"), _SIGNALS)
def test_signal_while_the_bank_is_generated(tmp_path, sig, code, word):
    cold = tmp_path / "cache"
    proc = _start(["run", "--out", str(tmp_path / "out"), "--no-progress"],
                  {"TINYBOTS_CACHE": str(cold)})
    deadline = time.monotonic() + 120
    while len(_session(proc.pid)) < 3:  # the command, the forkserver and its workers
        assert proc.poll() is None and time.monotonic() < deadline, "no worker pool seen"
        time.sleep(0.05)
    time.sleep(0.5)
    _send(proc, sig)
    started = time.monotonic()
    returncode, err = _finish(proc)
    assert time.monotonic() - started < 10
    assert returncode == code and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"tinybots run: {word}"
    assert not (tmp_path / "out").exists() and _hidden(tmp_path) == []
    assert not cold.exists() or list(cold.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code", "word"), _SIGNALS)
def test_signal_while_the_results_are_written(results, tmp_path, cache, sig, code, word):
    out = _older(results).save(tmp_path / "out")
    before = _snapshot(out)
    proc = _start(["run", "--preset", "small", "--out", str(out), "--no-progress"],
                  {"TINYBOTS_CACHE": str(cache)})
    while not [n for n in _hidden(tmp_path) if n.startswith(".out-")]:  # the staging folder
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.002)
    _send(proc, sig)
    returncode, err = _finish(proc)
    assert "Traceback" not in err
    assert _hidden(tmp_path) == []
    if returncode == 0:  # a loaded machine: the run had finished before the signal came
        assert _generated(out) == results.summary_dict()["generated"]
        return
    assert returncode == code
    assert err.strip().splitlines()[-1] == f"tinybots run: {word}"
    # the old results, or (if the signal came after the rename) the complete new ones
    assert _snapshot(out) == before or _generated(out) == results.summary_dict()["generated"]


@pytest.mark.parametrize("delay_s", [0.2, 0.6, 1.0])
def test_ctrl_c_in_the_first_second(tmp_path, delay_s):
    proc = _start(["run", "--preset", "small", "--out", str(tmp_path / "out"), "--no-progress"],
                  {})
    time.sleep(delay_s)
    _send(proc, signal.SIGINT)
    returncode, err = _finish(proc)
    assert returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].endswith("interrupted")


# -- item 17 (half): --version ----------------------------------------------------------------


def test_version():
    done = subprocess.run([TINYBOTS, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"tinybots {importlib.metadata.version('tinybots')}\n"


def test_interrupted_bank_cache_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    import pandas as pd

    from sim import workload

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    entry = tmp_path / "cache" / "bank-x.parquet"
    with pytest.raises(KeyboardInterrupt):
        workload._cache_bank(pd.DataFrame({"a": [1]}), entry)
    assert list(entry.parent.iterdir()) == []


# -- from the break-it trial --------------------------------------------------------------------


def test_sigterm_exception_survives_simpys_re_raise():
    # SimPy re-raises an exception escaping a callback as type(exc)(*exc.args)
    from sim.cli import Terminated

    exc = Terminated()
    again = type(exc)(*exc.args)
    assert isinstance(again, Terminated) and again.code == 143


def test_symlink_loop_out_is_a_one_line_error(tmp_path, capsys):
    from sim.cli import main

    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert main(["run", "--preset", "small", "--out", str(tmp_path / "a"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and err.count("\n") == 1


def test_poisson_workload_with_no_arrival_is_an_error():
    from sim import Scenario, run
    from tinybots.errors import InputError

    sc = Scenario.from_dict({
        "last_stage": "transaction_ingestor",
        "workload": {"kind": "poisson", "content": "synthetic", "rate_per_s": 1e-9,
                     "live_duration_s": 2000.0},
    })
    with pytest.raises(InputError, match="workload.rate_per_s"):
        run(sc, progress=False)


def test_huge_yaml_alias_input_gives_a_short_error(tmp_path):
    from sim.scenario import Scenario
    from tinybots.errors import describe_validation_error

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 8)]
    path = tmp_path / "s.yaml"
    path.write_text("bogus:\n" + "\n".join("  " + line for line in lines) + "\n")
    with pytest.raises(ValueError) as info:
        Scenario.from_yaml(path)
    assert len(describe_validation_error(info.value)) < 2000


def test_a_user_folder_under_a_results_name_is_never_replaced(tmp_path):
    from sim.record.results import check_results_folder
    from tinybots.errors import InputError

    out = tmp_path / "res"
    (out / "dashboard.png").mkdir(parents=True)
    (out / "dashboard.png" / "mine.txt").write_text("keep me")
    for name in ("scenario.yaml", "summary.json"):
        (out / name).write_text("{}")
    with pytest.raises(InputError, match="dashboard.png"):
        check_results_folder(out, field="--out")
    assert (out / "dashboard.png" / "mine.txt").read_text() == "keep me"
