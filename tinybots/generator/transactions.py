"""The whole transaction table of a handbook run, optionally over several processes.

Steps (Le Borgne et al., 2022, Chapter 3, "Transaction data simulator"): draw profiles,
find each customer's reachable terminals, run every customer's stream (independent, seeded by
the customer id, so customer chunks run in worker processes), concatenate by customer, sort by
time exactly as pandas' default ``sort_values('TX_DATETIME')`` does (TRANSACTION_ID = position
after that sort), then add the frauds.

About the sort: pandas sorts a datetime column with numpy's ``argsort(kind="quicksort")``, the
classic introsort (median of 3, insertion sort below 16 items), which is not stable. Same-second
ties between customers are common, so the tie order matters (it decides TRANSACTION_ID and which
rows scenario 3 picks). Numpy >= 2 sends 64-bit integer argsorts to SIMD sorts on AVX2/AVX-512
machines, which break ties differently, but datetime64 argsorts always take the classic path:
:func:`handbook_order` therefore sorts a datetime64 view (checked against a pure-Python introsort
in tests/test_generator.py).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from multiprocessing.pool import IMapIterator

import numpy as np
import pandas as pd

from tinybots.errors import InputError
from tinybots.generator.config import HandbookConfig
from tinybots.generator.customer_draws import ChunkArgs, generate_chunk
from tinybots.generator.frauds import add_frauds
from tinybots.generator.pool import worker_pool
from tinybots.generator.profiles import (
    generate_customer_profiles,
    generate_terminal_profiles,
    reachable_terminals,
)
from tinybots.schema import RAW_COLUMNS

CUSTOMER_SEED = 0
"""Seed of the customer profiles in the published run."""
TERMINAL_SEED = 1
"""Seed of the terminal profiles in the published run."""
_CHUNKS_PER_JOB = 4
MIN_TX_PER_JOB = 250_000
"""Expected transactions per worker below which fewer processes are used (start-up costs
about as much as generating this many transactions)."""
_POLL_S = 0.2
"""Seconds the parent waits for a worker's result before it looks for signals again."""


def handbook_order(seconds: np.ndarray) -> np.ndarray:
    """Permutation that pandas' default (unstable) sort by TX_DATETIME gives, on any CPU.

    Parameters
    ----------
    seconds : numpy.ndarray of int, shape (n,)
        TX_TIME_SECONDS of the customer-ordered concatenation.

    Returns
    -------
    numpy.ndarray of intp, shape (n,)
        Row i of the sorted table is row ``order[i]`` of the input.

    Examples
    --------
    >>> handbook_order(np.array([5, 3, 5, 1])).tolist()
    [3, 1, 0, 2]
    """
    return np.argsort(np.asarray(seconds, dtype=np.int64).view("M8[s]"), kind="quicksort")


