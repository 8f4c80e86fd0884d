"""The handbook's transaction table, streamed one day at a time.

:func:`iter_days` yields the same rows and values as
:func:`tinybots.generator.generate_transactions`, day by day, without holding the whole table.

Two facts of the handbook make this less than trivial (Le Borgne et al., 2022, Chapter 3,
"Transaction data simulator"):

* TRANSACTION_ID is the position after an *unstable* sort of the whole customer-ordered table,
  so the order of same-second ties between customers is a property of the whole table, not of a
  day. A first pass therefore runs every customer's numpy stream once, keeping only the times
  (no terminal draws, no table), and sorts them as the handbook does to get every row's id. This
  pass costs about as much as the generation itself but holds only two integers per row.
* Scenario 3 picks rows of the 3 cards drawn on day d among their transactions on days
  [d, d + 14), so a day's final labels and amounts are known only 13 days later. The second
  pass advances all customer streams day by day, keeps a 14-day buffer, applies scenario 3 for
  day d once day d + 13 exists, and then yields day d. Scenarios 1 and 2 only look back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np
import pandas as pd

from tinybots.generator.config import HandbookConfig
from tinybots.generator.customer_draws import customer_days
from tinybots.generator.frauds import (
    S3_WINDOW_DAYS,
    apply_s1_s2,
    apply_s3,
    compromised_customers,
    s2_keys,
    s3_picks,
)
from tinybots.generator.transactions import (
    chunk_args,
    effective_jobs,
    handbook_order,
    raw_frame,
    resolve_jobs,
    run_chunks,
    simulate_population,
)

_FIELDS = ("TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_TIME_SECONDS")
_FIELDS_ALL = (*_FIELDS, "TX_TIME_DAYS", "TX_FRAUD", "TX_FRAUD_SCENARIO")


def _key_pass(
    config: HandbookConfig, customers: pd.DataFrame, reach: list[np.ndarray], jobs: int
) -> tuple[np.ndarray, list[int], int]:
    """First pass: TRANSACTION_ID of each concatenation row, first row of each customer, max day.

    Returns
    -------
    (ids, starts, max_day)
        ``ids[i]`` is the TRANSACTION_ID of row i of the customer-ordered concatenation;
        customer c's rows start at ``starts[c]``; ``max_day`` is the last day with a row (0 if
        none), which bounds the fraud-injection loops as in the handbook.
    """
    jobs = effective_jobs(jobs, customers, config.nb_days)
    args = chunk_args(customers, reach, config.nb_days, jobs * 4, pick=False)
    parts = list(run_chunks(args, jobs))
    secs, days, cust = (np.concatenate([p[i] for p in parts]) for i in range(3))
    ids = np.empty(len(secs), dtype=np.int64)
    ids[handbook_order(secs)] = np.arange(len(secs))
    counts = np.bincount(cust, minlength=config.n_customers)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
    return ids, starts, int(days.max()) if len(days) else 0


class _CustomerStreams:
    """All customers' streams advanced together, one day per :meth:`next_day` call."""

    def __init__(self, config: HandbookConfig, customers: pd.DataFrame, reach: list[np.ndarray]):
        cols = (customers[c].tolist() for c in ("mean_amount", "std_amount", "mean_nb_tx_per_day"))
        self._gens = [
            customer_days(cid, m, s, lam, r.tolist(), config.nb_days)
            for cid, m, s, lam, r in zip(range(config.n_customers), *cols, reach, strict=True)
        ]
        self._done = [0] * config.n_customers  # rows yielded so far, per customer

    def next_day(self, ids: np.ndarray, starts: list[int]) -> dict[str, np.ndarray]:
        """The next day's rows of every customer, sorted by TRANSACTION_ID (without labels).

        ``ids[starts[c] + k]`` is the TRANSACTION_ID of customer c's k-th row (from the key pass).
        """
        secs: list[int] = []
        cust: list[int] = []
        term: list[int] = []
        amounts: list[float] = []
        pos: list[int] = []
        for cid, gen in enumerate(self._gens):
            times, terms, amts = next(gen)
            if times:
                first = starts[cid] + self._done[cid]
                pos.extend(range(first, first + len(times)))
                self._done[cid] += len(times)
                secs.extend(times)
                cust.extend([cid] * len(times))
                term.extend(terms)
                amounts.extend(amts)
        tx_ids = ids[np.array(pos, dtype=np.int64)]
        order = np.argsort(tx_ids)
        cols = (tx_ids, cust, term, np.round(np.array(amounts, dtype=np.float64), 2), secs)
        return {name: np.asarray(col)[order] for name, col in zip(_FIELDS, cols, strict=True)}


