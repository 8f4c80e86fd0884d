"""The size of a run, estimated from its scenario before anything is generated.

Every field of the scenario has a safe range on its own, but some combinations exhaust the
machine's memory (a 10⁶-customer bank, ``rate_per_s: 1e6`` over a day, ``monitoring_interval_s:
1e-4`` over a long run). :func:`estimate` turns a scenario into expected row counts and bytes
with a few measured constants; :func:`check_fits`, called first thing by ``sim.system.build``,
refuses a run that would not fit in the available memory with one line naming the fields.

Calibration (this machine, CPython 3.11, measured with ``resource.getrusage`` /
``/usr/bin/time -v`` and ``tracemalloc``; see the constants):

- bank generation peaks at ~917 bytes per generated row (``generate_transactions``, one worker,
  20,000 customers × 20 days = 773,633 rows: 220 → 897 MB);
- a full-system replay costs ~700 bytes per live transaction beyond the bank (a 200,592-tx run
  peaks at 704 MB, the benchmark's 1,005,085-tx run at 1,631 MB);
- a monitoring row costs ~116 bytes in the sampler's list and ~200 bytes at the peak of
  building the metrics frame;
- the handbook bank has 1.92 transactions per customer-day (1,754,155 in 5,000 × 183; the
  profiles' ``mean_nb_tx_per_day`` is uniform on [0, 4), minus the days drawn negative).

The estimate errs high (each constant is rounded up). Not estimated: a ``transactions_path``
table (its rows are not known before reading it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.scenario import Scenario
from sim.topology import PIPELINE
from sim.workload import SECONDS_PER_DAY, bank_days_needed
from tinybots.errors import InputError

__all__ = ["RunSize", "available_memory_bytes", "check_fits", "estimate"]

TX_PER_CUSTOMER_DAY = 1.92
"""Handbook bank: transactions per customer per day (1,754,155 / (5,000 × 183) = 1.917)."""
BANK_BYTES_PER_ROW = 950
"""Peak bytes per generated bank row (measured 917)."""
LIVE_BYTES_PER_TX = 1000
"""Bytes per live transaction of a full-system run beyond the bank (measured ~700)."""
MONITOR_BYTES_PER_ROW = 250
"""Bytes per monitoring row at the peak of assembling the metrics frame (measured ~200)."""
BASE_BYTES = 300 * 2**20
"""Interpreter, NumPy, pandas, scikit-learn, SimPy (measured 220 MB)."""


@dataclass(frozen=True)
class RunSize:
    """Expected size of one run (rows and bytes; see the module docstring for the constants).

    Attributes
    ----------
    bank_rows : int
        Transactions of the generated bank (0 for a file or synthetic content).
    live_transactions : int
        Transactions expected to arrive in the live window.
    monitoring_rows : int
        Rows of the metrics frame: samples × series.
    bank_bytes, live_bytes, monitoring_bytes, total_bytes : int
        Estimated peak memory of each part and in all (with :data:`BASE_BYTES`), bytes.
    """

    bank_rows: int
    live_transactions: int
    monitoring_rows: int
    bank_bytes: int
    live_bytes: int
    monitoring_bytes: int
    total_bytes: int


def _series(scenario: Scenario) -> int:
    """Monitoring series sampled each interval (``sim.record.monitor.Monitor.sample``).

    ``k`` consumer stages after the ingestor give ``k`` pipeline groups, the label feed's (when
    ``k`` >= 1) and the monitoring-service's (with the alert-service); one deployment per group
    plus the ingress. Rows: a lag per group, 2 queue depths, 4 per deployment (ready, wanted and
    Pending pods, utilisation), 3 per node pool, 4 latency rows, 6 counters, and 2 of the
    monitoring-service when it runs.
    """
    k = [row.deployment for row in PIPELINE].index(scenario.last_stage)
    watched = k == len(PIPELINE) - 1
    groups = k + (k >= 1) + watched
    deployments = groups + 1
    return (groups + 2 + 4 * deployments + 3 * len(scenario.cluster.node_pools) + 4 + 6
            + 2 * watched)


def _burst_factor(scenario: Scenario) -> float:
    """The mean arrival-rate multiplier of the workload's bursts over the run (1 without)."""
    w = scenario.workload
    if not w.bursts:
        return 1.0
    from sim.bursts import rate_multiplier

    grid = np.linspace(0.0, w.live_duration_s / w.speedup, 4097)
    return float(np.mean(rate_multiplier(w.bursts, grid)))