def resolve_jobs(n_jobs: int | None) -> int:
    """Number of worker processes: ``os.cpu_count()`` when None; must be >= 1."""
    if n_jobs is None:
        return max(1, os.cpu_count() or 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise InputError(f"n_jobs must be None or an integer >= 1, got {n_jobs!r}")
    return n_jobs


def effective_jobs(n_jobs: int, customers: pd.DataFrame, nb_days: int) -> int:
    """Workers worth starting: at most ``n_jobs``, about one per ``MIN_TX_PER_JOB`` expected rows.

    Examples
    --------
    >>> effective_jobs(8, pd.DataFrame({"mean_nb_tx_per_day": [2.0] * 100}), 30)
    1
    """
    expected = float(customers["mean_nb_tx_per_day"].sum()) * nb_days
    return max(1, min(n_jobs, int(expected // MIN_TX_PER_JOB)))


def chunk_args(
    customers: pd.DataFrame, reach: Sequence[np.ndarray], nb_days: int, n_chunks: int, pick: bool
) -> list[ChunkArgs]:
    """Split the customers into ``n_chunks`` contiguous id ranges, as worker arguments."""
    bounds = np.linspace(0, len(customers), max(1, n_chunks) + 1).round().astype(int)
    cols = [customers[c].tolist() for c in ("CUSTOMER_ID", "mean_amount", "std_amount")]
    lams = customers["mean_nb_tx_per_day"].tolist()
    out: list[ChunkArgs] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b > a:
            terms = [r.tolist() for r in reach[a:b]]
            out.append((cols[0][a:b], cols[1][a:b], cols[2][a:b], lams[a:b], terms, nb_days, pick))
    return out


def run_chunks(
    args: list[ChunkArgs], n_jobs: int, progress: bool = False
) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield :func:`generate_chunk` results in chunk order, in worker processes if n_jobs > 1.

    Workers come from :func:`tinybots.generator.pool.worker_pool` ("forkserver" on Linux,
    "spawn" elsewhere): they never re-run ``__main__`` (so a plain script, ``python -`` and
    Jupyter all work) and ignore SIGINT. The parent waits in short slices
    (``_POLL_S``), so a Ctrl-C or SIGTERM handler interrupts it promptly; the pool is then
    terminated.
    """
    workers = min(n_jobs, len(args))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(args), desc="customer chunks", unit="chunk")
    try:
        if workers <= 1:
            for res in map(generate_chunk, args):
                if bar is not None:
                    bar.update(1)
                yield res
            return
        with worker_pool(workers) as pool:
            pending = pool.imap(generate_chunk, args)
            for _ in range(len(args)):
                res = _next_result(pending)
                if bar is not None:
                    bar.update(1)
                yield res
    finally:
        if bar is not None:
            bar.close()


def _next_result(pending: IMapIterator) -> tuple[np.ndarray, ...]:
    """The next result of an ``imap``, waiting in slices so that signals are handled."""
    while True:
        try:
            return pending.next(timeout=_POLL_S)
        except multiprocessing.TimeoutError:
            continue


def simulate_population(
    config: HandbookConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, list[np.ndarray]]:
    """Customer profiles, terminal profiles and reachable terminal lists of ``config``."""
    customers = generate_customer_profiles(config.n_customers, seed=CUSTOMER_SEED)
    terminals = generate_terminal_profiles(config.n_terminals, seed=TERMINAL_SEED)
    return customers, terminals, reachable_terminals(customers, terminals, config.radius)


def raw_frame(columns: dict[str, np.ndarray], start_date: object) -> pd.DataFrame:
    """A frame with :data:`tinybots.schema.RAW_COLUMNS` from arrays in TRANSACTION_ID order.

    ``columns`` holds TRANSACTION_ID, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_TIME_SECONDS,
    TX_TIME_DAYS, TX_FRAUD, TX_FRAUD_SCENARIO; TX_DATETIME (datetime64[ns], naive) is
    ``start_date`` midnight plus TX_TIME_SECONDS.
    """
    start = np.datetime64(start_date, "ns")
    secs = np.asarray(columns["TX_TIME_SECONDS"], dtype=np.int64)
    data = {"TX_DATETIME": start + secs.astype("m8[s]").astype("m8[ns]")}
    for name in RAW_COLUMNS:
        if name != "TX_DATETIME":
            dtype = np.float64 if name == "TX_AMOUNT" else np.int64
            data[name] = np.asarray(columns[name], dtype=dtype)
    return pd.DataFrame({name: data[name] for name in RAW_COLUMNS})


def generate_transactions(
    config: HandbookConfig | None = None, *, n_jobs: int | None = None, progress: bool = False
) -> pd.DataFrame:
    """Simulate the handbook's transaction table (with frauds), bit for bit.

    With the default config this equals the published raw dataset value for value
    (1,754,155 rows, 14,681 frauds; scenarios 973 / 9,077 / 4,631).

    Parameters
    ----------
    config : HandbookConfig, optional
        Sizes, calendar and radius; the published run when None.
    n_jobs : int, optional
        Most worker processes for the customer streams; ``os.cpu_count()`` when None. Small
        runs use fewer (see :func:`effective_jobs`). The result does not depend on it.
    progress : bool, default False
        Show a tqdm progress bar over customer chunks.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`tinybots.schema.RAW_COLUMNS`, rows in TRANSACTION_ID order
        (0 .. n-1). TX_DATETIME is datetime64[ns] (naive), TX_AMOUNT float64, the rest int64.
        TX_TIME_SECONDS counts seconds from ``config.start_date`` midnight.

    Raises
    ------
    tinybots.errors.InputError
        If n_jobs is not None or an integer >= 1.
    """
    config = HandbookConfig() if config is None else config
    customers, _, reach = simulate_population(config)
    jobs = effective_jobs(resolve_jobs(n_jobs), customers, config.nb_days)
    args = chunk_args(customers, reach, config.nb_days, jobs * _CHUNKS_PER_JOB, pick=True)
    parts = list(run_chunks(args, jobs, progress))
    secs, days, cust, term, amounts = (np.concatenate([p[i] for p in parts]) for i in range(5))
    order = handbook_order(secs)
    secs, days, cust, term, amounts = (a[order] for a in (secs, days, cust, term, amounts))
    amounts, fraud, scenario = add_frauds(
        cust, term, days, amounts, config.n_customers, config.n_terminals
    )
    return raw_frame(
        {
            "TRANSACTION_ID": np.arange(len(secs)),
            "CUSTOMER_ID": cust,
            "TERMINAL_ID": term,
            "TX_AMOUNT": amounts,
            "TX_TIME_SECONDS": secs,
            "TX_TIME_DAYS": days,
            "TX_FRAUD": fraud,
            "TX_FRAUD_SCENARIO": scenario,
        },
        config.start_date,
    )
