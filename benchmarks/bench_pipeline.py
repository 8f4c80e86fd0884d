"""Pipeline speed and memory: the full simulated system against a naive SimPy reference.

Prints, side by side in one run and on the same arrival stream, simulated transactions per
wall-clock second for

- the full default system (``load_preset("default")``: bus with Kafka semantics, pods, real
  features, the real scikit-learn model, monitoring), and
- the naive reference (``naive_pipeline.py``: four ``simpy.Store`` stages with the same pod
  counts and mean service times, one process per pod, one ``get`` per record, nothing else),

The full system is timed twice: with the fast paths ``sim.engine`` chooses (``auto``: the
ingestor and the label feed played from precomputed schedules) and with ``engine.fast_paths:
off`` (their event-driven models, the model of record). Then the peak memory of a
1,000,000-transaction run of the full system (``auto``), measured in a child process. It ends
with the lines ``full_off_vs_reference_ratio: Y`` and ``full_vs_reference_ratio: X`` (full tx/s ÷
reference tx/s, for ``off`` and ``auto``).

Timed: for the full system ``start(system)`` (which computes the ingestor's FCFS schedule and
the label feed: simulation work done without events) plus ``env.run``; for the reference
``env.run``. Data generation, model training, feature-store warm-up and assembling the result
frames are excluded for both. Each side is timed ``--repeat`` times and the best
(fastest) run is reported, the usual practice for wall-clock benchmarks on a shared machine.

Usage: ``python benchmarks/bench_pipeline.py [--quick] [--repeat N] [--memory-n N]``.
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from naive_pipeline import run_naive, stages_from_scenario  # noqa: E402

MEMORY_TARGET_MB = 2048.0
TX_PER_DAY = 9585.0  # handbook bank (5,000 customers): 1,754,155 transactions in 183 days


def time_full(preset: str, fast_paths: str = "auto") -> tuple[int, float, np.ndarray, float]:
    """Build the preset's system (untimed), then time ``start`` + ``env.run`` to the horizon.

    ``fast_paths`` is the scenario's ``engine.fast_paths`` (``auto`` or ``off``).

    Returns
    -------
    (n_tx, wall_run_s, arrival_s, sim_end_s)
        Transactions generated, wall seconds of ``env.run``, the arrival times (shape (n,),
        seconds) and the simulated time at the end.
    """
    from sim import build, load_preset, with_changes
    from sim.system import start

    scenario = with_changes(load_preset(preset), "engine.fast_paths", fast_paths)
    system = build(scenario)
    t0 = time.perf_counter()
    done = start(system)
    stop = system.env.any_of([done, system.env.timeout(scenario.max_duration_s)])
    system.env.run(until=stop)
    wall = time.perf_counter() - t0
    counts = system.ledger.check_conservation()
    return counts["generated"], wall, np.asarray(system.table.arrival_s), float(system.env.now)


def memory_scenario(n_tx: int):
    """The default system replaying enough whole days of its bank for about ``n_tx`` transactions.

    Same bank, topics, deployments, model and speed-up as the default preset; the live window
    starts at midnight of the default live day and lasts ``ceil(n_tx / TX_PER_DAY)`` days (the
    bank is generated long enough). The generated count is printed by the child.
    """
    from sim import Scenario, load_preset

    base = load_preset("default")
    days = math.ceil(n_tx / TX_PER_DAY)
    data = base.model_dump()
    data["name"] = "default_memory"
    data["workload"].update(live_start_hour=0.0, live_duration_s=days * 86400.0)
    data["max_duration_s"] = 2.0 * days * 86400.0 / base.workload.speedup + 3600.0
    data["monitoring_interval_s"] = 60.0
    return Scenario.model_validate(data)


def memory_child(n_tx: int) -> None:
    """Child-process body: one full run (build, run, Results) of ``n_tx`` transactions."""
    from sim import build, run

    system = build(memory_scenario(n_tx))
    t0 = time.perf_counter()
    res = run(system, progress=False)
    wall = time.perf_counter() - t0
    s = res.summary_dict()
    print(f"child: generated={s['generated']} completed={s['completed']} "
          f"sim_time_s={s['sim_time_s']:.0f} run_and_assemble_wall_s={wall:.1f}", flush=True)


def measure_memory(n_tx: int) -> float:
    """Peak resident set (MB) of a child process running :func:`memory_child`.

    ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after the child exits: the largest
    resident set of any waited-for descendant (KiB on Linux).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, __file__, "--memory-child", str(n_tx)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{out.stderr[-3000:]}")
    print("  " + out.stdout.strip().replace("\n", "\n  "))
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if after <= before:
        print("  (warning: an earlier child had a larger peak; figure is an upper bound)")
    return after / 1024.0