def _duration_s(scenario: Scenario) -> float:
    """Processing seconds the run is expected to last: the live window played, at most the cap."""
    w = scenario.workload
    return min(scenario.max_duration_s, w.live_duration_s / w.speedup)


def estimate(scenario: Scenario) -> RunSize:
    """Estimate the rows and peak memory of a run of ``scenario`` (pure arithmetic, no I/O).

    >>> from sim.scenario import Scenario
    >>> estimate(Scenario()).bank_rows  # 5,000 customers × 53 days × 1.92
    508800
    """
    w = scenario.workload
    synthetic = w.kind == "poisson" and w.content == "synthetic"
    bank_rows = 0
    if w.transactions_path is None and not synthetic:
        bank_rows = math.ceil(w.bank.n_customers * bank_days_needed(w) * TX_PER_CUSTOMER_DAY)
    if w.kind == "poisson":
        live = w.rate_per_s * w.live_duration_s / w.speedup
    elif w.transactions_path is None:
        live = w.bank.n_customers * TX_PER_CUSTOMER_DAY * w.live_duration_s / SECONDS_PER_DAY
    else:
        live = 0.0
    live *= _burst_factor(scenario)
    monitoring = _series(scenario) * _duration_s(scenario) / scenario.monitoring_interval_s
    bank_b = bank_rows * BANK_BYTES_PER_ROW
    live_b = live * LIVE_BYTES_PER_TX
    mon_b = monitoring * MONITOR_BYTES_PER_ROW
    return RunSize(
        bank_rows=bank_rows,
        live_transactions=math.ceil(live),
        monitoring_rows=math.ceil(monitoring),
        bank_bytes=int(bank_b),
        live_bytes=int(live_b),
        monitoring_bytes=int(mon_b),
        total_bytes=int(BASE_BYTES + bank_b + live_b + mon_b),
    )


def available_memory_bytes() -> int:
    """Memory this process may still use: ``MemAvailable`` (Linux) within a cgroup v2 limit.

    Falls back to the physical memory (``os.sysconf``) where ``/proc/meminfo`` is missing.
    """
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return 2**62  # unknown: do not refuse
    try:
        cg = Path("/sys/fs/cgroup")
        limit = (cg / "memory.max").read_text().strip()
        if limit != "max":
            avail = min(avail, int(limit) - int((cg / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return avail


def _gb(n: float) -> str:
    return f"{n / 2**30:,.1f} GB" if n >= 2**30 else f"{n / 2**20:,.0f} MB"


def check_fits(scenario: Scenario, available_bytes: int | None = None) -> RunSize:
    """Return :func:`estimate` of ``scenario``, or refuse a run that would not fit in memory.

    Parameters
    ----------
    scenario : Scenario
        The run to check.
    available_bytes : int, optional
        Memory allowed; default :func:`available_memory_bytes`.

    Raises
    ------
    InputError
        The estimated peak exceeds ``available_bytes``. One line naming, largest first, the
        fields behind each part of the estimate and its rows and bytes.
    """
    size = estimate(scenario)
    avail = available_memory_bytes() if available_bytes is None else available_bytes
    if size.total_bytes <= avail:
        return size
    w = scenario.workload
    live_fields = (
        "workload.rate_per_s × workload.live_duration_s / workload.speedup"
        if w.kind == "poisson" else "workload.bank.n_customers × workload.live_duration_s"
    )
    parts = [
        (size.bank_bytes, f"workload.bank.n_customers × bank days ({w.bank.n_customers:,} × "
                          f"{bank_days_needed(w)}): about {size.bank_rows:,} bank transactions"),
        (size.live_bytes, f"{live_fields}: about {size.live_transactions:,} live transactions"),
        (size.monitoring_bytes,
         f"monitoring_interval_s ({scenario.monitoring_interval_s:g} s over "
         f"{_duration_s(scenario):,.0f} s, {_series(scenario)} series): about "
         f"{size.monitoring_rows:,} monitoring rows"),
    ]
    ranked = sorted(parts, reverse=True)
    shown = [f"{t} (~{_gb(b)})" for b, t in ranked if b >= 0.05 * avail] or [ranked[0][1]]
    raise InputError(
        f"{'; '.join(shown)}: about {_gb(size.total_bytes)} in all would not fit in the "
        f"{_gb(avail)} of memory available; reduce these fields"
    )
