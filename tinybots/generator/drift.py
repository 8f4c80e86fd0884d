"""Drift in the handbook's bank: documented extensions of its simulator, off unless asked.

The handbook's simulator (Le Borgne et al., 2022, Chapter 3, "Transaction data simulator") is
stationary. :func:`apply_drifts` changes a generated table (the raw handbook layout,
:data:`tinybots.schema.RAW_COLUMNS`) from an onset, given as a day index of the table
(``TX_TIME_DAYS``; fractional days allowed), and never before it. Kinds (the fields of the
specs, duck-typed: any object or mapping with them):

- ``covariate`` (``amount_factor``, ``rate_factor``, ``customers_fraction``, ``ramp_days``):
  genuine transactions (``TX_FRAUD == 0``) of a share of customers (drawn) get amount ×
  a(t) and their number per day × r(t); both factors go linearly from 1 at the onset to their
  value after ``ramp_days`` (0: abrupt). r < 1 thins them; r > 1 adds Poisson(r − 1) per
  transaction: same customer and day, time of day drawn as in the handbook (normal around noon,
  sd 20,000 s, kept in (0, 86400) s), amount and terminal of random genuine transactions of the
  same customer (amount × a(t)); an added one at a compromised terminal in its window is a
  scenario-2 fraud, as the handbook's rule says. Amounts are rounded to cents, at least 0.01.
- ``card_testing`` (``cards_per_day``, ``tx_per_card``, ``amount_max``, ``burst_minutes``): a
  new fraud pattern, ``TX_FRAUD_SCENARIO`` = :data:`CARD_TESTING_SCENARIO` (4): each day
  from the onset, random cards each make a burst of small amounts (uniform on (0, amount_max],
  cents) within ``burst_minutes`` (start uniform in the day), each at a different random
  terminal of the whole terminal set; ``TX_FRAUD`` = 1. Fraudsters test stolen card numbers
  with small purchases before larger ones (Visa, "Card testing", 2021 merchant guidance).
- ``compromise_rate`` (``terminals_factor``, ``customers_factor``): the handbook's
  compromised terminals (scenario 2) and cards (scenario 3) per day × the factors, from the
  first whole day at or after the onset (:mod:`tinybots.generator.drift_compromise`).
- ``weekly_profile`` (``weekday_factors``, Monday first): each transaction from the onset is
  kept with probability f (f < 1) or gains Poisson(f − 1) copies (f > 1) at new times of the
  same day, genuine and fraud alike (a copy keeps its customer, terminal, amount and label).

``compromise_rate`` drifts act first (on the handbook's own rows), the others in their order.
The result is sorted by ``TX_DATETIME`` (the kept rows keep their order), TRANSACTION_ID
renumbered 0 .. n−1, dtypes unchanged. Without drifts the input is returned unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tinybots.errors import InputError
from tinybots.generator.customer_draws import DAY_S, TIME_MEAN_S, TIME_SD_S
from tinybots.generator.drift_compromise import CompromiseState, relabel
from tinybots.schema import RAW_COLUMNS

__all__ = ["CARD_TESTING_SCENARIO", "DRIFT_KINDS", "apply_drifts"]

CARD_TESTING_SCENARIO = 4
"""``TX_FRAUD_SCENARIO`` of the card-testing frauds (the handbook's are 1, 2 and 3)."""
DRIFT_KINDS: tuple[str, ...] = ("covariate", "card_testing", "compromise_rate", "weekly_profile")
_COLS = ("cust", "term", "amount", "secs", "fraud", "scen")


def _get(spec: Any, name: str, default: Any = None) -> Any:
    if isinstance(spec, Mapping):
        return spec.get(name, default)
    return getattr(spec, name, default)


def _check(field: str, value: float, ok: bool, allowed: str) -> None:
    if not ok:
        raise InputError(f"{field}: must be {allowed}, got {value!r}")


def apply_drifts(
    raw: pd.DataFrame,
    drifts: Sequence[Any],
    onsets_day: Sequence[float],
    rng: np.random.Generator,
    *,
    n_customers: int | None = None,
    n_terminals: int | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The drifted table and one ground-truth record per drift.

    Parameters
    ----------
    raw : pandas.DataFrame
        A handbook table (:data:`tinybots.schema.RAW_COLUMNS`), rows in TRANSACTION_ID order,
        undrifted (``compromise_rate`` rebuilds the handbook's compromises from it).
    drifts : sequence
        Drift specs (``kind`` and the kind's fields, see the module docstring).
    onsets_day : sequence of float
        Onset of each drift as a day index of the table (days after its first midnight).
    rng : numpy.random.Generator
        Every draw of the drifts.
    n_customers, n_terminals : int, optional
        Population sizes (the bank's); the largest id + 1 when None.

    Returns
    -------
    (table, truth)
        ``truth[i]``: ``kind``, ``onset_day`` (as given), ``onset_event_s`` (naive Unix s),
        ``ramp_days`` and ``detail`` (one line).

    Raises
    ------
    tinybots.errors.InputError
        An unknown kind, an onset outside the table's days, a field out of range or a number
        of onsets other than the number of drifts (one line naming the field).
    """
    if len(drifts) != len(onsets_day):
        raise InputError(f"onsets_day: needs one onset per drift ({len(drifts)}), "
                         f"got {len(onsets_day)}")
    if not drifts:
        return raw, []
    days = raw["TX_TIME_DAYS"].to_numpy(np.int64)
    n_days = int(days.max()) + 1
    for i, (d, onset) in enumerate(zip(drifts, onsets_day, strict=True)):
        kind = _get(d, "kind", "covariate")
        _check(f"drift[{i}].kind", kind, kind in DRIFT_KINDS, f"one of {', '.join(DRIFT_KINDS)}")
        _check(f"drift[{i}].onset_day", onset, 0.0 <= onset < n_days,
               f"a day index of the table in [0, {n_days})")
        _check_fields(i, kind, d)
    start = np.datetime64(raw["TX_DATETIME"].iloc[0], "ns") - np.timedelta64(
        int(raw["TX_TIME_SECONDS"].iloc[0]), "s")
    n_c = int(raw["CUSTOMER_ID"].max()) + 1 if n_customers is None else n_customers
    n_t = int(raw["TERMINAL_ID"].max()) + 1 if n_terminals is None else n_terminals
    cols = {k: raw[c].to_numpy().copy() for k, c in zip(_COLS, (
        "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_TIME_SECONDS", "TX_FRAUD",
        "TX_FRAUD_SCENARIO"), strict=True)}
    state = None
    truth: list[dict[str, Any] | None] = [None] * len(drifts)
    order = [i for i, d in enumerate(drifts) if _get(d, "kind") == "compromise_rate"]
    order += [i for i in range(len(drifts)) if i not in order]
    for i in order:
        d, onset = drifts[i], float(onsets_day[i])
        kind = _get(d, "kind", "covariate")
        if kind == "compromise_rate":
            if state is None:
                state = CompromiseState.from_table(cols["cust"], cols["term"], days, n_c, n_t)
            detail = _compromise(cols, d, onset, state, rng)
        elif kind == "covariate":
            cols, detail = _covariate(cols, d, onset, n_c, n_t, state, rng)
        elif kind == "card_testing":
            cols, detail = _card_testing(cols, d, onset, n_days, n_c, n_t, rng)
        else:
            cols, detail = _weekly(cols, d, onset, start, rng)
        ramp = float(_get(d, "ramp_days", 0.0) or 0.0) if kind == "covariate" else 0.0
        truth[i] = {"kind": kind, "onset_day": onset,
                    "onset_event_s": float(start.astype("M8[ns]").astype(np.int64)) / 1e9
                    + onset * DAY_S, "ramp_days": ramp, "detail": detail}
    return _frame(cols, start), [t for t in truth if t is not None]


def _check_fields(i: int, kind: str, d: Any) -> None:
    """One-line errors for the fields of drift ``i`` (pydantic checks them in a Scenario)."""
    f = f"drift[{i}]."
    if kind == "covariate":
        for name, hi in (("amount_factor", 100.0), ("rate_factor", 10.0)):
            v = float(_get(d, name, 1.0))
            _check(f + name, v, 0.0 < v <= hi, f"in (0, {hi:g}]")
        v = float(_get(d, "customers_fraction", 1.0))
        _check(f + "customers_fraction", v, 0.0 < v <= 1.0, "in (0, 1]")
        v = float(_get(d, "ramp_days", 0.0))
        _check(f + "ramp_days", v, v >= 0.0, ">= 0")
    elif kind == "card_testing":
        for name in ("cards_per_day", "tx_per_card"):
            v = _get(d, name, 1)
            _check(f + name, v, int(v) == v and v >= 1, "an integer >= 1")
        v = float(_get(d, "amount_max", 5.0))
        _check(f + "amount_max", v, v >= 0.01, ">= 0.01")
        v = float(_get(d, "burst_minutes", 30.0))
        _check(f + "burst_minutes", v, 0.0 < v <= 1440.0, "in (0, 1440]")
    elif kind == "compromise_rate":
        for name in ("terminals_factor", "customers_factor"):
            v = float(_get(d, name, 1.0))
            _check(f + name, v, 0.0 <= v <= 100.0, "in [0, 100]")
    else:
        w = tuple(_get(d, "weekday_factors", ()))
        _check(f + "weekday_factors", w, len(w) == 7 and all(0.0 < x <= 10.0 for x in w),
               "7 factors in (0, 10], Monday first")


def _frame(cols: dict[str, np.ndarray], start: np.datetime64) -> pd.DataFrame:
    """The raw handbook frame of ``cols``, sorted by time (stable), ids renumbered."""
    order = np.argsort(cols["secs"], kind="stable")
    secs = cols["secs"][order].astype(np.int64)
    data = {
        "TRANSACTION_ID": np.arange(len(secs), dtype=np.int64),
        "TX_DATETIME": start + secs.astype("m8[s]").astype("m8[ns]"),
        "CUSTOMER_ID": cols["cust"][order].astype(np.int64),
        "TERMINAL_ID": cols["term"][order].astype(np.int64),
        "TX_AMOUNT": cols["amount"][order].astype(np.float64),
        "TX_TIME_SECONDS": secs,
        "TX_TIME_DAYS": secs // int(DAY_S),
        "TX_FRAUD": cols["fraud"][order].astype(np.int64),
        "TX_FRAUD_SCENARIO": cols["scen"][order].astype(np.int64),
    }
    return pd.DataFrame({name: data[name] for name in RAW_COLUMNS})


def _join(cols: dict[str, np.ndarray], keep: np.ndarray | None,
          extra: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """The kept rows of ``cols`` followed by the ``extra`` rows."""
    out = {k: v[keep] if keep is not None else v for k, v in cols.items()}
    if extra is not None:
        out = {k: np.concatenate([out[k], extra[k].astype(out[k].dtype)]) for k in out}
    return out


def times_in_day(days: np.ndarray, not_before_s: float, rng: np.random.Generator) -> np.ndarray:
    """Seconds since day 0 on ``days``, time of day as the handbook draws it, >= ``not_before_s``.

    int(normal(43200, 20000)), redrawn until in (0, 86400) and not before ``not_before_s``
    (Le Borgne et al., 2022, Chapter 3: the handbook drops draws outside the day).
    """
    days = np.asarray(days, np.int64)
    out = np.empty(len(days), np.int64)
    todo = np.arange(len(days))
    while todo.size:
        tod = rng.normal(TIME_MEAN_S, TIME_SD_S, size=todo.size).astype(np.int64)
        s = days[todo] * int(DAY_S) + tod
        ok = (tod > 0) & (tod < DAY_S) & (s >= math.ceil(not_before_s))
        out[todo[ok]] = s[ok]
        todo = todo[~ok]
    return out


def _ramp(secs: np.ndarray, onset_s: float, ramp_days: float, full: float) -> np.ndarray:
    """1 → ``full`` linearly over ``ramp_days`` from ``onset_s`` (abrupt when 0)."""
    if ramp_days <= 0:
        return np.full(len(secs), full)
    w = np.clip((secs - onset_s) / (ramp_days * DAY_S), 0.0, 1.0)
    return 1.0 + (full - 1.0) * w


def _covariate(cols: dict[str, np.ndarray], d: Any, onset: float, n_c: int, n_t: int,
               state: CompromiseState | None,
               rng: np.random.Generator) -> tuple[dict[str, np.ndarray], str]:
    a, r = float(_get(d, "amount_factor", 1.0)), float(_get(d, "rate_factor", 1.0))
    frac, ramp = float(_get(d, "customers_fraction", 1.0)), float(_get(d, "ramp_days", 0.0))
    n_pick = max(1, round(frac * n_c))
    chosen = rng.choice(n_c, size=n_pick, replace=False)
    onset_s = onset * DAY_S
    genuine = cols["fraud"] == 0
    mine = np.isin(cols["cust"], chosen) & genuine
    aff = np.flatnonzero(mine & (cols["secs"] >= onset_s))
    secs = cols["secs"][aff].astype(np.float64)
    extra = None
    if r > 1.0:
        src = np.repeat(aff, rng.poisson(_ramp(secs, onset_s, ramp, r) - 1.0))
        extra = _customer_rows(cols, np.flatnonzero(mine), src, onset_s, rng)
        extra["amount"] = _cents(extra["amount"] * _ramp(extra["secs"], onset_s, ramp, a))
        if state is None:
            days = cols["secs"] // int(DAY_S)
            state = CompromiseState.from_table(cols["cust"], cols["term"], days, n_c, n_t)
        s2 = state.s2_covered(extra["term"], extra["secs"] // int(DAY_S))
        extra["fraud"], extra["scen"] = s2.astype(np.int64), np.where(s2, 2, 0)
    cols = {k: v.copy() for k, v in cols.items()}
    cols["amount"][aff] = _cents(cols["amount"][aff] * _ramp(secs, onset_s, ramp, a))
    keep = None
    if r < 1.0:
        keep = np.ones(len(cols["secs"]), bool)
        keep[aff] = rng.uniform(size=len(aff)) < _ramp(secs, onset_s, ramp, r)
    cols = _join(cols, keep, extra)
    added = 0 if extra is None else len(extra["secs"])
    return cols, (f"genuine transactions of {n_pick} of {n_c} customers: amount x{a:g}, "
                  f"rate x{r:g} (ramp {ramp:g} d; {added} added)")


def _cents(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.round(x, 2), 0.01)


def _customer_rows(cols: dict[str, np.ndarray], pool: np.ndarray, src: np.ndarray,
                   onset_s: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """New rows for the source rows ``src``: same customer and day, a handbook time, the
    amount and terminal of two random ``pool`` rows (before the drift) of the same customer."""
    by = pool[np.argsort(cols["cust"][pool], kind="stable")]
    c_sorted = cols["cust"][by]
    cust = cols["cust"][src]
    lo, hi = np.searchsorted(c_sorted, cust), np.searchsorted(c_sorted, cust, side="right")
    pick = lambda: by[lo + (rng.uniform(size=len(src)) * (hi - lo)).astype(np.int64)]  # noqa: E731
    amount_rows, term_rows = pick(), pick()
    secs = times_in_day(cols["secs"][src] // int(DAY_S), onset_s, rng)
    return {"cust": cust, "term": cols["term"][term_rows], "amount": cols["amount"][amount_rows],
            "secs": secs, "fraud": np.zeros(len(src), np.int64),
            "scen": np.zeros(len(src), np.int64)}


def _card_testing(cols: dict[str, np.ndarray], d: Any, onset: float, n_days: int, n_c: int,
                  n_t: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], str]:
    cards, per = int(_get(d, "cards_per_day", 20)), int(_get(d, "tx_per_card", 10))
    per = min(per, n_t)
    amax, burst_s = float(_get(d, "amount_max", 5.0)), float(_get(d, "burst_minutes", 30.0)) * 60
    onset_s = onset * DAY_S
    parts: list[dict[str, np.ndarray]] = []
    for day in range(int(math.floor(onset)), n_days):
        lo = max(day * DAY_S, onset_s)
        hi = max(lo, (day + 1) * DAY_S - burst_s)
        cust = rng.choice(n_c, size=min(cards, n_c), replace=False)
        t0 = rng.uniform(lo, hi, size=len(cust))
        secs = np.ceil(t0[:, None] + rng.uniform(0.0, burst_s, size=(len(cust), per))).ravel()
        secs = np.minimum(secs, (day + 1) * DAY_S - 1).astype(np.int64)
        term = np.concatenate([rng.choice(n_t, size=per, replace=False) for _ in cust])
        amount = _cents(amax - rng.uniform(0.0, amax, size=len(term)))
        n = len(term)
        parts.append({"cust": np.repeat(cust, per), "term": term, "amount": amount,
                      "secs": secs, "fraud": np.ones(n, np.int64),
                      "scen": np.full(n, CARD_TESTING_SCENARIO, np.int64)})
    extra = {k: np.concatenate([p[k] for p in parts]) for k in _COLS} if parts else None
    added = 0 if extra is None else len(extra["secs"])
    return _join(cols, None, extra), (
        f"{cards} cards a day x {per} transactions of (0, {amax:g}] within "
        f"{burst_s / 60:g} min at distinct terminals (TX_FRAUD_SCENARIO 4; {added} added)")


def _compromise(cols: dict[str, np.ndarray], d: Any, onset: float, state: CompromiseState,
                rng: np.random.Generator) -> str:
    ft, fc = float(_get(d, "terminals_factor", 1.0)), float(_get(d, "customers_factor", 1.0))
    days = cols["secs"] // int(DAY_S)
    hb_counts, hb_s2 = state.s3_counts(len(days)), state.s2_covered(cols["term"], days)
    first = int(math.ceil(onset))
    state.change(first, ft, fc, cols["cust"], days, rng)
    n = relabel(state, hb_counts, hb_s2, cols["term"], days, cols["amount"], cols["fraud"],
                cols["scen"])
    c = state.counts
    return (f"from day {first}: terminals x{ft:g} (+{c['terminals_added']} / "
            f"-{c['terminals_reverted']}), customers x{fc:g} (+{c['customers_added']} / "
            f"-{c['customers_reverted']}); {n} rows relabelled")


def _weekly(cols: dict[str, np.ndarray], d: Any, onset: float, start: np.datetime64,
            rng: np.random.Generator) -> tuple[dict[str, np.ndarray], str]:
    w = np.asarray(tuple(_get(d, "weekday_factors")), dtype=np.float64)
    onset_s = onset * DAY_S
    days = cols["secs"] // int(DAY_S)
    first_dow = (start.astype("M8[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    f = w[(first_dow + days) % 7]
    aff = cols["secs"] >= onset_s
    keep = ~aff | (f >= 1.0) | (rng.uniform(size=len(f)) < f)
    up = np.flatnonzero(aff & (f > 1.0))
    src = np.repeat(up, rng.poisson(f[up] - 1.0))
    extra = {k: v[src] for k, v in cols.items()}
    extra["secs"] = times_in_day(days[src], onset_s, rng)
    out = _join(cols, keep, extra)
    return out, (f"transactions per day x weekday factor (Mon..Sun) "
                 f"{', '.join(f'{x:g}' for x in w)}; {int((~keep).sum())} thinned, "
                 f"{len(src)} added")