def _apply_s3_on_buffer(buffer: deque[dict[str, np.ndarray]], day: int, n_customers: int) -> None:
    """Scenario 3 for ``day`` on the buffer, which holds days ``day`` .. ``day + 13`` at most.

    The buffered blocks are consecutive days in TRANSACTION_ID order, so their concatenation
    is in TRANSACTION_ID order too, as :func:`s3_picks` requires.
    """
    window = list(buffer)
    cust = np.concatenate([b["CUSTOMER_ID"] for b in window])
    days = np.concatenate([b["TX_TIME_DAYS"] for b in window])
    in_window = (days >= day) & (days < day + S3_WINDOW_DAYS)
    hit = np.isin(cust, compromised_customers(day, n_customers)) & in_window
    picked = s3_picks(day, np.flatnonzero(hit))
    bounds = np.cumsum([0] + [len(b["CUSTOMER_ID"]) for b in window])
    for block, lo, hi in zip(window, bounds[:-1], bounds[1:], strict=True):
        local = picked[(picked >= lo) & (picked < hi)] - lo
        apply_s3(block["TX_AMOUNT"], block["TX_FRAUD"], block["TX_FRAUD_SCENARIO"], local)


def iter_days(
    config: HandbookConfig | None = None, *, n_jobs: int | None = None, progress: bool = False
) -> Iterator[pd.DataFrame]:
    """Yield the handbook's transaction table one day at a time (day 0 first).

    Parameters
    ----------
    config : HandbookConfig, optional
        As for :func:`tinybots.generator.generate_transactions` (published run when None).
    n_jobs : int, optional
        Worker processes for the first (key) pass; ``os.cpu_count()`` when None.
    progress : bool, default False
        Show a tqdm progress bar over days.

    Yields
    ------
    pandas.DataFrame
        ``config.nb_days`` frames (possibly empty), columns :data:`tinybots.schema.RAW_COLUMNS`
        with the dtypes of ``generate_transactions``, rows in TRANSACTION_ID order. Their
        concatenation equals ``generate_transactions(config)``, TRANSACTION_ID included.

    Raises
    ------
    tinybots.errors.InputError
        If n_jobs is not None or an integer >= 1.
    """
    config = HandbookConfig() if config is None else config
    jobs = resolve_jobs(n_jobs)
    customers, _, reach = simulate_population(config)
    ids, starts, max_day = _key_pass(config, customers, reach, jobs)
    keys = s2_keys(max_day, config.n_terminals)
    streams = _CustomerStreams(config, customers, reach)
    buffer: deque[dict[str, np.ndarray]] = deque()
    days = range(config.nb_days)
    if progress:
        from tqdm.auto import tqdm

        days = tqdm(days, desc="days", unit="day")
    for day in days:
        block = streams.next_day(ids, starts)
        block["TX_TIME_DAYS"] = np.full(len(block["CUSTOMER_ID"]), day, dtype=np.int64)
        block["TX_FRAUD"], block["TX_FRAUD_SCENARIO"] = apply_s1_s2(
            block["TX_AMOUNT"], block["TERMINAL_ID"], block["TX_TIME_DAYS"], keys, max_day
        )
        buffer.append(block)
        if day >= S3_WINDOW_DAYS - 1:
            yield _finish_day(buffer, day - (S3_WINDOW_DAYS - 1), max_day, config)
    for first in range(max(0, config.nb_days - (S3_WINDOW_DAYS - 1)), config.nb_days):
        yield _finish_day(buffer, first, max_day, config)


def _finish_day(
    buffer: deque[dict[str, np.ndarray]], day: int, max_day: int, config: HandbookConfig
) -> pd.DataFrame:
    """Apply scenario 3 of ``day`` (if ``day < max_day``) and pop ``day`` as a frame."""
    if day < max_day:
        _apply_s3_on_buffer(buffer, day, config.n_customers)
    block = buffer.popleft()
    return raw_frame({name: block[name] for name in _FIELDS_ALL}, config.start_date)