def _best(walls: Sequence[float]) -> float:
    return float(min(walls))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the report (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one repetition, 50,000-tx memory run")
    p.add_argument("--repeat", type=int, default=None, help="timed repetitions per side (5)")
    p.add_argument("--memory-n", type=int, default=None, help="transactions of the memory run")
    p.add_argument("--preset", default="default")
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.memory_child is not None:
        memory_child(a.memory_child)
        return
    repeat = a.repeat or (1 if a.quick else 5)
    mem_n = a.memory_n or (50_000 if a.quick else 1_000_000)
    from sim import load_preset

    stages = stages_from_scenario(load_preset(a.preset))
    print(f"bench_pipeline: preset {a.preset!r}, best of {repeat}; timed = start + env.run "
          "(full) and env.run (reference); data generation, training, warm-up and frame "
          "assembly excluded")
    full_walls, off_walls, naive_walls = [], [], []
    for i in range(repeat):
        n_tx, wall, arrivals, sim_end = time_full(a.preset)
        full_walls.append(wall)
        n_off, wall_off, _, _ = time_full(a.preset, "off")
        assert n_off == n_tx
        off_walls.append(wall_off)
        naive = run_naive(arrivals, stages, seed=i)
        assert naive.n_completed == n_tx == len(arrivals)
        naive_walls.append(naive.wall_run_s)
    full_rate, naive_rate = n_tx / _best(full_walls), n_tx / _best(naive_walls)
    off_rate = n_tx / _best(off_walls)
    print(f"same arrival stream: {n_tx} transactions over {arrivals[-1]:.1f} s of simulated time")
    print("naive stages (pods, mean s/record): "
          + ", ".join(f"{s.name}=({s.pods}, {s.mean_service_s:.4g})" for s in stages))
    print(f"{'':18}{'timed wall_s':>16}{'tx_per_wall_s':>16}{'sim_end_s':>12}")
    print(f"{'full_system':18}{_best(full_walls):16.3f}{full_rate:16,.0f}{sim_end:12.1f}")
    print(f"{'full_system_off':18}{_best(off_walls):16.3f}{off_rate:16,.0f}{sim_end:12.1f}")
    print(f"{'naive_reference':18}{_best(naive_walls):16.3f}{naive_rate:16,.0f}"
          f"{naive.sim_end_s:12.1f}")
    print(f"peak memory of a ~{mem_n:,}-transaction full-system run (child process; "
          "ru_maxrss via RUSAGE_CHILDREN; includes build, run and Results assembly):")
    peak_mb = measure_memory(mem_n)
    verdict = "within" if peak_mb <= MEMORY_TARGET_MB else "OVER"
    print(f"peak_memory_mb: {peak_mb:,.0f} ({verdict} the {MEMORY_TARGET_MB:,.0f} MB target)")
    print("(full tx/s ÷ reference tx/s: above 1 the full system, features and model included, "
          "simulates faster than the naive reference; target >= 1 for auto)")
    print(f"full_off_vs_reference_ratio: {off_rate / naive_rate:.2f}  (engine.fast_paths: off)")
    print(f"full_vs_reference_ratio: {full_rate / naive_rate:.2f}  (engine.fast_paths: auto)")


if __name__ == "__main__":
    main()
