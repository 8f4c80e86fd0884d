"""``tinybots run``: simulate a scenario and write its results folder.

``tinybots run [--scenario FILE | --preset NAME] [--transactions FILE] [--speedup X]
[--out DIR] [--seed N] [--no-progress]``. Without arguments it runs the ``default`` preset (the
handbook-scale bank replaying the live day's busiest hours). It shows a progress bar over
simulated time on stderr, prints a summary table, and writes into ``DIR`` the frames (Parquet),
``scenario.yaml``, ``summary.json`` and ``dashboard.png`` (also ``scaling.png`` when the run
scales and ``blast_radius.png`` when it has faults and SLOs, see :func:`write_run`).
Everything is written into a temporary sibling folder and renamed at the end, so bad input
(exit 2), a failure or an interruption leaves the output folder untouched (see
``sim.record.outfolder``); files of yours in an earlier results folder are kept. The output
folder is checked before the run.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from sim.record.outfolder import foreign_entries
from sim.record.results import Results, check_results_folder
from sim.scenario import Scenario, load_preset, preset_names
from sim.topology import SERVICES

__all__ = ["add_subcommands", "check_out_folder", "default_out", "scenario_from_args", "write_run"]

_SHOWN = (
    ("generated", "{:d}"),
    ("completed", "{:d}"),
    ("in_flight", "{:d}"),
    ("shed", "{:d}"),
    ("dead_lettered", "{:d}"),
    ("lost", "{:d}"),
    ("lost_retention", "{:d}"),
    ("not_arrived", "{:d}"),
    ("duplicates", "{:d}"),
    ("redelivered", "{:d}"),
    ("labels_lost", "{:d}"),
    ("throughput_per_s", "{:.2f}"),
    ("latency_p50_s", "{:.3f}"),
    ("latency_p95_s", "{:.3f}"),
    ("latency_p99_s", "{:.3f}"),
    ("max_lag", "{:.0f}"),
    ("max_label_lag", "{:.0f}"),
    ("rebalances", "{:d}"),
    ("rebalance_paused_records", "{:d}"),
    ("scaling_changes", "{:d}"),
    ("pod_seconds", "{:.0f}"),
    ("max_pods_pending", "{:d}"),
    ("nodes_added", "{:d}"),
    ("faults", "{:d}"),
    ("retries", "{:d}"),
    ("dependency_retries", "{:d}"),
    ("degraded", "{:d}"),
    ("breaker_opens", "{:d}"),
    ("average_precision", "{:.3f}"),
    ("card_precision_at_100", "{:.3f}"),
    ("alerts", "{:d}"),
    ("alerted_frauds", "{:d}"),
    ("sim_time_s", "{:.1f}"),
    ("wall_s", "{:.1f}"),
)


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    """Add ``run`` to the ``tinybots`` sub-commands."""
    p = sub.add_parser(
        "run",
        help="simulate the fraud pipeline and write a results folder",
        description=(
            "Simulate the fraud pipeline on a scenario and write a results folder: the frames "
            "(Parquet), scenario.yaml, summary.json and dashboard.png (and scaling.png when an "
            "autoscaler acts, blast_radius.png when the scenario has faults and slos). "
            "Without arguments it runs "
            "the 'default' preset (a handbook-scale bank replaying the live day's busy hours). "
            "Bad input exits with code 2 and writes nothing."
        ),
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--scenario", type=Path, help="scenario YAML file")
    src.add_argument(
        "--preset", help=f"bundled preset: {', '.join(preset_names())} (default: 'default')"
    )
    p.add_argument(
        "--transactions",
        type=Path,
        help="replay this transaction table (raw handbook layout) instead of a bank",
    )
    p.add_argument(
        "--speedup", type=float, help="replay speed-up over event time (default: the scenario's)"
    )
    p.add_argument("--seed", type=int, help="root random seed (default: the scenario's)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results folder (default: runs/<scenario name>, e.g. runs/default); existing "
        "results there are replaced",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=_run)


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The effective scenario: file or preset, then the command-line overrides (validated)."""
    if args.scenario is not None and not args.scenario.is_file():
        what = "is a folder" if args.scenario.is_dir() else "no such file"
        raise FileNotFoundError(f"--scenario: {what}: {args.scenario}")
    sc = (
        Scenario.from_yaml(args.scenario)
        if args.scenario
        else load_preset(args.preset or "default")
    )
    data = sc.model_dump()
    if args.transactions is not None:
        from tinybots.io import check_table_path

        path = check_table_path(args.transactions)
        if not path.is_file():
            raise FileNotFoundError(f"--transactions: no such file: {path}")
        data["workload"]["transactions_path"] = str(path.resolve())
    if args.speedup is not None:
        data["workload"]["speedup"] = args.speedup
    if args.seed is not None:
        data["seed"] = args.seed
    return Scenario.model_validate(data)


