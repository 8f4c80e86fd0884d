"""Online feature store: the serving-side half of the handbook's feature definition.

The feature-enricher service calls :meth:`FeatureStore.update` once per transaction (it
records the transaction and returns its model inputs) and the label feed calls
:meth:`FeatureStore.add_label` when a chargeback arrives. The values equal those of
:func:`tinybots.features.offline.compute_features` on the same stream (a test proves it):
customer windows (t - w, t] include the current transaction; terminal windows
(t - d - w, t - d] use only labelled transactions, and a label whose transaction is younger
than the delay d is held (stored, not counted) until t - d reaches its time.

Data layout, chosen for speed (no pandas and no datetime objects in ``update``): per key an
``array.array`` of event times (integer seconds, kept sorted) and one of prefix sums (amounts
for customers, fraud counts for terminals) one longer than the times, so a window is two
``bisect`` calls and one subtraction. Arrays rather than lists keep each key's entries
contiguous in memory (about 10 % faster than lists when the store is large). Entries older than
the longest window (plus the delay, plus ``max_lateness_s``) are evicted as the key is touched,
so memory follows the active windows.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tinybots.errors import InputError
from tinybots.features._checks import (
    NS_PER_S,
    S_PER_DAY,
    check_transactions,
    check_windows,
    event_time_ns,
)

_NIGHT_END_S = 7 * 3_600  # hour <= 6 is night (handbook data; Le Borgne et al. 2022, ch. 3)


def _insert(times: array, sums: array, t: int, value: float) -> None:
    """Insert (t, value) into a sorted time list and its prefix sums (late arrivals)."""
    if not times or t >= times[-1]:
        times.append(t)
        sums.append(sums[-1] + value)
        return
    pos = bisect_right(times, t)
    times.insert(pos, t)
    sums.insert(pos + 1, sums[pos])
    for k in range(pos + 1, len(sums)):
        sums[k] += value


def _evict(times: array, sums: array, cutoff: int) -> None:
    """Drop the entries with time <= cutoff (the prefix sums keep their offset)."""
    if times and times[0] <= cutoff:
        m = bisect_right(times, cutoff)
        del times[:m]
        del sums[:m]


class FeatureStore:
    """Per-customer and per-terminal windows over a transaction stream (event time).

    Parameters
    ----------
    delay_days
        Label delay d (days, >= 1); terminal windows are (t - d - w, t - d].
    windows_days
        Window lengths w (days, positive, distinct); default (1, 7, 30) as in the handbook.
    max_lateness_s
        How far (seconds) an event may arrive behind the newest one already seen for its key
        and still get exact windows; only affects eviction. Default one hour.

    Raises
    ------
    InputError
        Bad windows, delay or lateness (the message names the field).

    Notes
    -----
    Times are integer seconds since the Unix epoch, naive (no time zone), as
    ``TX_DATETIME``. Events may arrive out of order; late ones are inserted in place.
    """

    def __init__(
        self,
        *,
        delay_days: int = 7,
        windows_days: Sequence[int] = (1, 7, 30),
        max_lateness_s: int = 3_600,
    ) -> None:
        self.windows_days = check_windows(windows_days, delay_days)
        self.delay_days = int(delay_days)
        lateness = max_lateness_s
        if isinstance(lateness, bool) or not isinstance(lateness, int) or lateness < 0:
            raise InputError(f"max_lateness_s must be an integer >= 0, got {max_lateness_s!r}")
        self._windows_s = tuple(w * S_PER_DAY for w in self.windows_days)
        self._delay_s = self.delay_days * S_PER_DAY
        self._keep_customer_s = max(self._windows_s) + max_lateness_s
        self._keep_terminal_s = self._delay_s + self._keep_customer_s
        self._no_terminal = [0.0] * (2 * len(self._windows_s))
        # key -> (event times 'q', prefix sums: amounts 'd' / fraud counts 'q')
        self._customers: dict[int, tuple[array, array]] = {}
        self._terminals: dict[int, tuple[array, array]] = {}

    @property
    def n_features(self) -> int:
        """Length of the vector :meth:`update` returns: 3 + 4 per window (15 by default)."""
        return 3 + 4 * len(self.windows_days)

    def retained(self) -> dict[str, int]:
        """Entries held in memory: ``{"customer": n, "terminal": n}`` (terminal = labels)."""
        return {
            "customer": sum(len(times) for times, _ in self._customers.values()),
            "terminal": sum(len(times) for times, _ in self._terminals.values()),
        }

    def update(
        self, customer_id: int, terminal_id: int, event_time_s: int, amount: float
    ) -> list[float]:
        """Record one transaction and return its model inputs.

        Parameters
        ----------
        customer_id, terminal_id
            Keys of the card and the terminal.
        event_time_s
            TX_DATETIME as integer seconds since the Unix epoch (naive).
        amount
            TX_AMOUNT.

        Returns
        -------
        list of float
            The inputs in ``tinybots.schema.FEATURE_COLUMNS`` order (for the default windows):
            amount, weekend, night, customer (count, mean amount) per window, terminal
            (count, risk) per window.
        """
        t = event_time_s
        day, second = divmod(t, S_PER_DAY)  # 1970-01-01 (day 0) was a Thursday
        out = [amount, 1.0 if (day + 3) % 7 >= 5 else 0.0, 1.0 if second < _NIGHT_END_S else 0.0]
        entry = self._customers.get(customer_id)
        if entry is None:
            entry = self._customers[customer_id] = (array("q"), array("d", (0.0,)))
        times, sums = entry
        if times and t < times[-1]:  # late event: insert in place
            _insert(times, sums, t, amount)
            j = bisect_right(times, t)
        else:
            times.append(t)
            sums.append(sums[-1] + amount)
            j = len(times)
        total = sums[j]
        for w in self._windows_s:
            i = bisect_right(times, t - w)
            out += (j - i + 0.0, (total - sums[i]) / (j - i))
        if times[0] <= t - self._keep_customer_s:
            _evict(times, sums, t - self._keep_customer_s)
        entry = self._terminals.get(terminal_id)
        if entry is None:
            out += self._no_terminal
            return out
        times, frauds = entry
        cut = t - self._delay_s
        hi = bisect_right(times, cut)
        top = frauds[hi]
        for w in self._windows_s:
            lo = bisect_right(times, cut - w)
            out += (hi - lo + 0.0, (top - frauds[lo]) / (hi - lo) if hi > lo else 0.0)
        if times and times[0] <= t - self._keep_terminal_s:
            _evict(times, frauds, t - self._keep_terminal_s)
        return out

    def add_label(self, terminal_id: int, event_time_s: int, fraud: int) -> None:
        """Record the label (0/1) of a past transaction at ``terminal_id``.

        It counts in the terminal windows of transactions at times t with
        t - d >= ``event_time_s``; before that it is held without effect, so a label may be
        delivered early (even right after its transaction) without leaking. Not idempotent:
        a label delivered twice counts twice, so an at-least-once consumer must deduplicate
        by event id first.
        """
        self.add_labels((terminal_id,), (event_time_s,), (fraud,))

    def add_labels(
        self, terminal_ids: Sequence[int], event_times_s: Sequence[int], frauds: Sequence[int]
    ) -> None:
        """:meth:`add_label` for each (terminal, event time, label), in order (one call for a
        batch of labels, as a label consumer polls them)."""
        terminals, keep = self._terminals, self._keep_terminal_s
        for terminal_id, t, fraud in zip(terminal_ids, event_times_s, frauds, strict=True):
            entry = terminals.get(terminal_id)
            if entry is None:
                entry = terminals[terminal_id] = (array("q"), array("q", (0,)))
            times, counts = entry
            if times and t < times[-1]:
                _insert(times, counts, t, fraud)
            else:  # labels mostly come in time order: append (as _insert does)
                times.append(t)
                counts.append(counts[-1] + fraud)
            if times[0] <= t - keep:
                _evict(times, counts, t - keep)

    def warm_start(self, transactions: pd.DataFrame, *, labels_until_s: int) -> None:
        """Bulk-load history, much faster than calling :meth:`update` per row.

        Parameters
        ----------
        transactions
            Raw table (TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD), any order;
            ties in time between rows of one customer keep the table's order.
        labels_until_s
            Processing time (seconds since the epoch) up to which labels are known: rows with
            event time <= ``labels_until_s - d`` are loaded as labelled terminal history; the
            labels of later rows must come through :meth:`add_label`.

        Raises
        ------
        InputError
            Bad table (missing or mistyped columns, empty).

        Notes
        -----
        Only rows within the retention horizon of the table's newest time are kept. Keys
        already in the store are merged entry by entry (slow path); new keys are bulk-built.
        """
        check_transactions(transactions, _STREAM_COLUMNS + ("TX_FRAUD",))
        t_s = np.floor_divide(event_time_ns(transactions), NS_PER_S)
        newest = int(t_s.max())
        amount = transactions["TX_AMOUNT"].to_numpy(dtype=np.float64)
        keep = t_s > newest - self._keep_customer_s
        ids = transactions["CUSTOMER_ID"].to_numpy()
        _bulk_load(self._customers, ids[keep], t_s[keep], amount[keep], 0.0)
        labelled = t_s <= int(labels_until_s) - self._delay_s
        keep = labelled & (t_s > newest - self._keep_terminal_s)
        ids = transactions["TERMINAL_ID"].to_numpy()
        fraud = transactions["TX_FRAUD"].to_numpy().astype(np.int64)
        _bulk_load(self._terminals, ids[keep], t_s[keep], fraud[keep], 0)

    def transform(self, transactions: pd.DataFrame, *, deliver_labels: bool = False) -> np.ndarray:
        """Call :meth:`update` on every row in table order; return the inputs, (n, n_features).

        With ``deliver_labels`` each row's TX_FRAUD is passed to :meth:`add_label` right after
        the row; the store holds it until the delay has passed, so no label leaks.

        Raises
        ------
        InputError
            Bad table (missing or mistyped columns, empty).
        """
        required = _STREAM_COLUMNS + (("TX_FRAUD",) if deliver_labels else ())
        check_transactions(transactions, required)
        times = np.floor_divide(event_time_ns(transactions), NS_PER_S).tolist()
        customers = transactions["CUSTOMER_ID"].tolist()
        terminals = transactions["TERMINAL_ID"].tolist()
        amounts = transactions["TX_AMOUNT"].astype(np.float64).tolist()
        frauds = transactions["TX_FRAUD"].astype(np.int64).tolist() if deliver_labels else None
        update, add_label = self.update, self.add_label
        rows = []
        for k, (c, m, t, a) in enumerate(zip(customers, terminals, times, amounts, strict=True)):
            rows.append(update(c, m, t, a))
            if frauds is not None:
                add_label(m, t, frauds[k])
        return np.array(rows, dtype=np.float64).reshape(len(rows), self.n_features)


_STREAM_COLUMNS: tuple[str, ...] = ("TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT")


def _bulk_load(
    table: dict[int, tuple[array, array]],
    ids: np.ndarray,
    t_s: np.ndarray,
    values: np.ndarray,
    zero: float,
) -> None:
    """Add (time, value) rows to per-key sorted lists with prefix sums; new keys in bulk."""
    if len(ids) == 0:
        return
    order = np.lexsort((t_s, ids))  # stable: ties keep table order
    ids, t_s, values = ids[order], t_s[order], values[order]
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    ends = np.append(starts[1:], len(ids))
    prefix = pd.Series(values).groupby(np.repeat(starts, ends - starts)).cumsum().tolist()
    times, vals, keys = t_s.tolist(), values.tolist(), ids[starts].tolist()
    code = "d" if isinstance(zero, float) else "q"
    for key, a, b in zip(keys, starts.tolist(), ends.tolist(), strict=True):
        entry = table.get(key)
        if entry is None:
            table[key] = (array("q", times[a:b]), array(code, [zero, *prefix[a:b]]))
            continue
        for k in range(a, b):
            _insert(entry[0], entry[1], times[k], vals[k])
