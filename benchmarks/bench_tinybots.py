"""Throughput of the tinybots brains (a script, not a test).

Measures, on this machine:

1. the handbook generator, full default run (transactions per second);
2. offline features (``compute_features``) on the full 1.75 M-row history (seconds);
3. online ``FeatureStore.update`` (updates per second, one transaction at a time);
4. ``predict_proba`` cost per transaction at batch sizes 1, 10, 100, 1000 for the four baseline
   models fitted on the handbook's training week, fed a DataFrame (the offline path; sklearn's
   feature-name validation costs milliseconds per call) and an ndarray (the serving path).

Data: the handbook's published files, found like tests/conftest.py does
(``$TINYBOTS_HANDBOOK_DATA``, as in tests/conftest.py); without them the generator's
output is used instead (the same table, bit for bit, when the generator is faithful).

Usage: ``python benchmarks/bench_tinybots.py [--quick] [--skip-generator]``.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tinybots.features import FeatureStore, compute_features
from tinybots.io import read_transactions
from tinybots.modeling import BASELINE_MODELS, fit_model, handbook_split, make_model
from tinybots.schema import FEATURE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
RAW_FULL = "raw/transactions_raw_2018-04-01_2018-09-30.csv.gz"
RAW_BASELINE = "raw/transactions_raw_2018-07-25_2018-08-14.csv.gz"
BATCH_SIZES = (1, 10, 100, 1000)


def handbook_dir() -> Path | None:
    """The shared data folder, by the same rule as tests/conftest.py."""
    env = os.environ.get("TINYBOTS_HANDBOOK_DATA")
    for path in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data" / "fraud_handbook"]:
        if (path / "raw").is_dir():
            return path
    return None


def bench_generator(rows: list[dict], quick: bool) -> pd.DataFrame | None:
    from tinybots.generator import HandbookConfig, generate_transactions

    config = HandbookConfig(nb_days=30) if quick else HandbookConfig()
    with Timer() as t:
        frame = generate_transactions(config)
    label = f"generator, {config.nb_days} days, n_jobs=auto ({os.cpu_count()} cpus)"
    rows.append(_row(label, len(frame), len(frame) / t.wall, "tx/s", t.wall, float("nan")))
    return frame


def load_history(rows: list[dict], skip_generator: bool, quick: bool) -> pd.DataFrame:
    generated = None if skip_generator else bench_generator(rows, quick)
    folder = handbook_dir()
    if folder is not None:
        return read_transactions(folder / (RAW_BASELINE if quick else RAW_FULL))
    if generated is None:
        raise SystemExit("no handbook data found and the generator was skipped: nothing to measure")
    print("note: handbook data not used; measuring on the generator's output")
    return generated


def bench_features(rows: list[dict], raw: pd.DataFrame) -> pd.DataFrame:
    with Timer() as t:
        transformed = compute_features(raw)
    rows.append(_row("offline compute_features", len(raw), len(raw) / t.wall, "tx/s", t.wall,
                     t.cpu))
    return transformed


def bench_online(rows: list[dict], raw: pd.DataFrame, n: int) -> None:
    part = raw.iloc[:n]
    seconds = part["TX_DATETIME"].to_numpy().astype("datetime64[s]").astype(np.int64)
    args = list(zip(part["CUSTOMER_ID"].tolist(), part["TERMINAL_ID"].tolist(),
                    seconds.tolist(), part["TX_AMOUNT"].tolist(), strict=True))
    store = FeatureStore()
    with Timer() as timer:
        for customer, terminal, t, amount in args:
            store.update(customer, terminal, t, amount)
    rows.append(_row("online FeatureStore.update (no labels)", n, n / timer.wall, "updates/s",
                     timer.wall, timer.cpu))


def bench_predict(rows: list[dict], transformed: pd.DataFrame, start: str) -> None:
    """predict_proba per transaction, with a DataFrame (offline path) and an ndarray (serving)."""
    split = handbook_split(transformed, start)
    features = list(FEATURE_COLUMNS)
    x_frame = split.test.loc[:, features]
    x_array = x_frame.to_numpy()
    y = split.train["TX_FRAUD"].to_numpy()
    for name in BASELINE_MODELS:
        on_frame = fit_model(name, split.train)
        on_array = make_model(name).fit(split.train.loc[:, features].to_numpy(), y)
        cases = [("frame", on_frame, x_frame), ("ndarray", on_array, x_array)]
        if name == "random_forest":  # serving alternative: no joblib thread pool per call
            single = copy.deepcopy(on_array).set_params(model__n_jobs=1)
            cases.append(("ndarray, n_jobs=1", single, x_array))
        for kind, model, x in cases:
            for size in BATCH_SIZES:
                batch = x.iloc[:size] if kind == "frame" else x[:size]
                wall, cpu = _time_per_call(lambda b=batch, m=model: m.predict_proba(b))
                rows.append(_row(f"predict_proba {name} ({kind})", size, 1e6 * wall / size,
                                 "us/tx", wall, cpu))


def _time_per_call(call: Callable[[], object], budget_s: float = 0.5) -> tuple[float, float]:
    """Mean (wall, process CPU) seconds per call."""
    call()  # warm-up
    n, started, cpu = 0, time.perf_counter(), time.process_time()
    while n < 3 or time.perf_counter() - started < budget_s:
        call()
        n += 1
    return (time.perf_counter() - started) / n, (time.process_time() - cpu) / n


class Timer:
    """Wall and process-CPU time of a block (CPU time is less hurt by a shared machine)."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def _row(what: str, size: int, value: float, unit: str, wall: float, cpu: float) -> dict:
    """One result; ``wall_s``/``cpu_s`` are per run (per call for predict_proba)."""
    return {"benchmark": what, "n": size, "value": value, "unit": unit, "wall_s": wall,
            "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="30-day generator run; the 21-day handbook file for the rest")
    parser.add_argument("--skip-generator", action="store_true", help="do not time the generator")
    parser.add_argument("--online-n", type=int, default=200_000, help="transactions for the store")
    args = parser.parse_args()
    rows: list[dict] = []
    raw = load_history(rows, args.skip_generator, args.quick)
    transformed = bench_features(rows, raw)
    bench_online(rows, raw, min(args.online_n, len(raw)))
    # --quick: a 21- or 30-day history, so train from its first day
    start = str(raw["TX_DATETIME"].min().date()) if args.quick else "2018-07-25"
    bench_predict(rows, transformed, start)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 120, "display.max_colwidth", 60):
        print(table.to_string(index=False, formatters={
            "n": "{:,}".format, "value": "{:,.1f}".format, "wall_s": "{:.5f}".format,
            "cpu_s": "{:.5f}".format}))
    print("value is wall-clock based; cpu_s is this process's CPU time (all its threads; "
          "generator workers are separate processes, so nan).")


if __name__ == "__main__":
    main()