def write_run(results: Results, out: Path) -> Path:
    """Write frames, scenario, summary and dashboard into ``out`` atomically (temp + rename);
    also ``scaling.png`` (``sim.analysis.dashboard_cluster.plot_scaling``: replicas, each
    autoscaler's metric against its target, the node pools, the lag) when the scenario has an
    autoscaler, node pools or bursts; and ``blast_radius.png``
    (``sim.analysis.isolation.plot_blast_radius``: seconds each service's SLO was broken, per
    fault) when the run had faults and the scenario sets SLOs."""
    from sim.analysis.dashboard import plot_dashboard
    from sim.analysis.dashboard_cluster import plot_scaling

    sc = results.scenario
    scaling = bool(sc.cluster.node_pools or sc.workload.bursts or any(
        getattr(sc.deployments, row.deployment).autoscaling is not None for row in SERVICES))
    blast = bool(len(results.faults)) and any(
        getattr(sc.slos, name) is not None for name in type(sc.slos).model_fields)

    def dashboard(res: Results, folder: Path) -> None:
        plot_dashboard(res, folder / "dashboard.png")
        if scaling:
            plot_scaling(res, folder / "scaling.png")
        if blast:
            from sim.analysis.isolation import plot_blast_radius

            plot_blast_radius(res, folder / "blast_radius.png")

    return results.save(out, extras=dashboard, field="--out")


def default_out(name: str) -> Path:
    """``runs/<name>``, the name reduced to a safe folder name (letters, digits, ``_.-``).

    >>> default_out("default"), default_out("../my what-if")
    (PosixPath('runs/default'), PosixPath('runs/my_what-if'))
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "custom"
    return Path("runs") / safe


def check_out_folder(out: Path) -> Path:
    """``out`` resolved, if ``tinybots run`` may write its results folder there."""
    return check_results_folder(out, field="--out")


def _warn_if_cut_short(results: Results) -> None:
    """One warning line on stderr when the cap ``max_duration_s`` cut the run short."""
    s = results.summary_dict()
    if s["cut_short"]:
        print(
            f"tinybots run: warning: max_duration_s ({results.scenario.max_duration_s:g} s) cut "
            f"the run short: {s['not_arrived']} transactions never arrived, {s['in_flight']} "
            "were still in flight",
            file=sys.stderr,
        )


def _run(args: argparse.Namespace) -> int:
    from sim.system import run

    scenario = scenario_from_args(args)
    out = args.out if args.out is not None else default_out(scenario.name)
    check_out_folder(out)  # before the run, not after it
    print(f"tinybots run: scenario {scenario.name!r}, seed {scenario.seed}", file=sys.stderr)
    if out.is_dir() and any(out.iterdir()):
        kept = foreign_entries(out)
        also = f" (your files are kept: {', '.join(kept)})" if kept else ""
        print(f"tinybots run: the results in {out}/ will be replaced{also}", file=sys.stderr)
    results = run(scenario, progress=not args.no_progress)
    _warn_if_cut_short(results)
    write_run(results, out)
    summary = results.summary_dict()
    width = max(len(k) for k, _ in _SHOWN)
    print(f"{'metric':<{width}}  value")
    for key, fmt in _SHOWN:
        v = summary[key]
        text = fmt.format(int(v)) if fmt == "{:d}" else fmt.format(float(v))
        print(f"{key:<{width}}  {text}")
    pictures = ", ".join(p for p in ("dashboard.png", "scaling.png", "blast_radius.png")
                         if (out / p).is_file())
    print(f"results written to {out}/ (summary.json, {pictures}, frames, scenario.yaml)")
    sys.stdout.flush()
    return 0
